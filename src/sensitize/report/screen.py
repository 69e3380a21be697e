"""Report sections for a scored combination screen (:class:`~sensitize.screen.engine.ScreenResult`)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from sensitize.report._common import (
    DEFAULT_TOP,
    add_figure,
    existing,
    fmt,
    fmt_p,
    int_setting,
    optional_module,
    table,
)
from sensitize.report.model import Section
from sensitize.screen.engine import MODELS, ScreenResult

#: SynergyFinder's rule of thumb for synergy scores on the % scale (Ianevski et al. 2022)
SYNERGY_THRESHOLD = 10.0


def score_column(res: ScreenResult, rank_by: str | None = None) -> str:
    """The block score used for ranking: ``rank_by``, else ZIP, else the first model scored."""
    cols = res.table.columns
    if rank_by is not None:
        if rank_by not in cols:
            raise ValueError(f"rank_by={rank_by!r} is not a column of the block table")
        return rank_by
    for m in MODELS:
        if f"{m}_synergy" in cols:
            return f"{m}_synergy"
    for c in ("css", "S_mean"):
        if c in cols:
            return c
    raise ValueError("the screen result has no synergy or sensitivity score to rank by")


def ranked_blocks(res: ScreenResult, by: str) -> pd.DataFrame:
    """Blocks sorted by ``by`` (highest first) with a ``rank`` column."""
    r = res.ranked(by)
    r.insert(0, "rank", np.arange(1, len(r) + 1))
    return r


def _block_label(row: pd.Series) -> str:
    drugs = [str(row[c]) for c in ("drug1", "drug2", "drug3", "drug4") if c in row.index and pd.notna(row[c])
             and str(row[c])]
    where = f" in {row['cell_line']}" if "cell_line" in row.index and pd.notna(row["cell_line"]) else ""
    return f"{row['block_id']} ({' + '.join(drugs)}{where}; {row['readout']})" if "readout" in row.index \
        else f"{row['block_id']} ({' + '.join(drugs)}{where})"


def summary_items(res: ScreenResult, by: str) -> list[str]:
    """Key numbers of the screen for the report summary."""
    t = res.table
    out = []
    readouts = sorted(t["readout"].astype(str).unique()) if "readout" in t.columns and len(t) else []
    nflag = int(t["flag"].sum()) if "flag" in t.columns else 0
    out.append(f"{len(t)} block(s) scored{' (readouts: ' + ', '.join(readouts) + ')' if readouts else ''}; "
               f"{len(res.rejected)} rejected; {nflag} flagged.")
    if len(t) and t[by].notna().any():
        top = ranked_blocks(res, by).iloc[0]
        p = top.get(f"{by}_p_value", np.nan)
        out.append(f"Top block by {by}: {_block_label(top)} with {by} = {fmt(top[by])}"
                   + (f" ({fmt_p(p)})" if f"{by}_p_value" in t.columns else "") + ".")
    if by.endswith("_synergy") and len(t):
        kinds = set(t["response_kind"].astype(str)) if "response_kind" in t.columns else set()
        if not kinds - {"viability", "inhibition"}:
            s = t[by]
            out.append(f"{int((s > SYNERGY_THRESHOLD).sum())} block(s) with {by} > {SYNERGY_THRESHOLD:g} "
                       f"(likely synergistic) and {int((s < -SYNERGY_THRESHOLD).sum())} below "
                       f"-{SYNERGY_THRESHOLD:g} (likely antagonistic), SynergyFinder's rule of thumb "
                       "for % inhibition scores.")
    return out


def qc_section(res: ScreenResult, context: Mapping[str, Any]) -> Section:
    """Rejected blocks, flagged blocks, failed monotherapy fits, preparation notes, plate QC."""
    sec = Section("Quality control")
    t, cur = res.table, res.curves
    n_fit = len(cur)
    failed = cur[~cur["converged"].astype(bool)] if "converged" in cur.columns else cur.iloc[:0]
    flat = int(cur["flat"].astype(bool).sum()) if "flat" in cur.columns else 0
    sec.text = (f"{len(res.rejected)} block(s) could not be scored and are listed with the reason. "
                f"{int(t['flag'].sum()) if 'flag' in t.columns else 0} scored block(s) carry a flag. "
                f"{len(failed)} of {n_fit} monotherapy dose-response fit(s) (LL.4) did not converge; "
                f"{flat} fit(s) are flat (no dose response).")
    for n in res.params.get("notes", []) or []:
        sec.items.append(str(n))
    sec.tables.append(table(res.rejected, "Rejected blocks", top=50))
    flagged = t[t["flag"].astype(bool)] if "flag" in t.columns else t.iloc[:0]
    sec.tables.append(table(flagged, "Flagged blocks",
                            existing(flagged, ["block_id", "readout", "drug1", "drug2", "cell_line", "reason"]),
                            top=50))
    sec.tables.append(table(failed, "Monotherapy fits that did not converge",
                            existing(failed, ["block_id", "readout", "drug_index", "drug", "r2", "rss", "n", "flat"]),
                            top=50))
    qc = context.get("qc")
    if qc is None and context.get("norm") is not None:
        qc = context["norm"].qc
    if qc is not None:
        from sensitize.report.plates import plate_qc_tables

        for tb in plate_qc_tables(qc):
            sec.tables.append(tb)
    return sec


def ranking_section(res: ScreenResult, by: str, top: int) -> Section:
    """Blocks ranked by the score, with the other models and the sensitivity scores."""
    r = ranked_blocks(res, by)
    model = by.split("_")[0]
    cols = ["rank", "block_id", "readout", "drug1", "drug2", "drug3", "cell_line", by, f"{by}_p_value",
            f"{by}_ci_low", f"{by}_ci_high"]
    cols += [f"{m}_synergy" for m in MODELS] + [f"{m}_synergy_p_value" for m in MODELS if m != model]
    cols += ["css", "S_mean", "ri_1", "ri_2", "ic50_1", "ic50_2", "reason"]
    sec = Section(f"Blocks ranked by {by}")
    sec.text = (f"All {len(r)} scored block(s), most synergistic first. Synergy scores are the mean excess "
                "over the reference model across the combination cells (% inhibition units); p-values are "
                "one-sample t-tests of those excesses against 0, with bootstrap 95% intervals where the "
                "block has replicates. CSS, RI and S follow DrugComb.")
    sec.tables.append(table(r, f"Ranking by {by}", existing(r, cols), top=top))
    return sec


def figure_section(res: ScreenResult, by: str, n_plots: int, interactive: bool) -> Section:
    """Ranking plot, then landscape and dose-response curves of the top blocks."""
    sec = Section("Figures")
    pls = optional_module("sensitize.pl.screen")
    if pls is None:
        sec.text = ("Screen plots need sensitize.pl.screen, which is not available in this installation: "
                    "the report shows tables only.")
        return sec
    model = by.split("_")[0] if by.endswith("_synergy") else "ZIP"
    if f"{model}_synergy" not in res.table.columns:
        model = next((m for m in MODELS if f"{m}_synergy" in res.table.columns), "ZIP")
    if hasattr(pls, "synergy_ranking"):
        add_figure(sec, f"Blocks ranked by {model} synergy (top 20).",
                   lambda: pls.synergy_ranking(res, model=model, top=20))
    if res.cells.empty:
        sec.items.append("The per-cell table is not held in memory (streamed run): landscapes and dose-response "
                         "curves are not drawn; the cells are in cells.csv / cells.parquet.")
        return sec
    r = ranked_blocks(res, by).head(n_plots)
    for _, row in r.iterrows():
        bid, ro = row["block_id"], row.get("readout")
        label = _block_label(row)
        two = int(row.get("n_drugs", 2)) == 2
        if two and hasattr(pls, "landscape"):
            add_figure(
                sec, f"{model} synergy landscape of {label} (rank {int(row['rank'])}).",
                partial(pls.landscape, res, bid, ro, model=model, kind="heatmap"),
                partial(pls.landscape, res, bid, ro, model=model, kind="surface", backend="plotly")
                if interactive else None,
            )
        elif not two:
            sec.items.append(f"{label}: landscapes are drawn for two-drug blocks only.")
        if hasattr(pls, "dose_response"):
            add_figure(sec, f"Monotherapy dose-response curves (LL.4 fits) of {label}.",
                       partial(pls.dose_response, res, bid, ro))
    return sec


def screen_sections(res: ScreenResult, context: Mapping[str, Any]) -> tuple[list[str], list[Section]]:
    """Summary and sections of a screen report."""
    by = score_column(res, context.get("rank_by"))
    top = int_setting(context, "top", DEFAULT_TOP)
    n_plots = int_setting(context, "n_plots", 3)
    sections = [qc_section(res, context), ranking_section(res, by, top)]
    if n_plots > 0 and len(res.table):
        sections.append(figure_section(res, by, n_plots, bool(context.get("interactive", False))))
    return summary_items(res, by), sections

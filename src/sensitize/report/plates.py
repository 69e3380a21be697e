"""Report sections for plate screens: plate QC (Z', SSMD) and the immune-activation ranking.

The analysis is a :class:`~sensitize.screen.immune.RankingResult` (``sensitize plates rank``)
or, for a QC-only report, :class:`~sensitize.screen.plates.NormalisedPlates`
(``sensitize plates process``).  The context may carry ``qc``, ``norm``, ``screen_table``,
``anchored`` and ``scores`` from the same pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from functools import partial
from typing import Any

import numpy as np

from sensitize.report._common import (
    DEFAULT_TOP,
    add_figure,
    existing,
    fmt,
    fmt_p,
    int_setting,
    optional_module,
    table,
    value_counts_table,
)
from sensitize.report.model import ReportTable, Section
from sensitize.screen.immune import RankingResult
from sensitize.screen.plates import NormalisedPlates, ScreenTable
from sensitize.screen.qc import QCResult

QC_COLUMNS = ["plate", "readout", "qc_pass", "z_prime", "z_prime_robust", "ssmd", "ssmd_robust",
              "signal_window", "cv_vehicle", "cv_positive", "n_vehicle", "n_positive", "qc_reason"]


def plate_qc_tables(qc: QCResult) -> list[ReportTable]:
    """Z'/SSMD per plate x readout, failures first."""
    t = qc.table
    if t.empty:
        return [table(t, "Plate QC (Z'-factor, SSMD)")]
    t = t.sort_values(["qc_pass", "plate", "readout"], kind="stable")
    n_fail = int((~t["qc_pass"].astype(bool)).sum())
    return [table(t, "Plate QC (Z'-factor, SSMD)", existing(t, QC_COLUMNS), top=None,
                  note=f"{n_fail} of {len(t)} plate x readout(s) fail QC. Z' = 1 - 3 (sd_p + sd_n) / "
                       "|mean_p - mean_n| (Zhang et al. 1999); SSMD = (mean_p - mean_n) / sqrt(sd_p^2 + "
                       "sd_n^2) (Zhang 2007); robust versions use medians and scaled MADs.")]


def qc_section(qc: QCResult | None, screen_table: ScreenTable | None) -> Section:
    """Plate QC table and plots, and the wells excluded from the screen table."""
    sec = Section("Plate quality control")
    if qc is None:
        sec.text = "No plate QC was passed to the report."
    else:
        t = qc.table
        n_fail = int((~t["qc_pass"].astype(bool)).sum()) if len(t) else 0
        sec.text = (f"{len(t)} plate x readout(s) checked; {n_fail} fail QC"
                    + (": " + "; ".join(f"{r.plate} {r.readout} ({r.qc_reason})"
                                        for r in qc.failed.head(10).itertuples()) if n_fail else "") + ".")
        sec.tables.extend(plate_qc_tables(qc))
        from sensitize.pl.plates import plot_qc

        if len(t):
            add_figure(sec, "Z'-factor per plate and readout (failing plates as crosses; dashed: threshold).",
                       lambda: plot_qc(qc, "z_prime"))
            add_figure(sec, "SSMD per plate and readout.", lambda: plot_qc(qc, "ssmd"))
    if screen_table is not None:
        ex = screen_table.excluded
        if len(ex) and "reason" in ex.columns:
            sec.tables.append(table(value_counts_table(ex["reason"], "reason"),
                                    f"Wells left out of the screen table ({len(ex)} well x readout(s)), by reason",
                                    top=None))
        else:
            sec.items.append("No well was left out of the screen table.")
    return sec


def _ranking_sections(rk: RankingResult, context: Mapping[str, Any]) -> tuple[list[str], list[Section]]:
    t = rk.table
    p = rk.params
    top = int_setting(context, "top", DEFAULT_TOP)
    lines = sorted(t["cell_line"].astype(str).unique()) if len(t) else []
    summary = [f"{len(t)} combination(s) ranked in {len(lines)} cell line(s) ({', '.join(lines)}); "
               f"{int(t['hit'].sum())} hit(s) at BH q < {p.get('alpha')} with induction synergy >= "
               f"{p.get('min_effect')} and viability window >= {p.get('min_viability')}."]
    for cl in lines:
        sub = t[t["cell_line"].astype(str) == cl]
        best = sub.iloc[0]
        summary.append(f"{cl}: best {best['drug1']} + {best['drug2']} (induction synergy "
                       f"{fmt(best['induction_synergy'])}, {fmt_p(best['p_value'])}, q = {fmt(best['q_value'])}, "
                       f"viability window {fmt(best['viability_window'])}); {int(sub['hit'].sum())} hit(s).")
    cols = ["rank", "cell_line", "drug1", "drug2", "hit", "pareto", "induction_synergy", "induction_se",
            "p_value", "q_value", "induction_hsa", "induction_max", "viability_synergy", "viability_window",
            "cytotoxicity", "best_conc1", "best_conc2", "n_cells", "n_replicates", "n_lines_hit", "n_lines"]
    cols += [c for c in t.columns if c.startswith(("induction_", "viability_")) and c.endswith("_synergy")]
    rank = Section("Ranked combinations")
    rank.text = (f"Per cell line, combinations ranked by hit, then one-sided p-value, then induction synergy. "
                 f"{p.get('test', '')}. Induction readout {p.get('induction_readout')}, viability readout "
                 f"{p.get('viability_readout')}.")
    for cl in lines:
        sub = t[t["cell_line"].astype(str) == cl]
        rank.tables.append(table(sub, f"{cl}", existing(sub, cols), top=top))
    hits = Section("Hits and consistency across cell lines")
    hits.tables.append(table(rk.hits, "Hits", existing(rk.hits, cols), top=None))
    if len(rk.line_correlation):
        hits.tables.append(table(rk.line_correlation, "Spearman correlation of induction synergy between cell lines",
                                 top=None))
    figs = Section("Figures")
    pls = optional_module("sensitize.pl.screen")
    if pls is not None and hasattr(pls, "pareto"):
        interactive = bool(context.get("interactive", False))
        add_figure(figs, "Induction synergy against cytotoxicity; Pareto front in vermillion, hits ringed.",
                   lambda: pls.pareto(rk), (lambda: pls.pareto(rk, backend="plotly")) if interactive else None)
    else:
        figs.items.append("Pareto plots need sensitize.pl.screen, which is not available in this installation.")
    norm = context.get("norm")
    if isinstance(norm, NormalisedPlates):
        from sensitize.pl.plates import plot_viability_vs_induction

        ind, via = p.get("induction_readout", "CXCL10"), p.get("viability_readout", "viability")
        add_figure(figs, f"Per-well viability (% of vehicle) against {ind} log2 fold change.",
                   lambda: plot_viability_vs_induction(norm, chemokine=ind, viability=via))
    sections = [rank, hits, figs]
    anch = context.get("anchored")
    if anch is not None and len(getattr(anch, "table", [])):
        a = anch.table
        sort = "delta_emax" if "delta_emax" in a.columns else a.columns[0]
        a = a.sort_values(sort, ascending=False, na_position="last")
        an = Section("Anchored design: shift of the library curve by the anchor")
        an.text = ("Per combination, anchor concentration and readout: the library drug's curve alone and with "
                   "the anchor, against the Bliss expectation (delta_emax > 0: more effect than expected).")
        an.tables.append(table(a, f"Anchored scores by {sort}", top=top))
        sections.append(an)
    return summary, sections


def plates_sections(analysis: Any, context: Mapping[str, Any]) -> tuple[list[str], list[Section]]:
    """Summary and sections of a plates report (ranking, or QC only for normalised plates)."""
    norm = context.get("norm")
    if isinstance(analysis, NormalisedPlates):
        norm = analysis
    qc = context.get("qc")
    if qc is None and isinstance(norm, NormalisedPlates):
        qc = norm.qc
    st = context.get("screen_table")
    st = st if isinstance(st, ScreenTable) else None
    sections = [qc_section(qc, st)]
    summary: list[str] = []
    if qc is not None and len(qc.table):
        n_fail = int((~qc.table["qc_pass"].astype(bool)).sum())
        summary.append(f"Plate QC: {n_fail} of {len(qc.table)} plate x readout(s) fail "
                       f"(median Z' {fmt(np.nanmedian(qc.table['z_prime'].to_numpy(dtype=float)))}).")
    if isinstance(analysis, RankingResult):
        s2, sec2 = _ranking_sections(analysis, context)
        summary.extend(s2)
        sections.extend(sec2)
    elif isinstance(norm, NormalisedPlates):
        sec = Section("Normalised wells")
        tb = norm.table
        sec.text = (f"{len(tb)} well x readout(s) on {tb['plate'].nunique()} plate(s); readouts "
                    f"{', '.join(norm.readouts)}.")
        if st is not None:
            sec.text += (f" Screen table: {len(st.table)} row(s) in "
                         f"{st.table['block_id'].nunique() if len(st.table) else 0} block(s).")
        if "role" in tb.columns:
            sec.tables.append(table(value_counts_table(tb["role"], "role"), "Wells by role", top=None))
        if "flag" in tb.columns:
            fl = tb[tb["flag"].astype(str).str.len() > 0] if tb["flag"].dtype == object else tb.iloc[:0]
            if len(fl):
                sec.tables.append(table(value_counts_table(fl["flag"], "flag"), "Flagged wells by flag", top=None))
        from sensitize.pl.plates import plot_plate

        plates = list(dict.fromkeys(tb["plate"].astype(str)))[: int_setting(context, "n_plots", 3)]
        ro = norm.readouts[0] if norm.readouts else None
        for pl_ in plates:
            if ro is not None:
                add_figure(sec, f"Plate {pl_}, {ro}: raw signal (controls outlined, flagged wells crossed).",
                           partial(plot_plate, norm, pl_, ro, "raw"))
        sections.append(sec)
    return summary, sections


def plates_params(analysis: Any, context: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters of the plate pipeline: ranking, anchored scores, screen table, normalisation."""
    out: dict[str, Any] = {}
    if isinstance(analysis, RankingResult):
        out["ranking"] = analysis.params
    norm = analysis if isinstance(analysis, NormalisedPlates) else context.get("norm")
    if isinstance(norm, NormalisedPlates):
        out["normalisation"] = norm.params
    st = context.get("screen_table")
    if isinstance(st, ScreenTable):
        out["screen_table"] = st.params
    anch = context.get("anchored")
    if anch is not None:
        out["anchored"] = getattr(anch, "params", {})
    qc = context.get("qc")
    if qc is None and isinstance(norm, NormalisedPlates):
        qc = norm.qc
    if isinstance(qc, QCResult):
        out["qc"] = {**qc.params, "thresholds": {k: asdict(v) if is_dataclass(v) and not isinstance(v, type)
                                                 else str(v) for k, v in qc.thresholds.items()}}
    return out


__all__ = ["plate_qc_tables", "plates_params", "plates_sections", "qc_section"]

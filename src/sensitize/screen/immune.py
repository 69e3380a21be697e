"""Rank immune-activating combinations: chemokine-induction synergy without cytotoxicity.

Immune-activation screens read viability and a chemokine (CXCL10) in the same wells.  A
useful combination induces the chemokine *more than the two drugs independently* while
leaving cells alive.  :func:`rank_combinations` computes, per cell line x combination:

* ``induction_synergy``: mean over the combination cells (both drugs > 0, monotherapies
  present) of ``delta_ij = C_ij - (L_i + A_j - V)``, group means of the replicates of the
  combination cell, the library drug alone at dose i, the anchor alone at dose j and the
  vehicle.  On the log2 fold-change scale this is excess over log-additivity, i.e. over
  multiplicative independence of fold changes (the Bliss analogue for induction).
  ``induction_hsa`` is the same mean of ``C_ij - max(L_i, A_j)``.
* a **replicate-based test**: ``induction_synergy`` is a linear contrast of group means;
  its standard error is ``sqrt(sum_g w_g^2 s_g^2 / n_g)`` (groups = dose cells, each with
  its replicate SD), with Welch-Satterthwaite degrees of freedom; one-sided p-value for
  ``H1: synergy > 0`` from Student's t, Benjamini-Hochberg q-values within each cell line
  (statsmodels ``multipletests(method="fdr_bh")``).
* ``viability_synergy``: mean over the same cells of the Bliss excess of killing on the
  viability readout, ``v_l v_a / v_0 - v_c`` in % of vehicle (> 0 = more killing than
  independent action).
* ``viability_window``: fraction of cells alive (viability / 100) at the combination cell
  with the largest induction excess (the doses that induce); ``cytotoxicity = 1 - window``.
* ``hit``: ``q < alpha`` and ``induction_synergy >= min_effect`` and
  ``viability_window >= min_viability``.
* ``pareto``: not dominated, within the cell line, on (higher induction synergy, lower
  cytotoxicity).
* consistency: ``n_lines_hit`` / ``n_lines`` per drug pair and the Spearman correlation of
  induction synergy between cell lines (``RankingResult.line_correlation``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from sensitize.core.errors import InputError
from sensitize.core.results import Result
from sensitize.screen.anchored import prepare_effects


@dataclass
class RankingResult(Result):
    """Result of :func:`rank_combinations`.

    Attributes
    ----------
    table
        One row per cell line x combination, ranked within cell line (``rank`` 1 = best).
    line_correlation
        Spearman correlation of ``induction_synergy`` between each pair of cell lines over
        the drug pairs they share (``line_a, line_b, n, rho, p_value``).
    """

    line_correlation: pd.DataFrame = field(default_factory=pd.DataFrame)

    def for_cell_line(self, cell_line: str) -> pd.DataFrame:
        """The ranked table of one cell line."""
        return self.table[self.table["cell_line"] == cell_line].reset_index(drop=True)

    @property
    def hits(self) -> pd.DataFrame:
        """Rows called hits."""
        return self.table[self.table["hit"]].reset_index(drop=True)


def _cell_stats(df: pd.DataFrame, center: str = "median") -> pd.DataFrame:
    """Centre (``mean`` column: median or mean), variance and count of the replicates per dose cell.

    ``eff`` is the variance inflation of the centre relative to a mean: pi/2 for a median
    of 3 or more replicates (its asymptotic relative efficiency), 1 otherwise.
    """
    g = df.groupby(["combo", "conc1", "conc2"], sort=True)["response"]
    s = g.agg(["mean", "var", "count"])
    if center == "median":
        s["mean"] = g.median()
        s["eff"] = np.where(s["count"] >= 3, np.pi / 2, 1.0)
    else:
        s["eff"] = 1.0
    return s.reset_index()


def _pareto(x: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Non-dominated points maximising ``x`` and minimising ``cost`` (NaN never on the front)."""
    ok = np.isfinite(x) & np.isfinite(cost)
    xi, ci = x[:, None], cost[:, None]
    dom = (x[None, :] >= xi) & (cost[None, :] <= ci) & ((x[None, :] > xi) | (cost[None, :] < ci))
    dom &= ok[None, :]
    return ok & ~dom.any(axis=1)


def _score_all(ind: pd.DataFrame, via: pd.DataFrame, top_doses: int | None, variance: str,
               cell_line: pd.Series, center: str) -> pd.DataFrame:
    """Vectorised induction contrast, its Welch t-test and viability metrics per combo."""
    s = _cell_stats(ind, center)
    mono1 = s[(s["conc1"] > 0) & (s["conc2"] == 0)].rename(columns=lambda c: c if c in ("combo", "conc1") else c + "_l")
    mono2 = s[(s["conc1"] == 0) & (s["conc2"] > 0)].rename(columns=lambda c: c if c in ("combo", "conc2") else c + "_a")
    veh = s[(s["conc1"] == 0) & (s["conc2"] == 0)].rename(columns=lambda c: c if c == "combo" else c + "_v")
    cells = s[(s["conc1"] > 0) & (s["conc2"] > 0)]
    cells = cells.merge(mono1.drop(columns="conc2_l"), on=["combo", "conc1"])
    cells = cells.merge(mono2.drop(columns="conc1_a"), on=["combo", "conc2"])
    cells = cells.merge(veh.drop(columns=["conc1_v", "conc2_v"]), on="combo")
    if top_doses is not None:
        rk = cells.groupby("combo")["conc1"].rank(method="dense", ascending=False)
        cells = cells[rk <= top_doses]
    cells = cells.reset_index(drop=True)
    cells["delta"] = cells["mean"] - cells["mean_l"] - cells["mean_a"] + cells["mean_v"]
    cells["hsa"] = cells["mean"] - np.maximum(cells["mean_l"], cells["mean_a"])
    g = cells.groupby("combo", sort=True)
    k = g.size()
    kc = cells["combo"].map(k).to_numpy(dtype=float)
    # weights of each replicate group in the contrast mean_cells(delta)
    parts = [
        pd.DataFrame({"combo": cells["combo"], "key": "c" + cells["conc1"].astype(str) + "_" + cells["conc2"].astype(str),
                      "w": 1.0 / kc, "var": cells["var"], "n": cells["count"] / cells["eff"]}),
        pd.DataFrame({"combo": cells["combo"], "key": "l" + cells["conc1"].astype(str), "w": -1.0 / kc,
                      "var": cells["var_l"], "n": cells["count_l"] / cells["eff_l"]}),
        pd.DataFrame({"combo": cells["combo"], "key": "a" + cells["conc2"].astype(str), "w": -1.0 / kc,
                      "var": cells["var_a"], "n": cells["count_a"] / cells["eff_a"]}),
        pd.DataFrame({"combo": cells["combo"], "key": "v", "w": 1.0 / kc, "var": cells["var_v"],
                      "n": cells["count_v"] / cells["eff_v"]}),
    ]
    grp = pd.concat(parts, ignore_index=True).groupby(["combo", "key"], sort=False).agg(
        w=("w", "sum"), var=("var", "first"), n=("n", "first")).reset_index()
    grp = grp[np.abs(grp["w"]) > 1e-12].copy()
    if variance == "pooled":
        # pooled within-cell error per cell line: robust (scaled MAD of the residuals from
        # the cell means, each divided by sqrt((n-1)/n)), so dead wells do not inflate it
        keys = ["combo", "conc1", "conc2"]
        r = ind[[*keys, "response"]].dropna(subset=["response"])
        grpd = r.groupby(keys)["response"]
        n_r = grpd.transform("size").to_numpy(dtype=float)
        res = (r["response"] - grpd.transform("mean")).to_numpy(dtype=float)
        use = n_r > 1
        scaled = np.abs(res[use]) / np.sqrt((n_r[use] - 1) / n_r[use])
        line_r = r["combo"].map(cell_line).to_numpy()[use]
        sd = pd.Series(scaled).groupby(line_r).median() * 1.4826
        rep = s[s["count"] > 1]
        dof = (rep["count"] - 1).groupby(rep["combo"].map(cell_line)).sum()
        pool = pd.DataFrame({"dof": dof})
        s2 = (sd**2).reindex(pool.index).where(pool["dof"] > 0)
        gl = grp["combo"].map(cell_line)
        grp["var"] = gl.map(s2).to_numpy(dtype=float)
        grp["term"] = grp["w"] ** 2 * grp["var"] / grp["n"]
        agg = grp.groupby("combo").agg(t=("term", "sum"), bad=("var", lambda v: bool(v.isna().any())))
        dfw = pd.Series(cells.groupby("combo")["combo"].first().map(cell_line).map(pool["dof"]).to_numpy(dtype=float),
                        index=agg.index)
    else:
        grp["term"] = grp["w"] ** 2 * grp["var"] / grp["n"]
        grp["bad"] = ~(np.isfinite(grp["var"]) & (grp["n"] > 1))
        grp["dfterm"] = grp["term"] ** 2 / (grp["n"] - 1).where(grp["n"] > 1)
        agg = grp.groupby("combo").agg(t=("term", "sum"), dft=("dfterm", "sum"), bad=("bad", "any"))
        with np.errstate(divide="ignore", invalid="ignore"):
            dfw = agg["t"] ** 2 / agg["dft"]
    out = pd.DataFrame({
        "n_cells": k, "induction_synergy": g["delta"].mean(), "induction_hsa": g["hsa"].mean(),
        "induction_max": g["delta"].max(), "n_replicates": g["count"].min(),
    })
    best = cells.loc[g["delta"].idxmax(), ["combo", "conc1", "conc2"]].set_index("combo")
    out["best_conc1"], out["best_conc2"] = best["conc1"], best["conc2"]
    se = np.sqrt(agg["t"]).where(~agg["bad"].astype(bool))
    with np.errstate(divide="ignore", invalid="ignore"):
        tstat = out["induction_synergy"] / se
    out["induction_se"], out["induction_df"] = se, dfw.where(se > 0)
    p = pd.Series(stats.t.sf(tstat.to_numpy(dtype=float), dfw.to_numpy(dtype=float)), index=out.index)
    p = p.where(se > 0, np.where(out["induction_synergy"] > 0, 0.0, 1.0)).where(se.notna())
    out["p_value"] = p
    out["viability_synergy"] = np.nan
    out["viability_window"] = np.nan
    if len(via):
        vs = _cell_stats(via, center).set_index(["combo", "conc1", "conc2"])["mean"]

        def look(c1: pd.Series, c2: pd.Series) -> np.ndarray:
            idx = pd.MultiIndex.from_arrays([cells["combo"], c1, c2])
            return vs.reindex(idx).to_numpy(dtype=float)

        zero = pd.Series(0.0, index=cells.index)
        vc, vl = look(cells["conc1"], cells["conc2"]), look(cells["conc1"], zero)
        va, v0 = look(zero, cells["conc2"]), look(zero, zero)
        with np.errstate(divide="ignore", invalid="ignore"):
            exc = np.where(v0 > 0, vl * va / v0 - vc, np.nan)
            win = np.where(v0 > 0, np.clip(vc / v0, 0.0, None), np.nan)
        cells["vexc"], cells["vwin"] = exc, win
        out["viability_synergy"] = cells.groupby("combo")["vexc"].mean()
        out["viability_window"] = cells.loc[g["delta"].idxmax()].set_index("combo")["vwin"]
    return out.reset_index()


def rank_combinations(
    screen: Any,
    *,
    viability_readout: str = "viability",
    induction_readout: str = "CXCL10",
    alpha: float = 0.1,
    min_effect: float = 0.0,
    min_viability: float = 0.3,
    top_doses: int | None = 2,
    variance: str = "pooled",
    center: str = "median",
    scores: Any = None,
    source: str = "<table>",
) -> RankingResult:
    """Rank drug pairs for chemokine-induction synergy with a viability window.

    Parameters
    ----------
    screen
        Canonical screen table (``to_screen_table(...)`` output or its ``.table``) with
        replicate rows; ``drug1`` the library drug, ``drug2`` the anchor (or any pair).
        Induction on an additive scale (``log2_fc``; ``pct_positive`` also works, where
        the contrast is the excess over response additivity).
    viability_readout, induction_readout
        Readout names in the ``readout`` column.
    alpha
        Benjamini-Hochberg FDR level for the hit call.
    min_effect
        Minimum ``induction_synergy`` (response units, log2 for ``log2_fc``) of a hit.
    min_viability
        Minimum viability window (fraction alive at the inducing doses) of a hit.
    top_doses
        The contrast (and the test) uses the combination cells at the ``top_doses``
        highest library doses (all anchor concentrations); ``None`` for every cell.
        Fixed before seeing the data, so the test stays valid; interactions of inducers
        are strongest at the top doses, and averaging in inactive low-dose cells dilutes
        them.
    variance
        ``pooled`` (default): every replicate group's variance is the pooled within-cell
        variance of the induction readout in that cell line (the one-way ANOVA error
        term, ``df = sum(n_g - 1)``), so cells with a single replicate are still tested;
        assumes constant variance on the (log) induction scale.  ``welch``: each group's
        own replicate variance with Welch-Satterthwaite df (needs >= 2 replicates in
        every group of the contrast; otherwise p is NaN).
    center
        ``median`` (default) or ``mean`` of each dose cell's replicates.  Shared groups
        (vehicle, anchor alone) enter every contrast of a cell line, so one dead well in
        them would bias all combinations; the median resists it.  Its variance is taken
        as ``pi/2 * s^2 / n`` for ``n >= 3`` (asymptotic efficiency of the median).
    scores
        Optional :class:`~sensitize.screen.engine.ScreenResult` of the same table; its
        ``<model>_synergy`` and ``<model>_p_value`` columns are attached, prefixed with
        ``induction_`` / ``viability_`` (SynergyFinder-style surface scores).
    source
        File name for error messages.

    Returns
    -------
    RankingResult
        ``table`` ranked within each cell line by hit, then one-sided p-value, then
        induction synergy.

    References
    ----------
    Bliss CI (1939). *Ann Appl Biol* 26:585-615.
    Benjamini Y, Hochberg Y (1995). Controlling the false discovery rate. *J R Stat Soc B*
    57:289-300.
    Welch BL (1947). The generalization of Student's problem when several different
    population variances are involved. *Biometrika* 34:28-35.
    """
    if variance not in ("pooled", "welch"):
        raise ValueError("variance must be 'pooled' or 'welch'")
    if center not in ("median", "mean"):
        raise ValueError("center must be 'median' or 'mean'")
    df = prepare_effects(screen, source)
    readouts = set(df["readout"].astype(str))
    if induction_readout not in readouts:
        raise InputError(f"no rows with readout {induction_readout!r} (found {sorted(readouts)})", file=source,
                         column="readout")
    ind = df[df["readout"] == induction_readout]
    via_all = df[df["readout"] == viability_readout]
    info = ind.groupby("combo", sort=True)[["cell_line", "drug1", "drug2"]].first().reset_index()
    res = _score_all(ind, via_all, top_doses, variance,
                     info.set_index("combo")["cell_line"].astype(str), center)
    lead = ["cell_line", "combo", "drug1", "drug2"]
    if res.empty:
        raise InputError(f"no {induction_readout} block has combination cells with both monotherapies and "
                         "vehicle", file=source, column="readout")
    t = info.merge(res, on="combo")
    t["cell_line"] = t["cell_line"].astype(str)
    t = t[lead + [c for c in t.columns if c not in lead]]
    t["cytotoxicity"] = 1.0 - t["viability_window"]
    t["q_value"] = np.nan
    t["pareto"] = False
    for _cl, idx in t.groupby("cell_line").groups.items():
        sub = t.loc[idx]
        pv = sub["p_value"].to_numpy(dtype=float)
        okp = np.isfinite(pv)
        q = np.full(len(pv), np.nan)
        if okp.any():
            q[okp] = multipletests(pv[okp], method="fdr_bh")[1]
        t.loc[idx, "q_value"] = q
        cost = sub["cytotoxicity"].fillna(0.0).to_numpy(dtype=float) if sub["cytotoxicity"].isna().all() \
            else sub["cytotoxicity"].to_numpy(dtype=float)
        t.loc[idx, "pareto"] = _pareto(sub["induction_synergy"].to_numpy(dtype=float), cost)
    win_ok = t["viability_window"].isna() | (t["viability_window"] >= min_viability)
    t["hit"] = (t["q_value"] < alpha) & (t["induction_synergy"] >= min_effect) & win_ok
    pair = t["drug1"].astype(str) + "+" + t["drug2"].astype(str) + "|" + t["combo"].str.split(":", n=2).str[2].fillna("")
    t["_pair"] = pair
    t["n_lines"] = t.groupby("_pair")["cell_line"].transform("nunique")
    t["n_lines_hit"] = t.groupby("_pair")["hit"].transform("sum").astype(int)
    if scores is not None:
        st = scores.table
        for ro, pre in ((induction_readout, "induction_"), (viability_readout, "viability_")):
            sel = st[st["readout"] == ro].copy()
            sel["combo"] = [b[: -len(":" + ro)] if str(b).endswith(":" + ro) else str(b) for b in sel["block_id"]]
            keep = [c for c in sel.columns if c.endswith("_synergy") or c.endswith("_p_value")]
            sel = sel[["combo", *keep]].rename(columns={c: pre + c for c in keep})
            t = t.merge(sel, on="combo", how="left")
    t = t.sort_values(["cell_line", "hit", "p_value", "induction_synergy"], ascending=[True, False, True, False],
                      na_position="last").reset_index(drop=True)
    t["rank"] = t.groupby("cell_line").cumcount() + 1
    lines = sorted(t["cell_line"].unique())
    wide = t.pivot_table(index="_pair", columns="cell_line", values="induction_synergy")
    corr = []
    for i, a in enumerate(lines):
        for b in lines[i + 1:]:
            both = wide[[a, b]].dropna()
            rho, pr = (stats.spearmanr(both[a], both[b]) if len(both) > 2 else (np.nan, np.nan))
            corr.append({"line_a": a, "line_b": b, "n": len(both), "rho": float(rho), "p_value": float(pr)})
    t = t.drop(columns="_pair")
    params = {"viability_readout": viability_readout, "induction_readout": induction_readout, "alpha": alpha,
              "min_effect": min_effect, "min_viability": min_viability, "top_doses": top_doses, "variance": variance, "center": center,
              "test": "one-sided t-test (H1: synergy > 0) of the mean excess over additivity, a linear contrast "
                      f"of replicate group means ({variance} variance); Benjamini-Hochberg within cell line"}
    return RankingResult(table=t, params=params,
                         line_correlation=pd.DataFrame(corr, columns=["line_a", "line_b", "n", "rho", "p_value"]))


def evaluate_ranking(ranking: RankingResult, truth: pd.DataFrame, *, k: int = 10,
                     positive: str = "synergistic_inducer") -> dict[str, float]:
    """Precision at ``k`` (pooled over cell lines, ranked by p-value) and hit recall/precision.

    ``truth`` is :attr:`sensitize.screen.simulate.SimulatedScreen.truth` (``cell_line``,
    ``drug``, ``klass``); ``drug1`` of the ranking is matched to ``drug``.
    """
    t = ranking.table.merge(truth[["cell_line", "drug", "klass"]], left_on=["cell_line", "drug1"],
                            right_on=["cell_line", "drug"], how="left")
    t["pos"] = t["klass"] == positive
    pooled = t.sort_values(["p_value", "induction_synergy"], ascending=[True, False], na_position="last")
    pooled = pooled.drop_duplicates(["cell_line", "drug1"])
    n_true = int((truth["klass"] == positive).sum())
    found = t.loc[t["hit"] & t["pos"], ["cell_line", "drug1"]].drop_duplicates()
    n_hit = int(t["hit"].sum())
    return {
        "precision_at_k": float(pooled["pos"].head(k).mean()),
        "recall": float(len(found) / n_true) if n_true else float("nan"),
        "hit_precision": float(t.loc[t["hit"], "pos"].mean()) if n_hit else float("nan"),
        "n_hits": float(n_hit), "n_true": float(n_true),
    }

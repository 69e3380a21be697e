"""Plots for cohort results (Kaplan-Meier, ROC, forest, score distributions, cut-point scans).

Every function takes result objects from :mod:`sensitize.cohort` and returns a
matplotlib Figure; no statistic is computed here.  Colours: Okabe-Ito (colour-blind safe).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sensitize.cohort.maxstat import MaxstatResult
from sensitize.cohort.response import ResponseAssociation
from sensitize.cohort.survival import KMResult, MetaResult
from sensitize.cohort.timeroc import TimeDependentAUC

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


def _fmt_p(p: float) -> str:
    if p is None or not np.isfinite(p):
        return "NA"
    return f"{p:.2g}" if p >= 1e-3 else f"{p:.1e}"


def plot_km(
    km: KMResult,
    *,
    title: str = "",
    time_unit: str = "months",
    at_risk_times: Sequence[float] | None = None,
    p_label: str | None = None,
    ci: bool = True,
) -> Figure:
    """Kaplan-Meier curves with 95% bands, censoring ticks and a numbers-at-risk table.

    ``p_label`` overrides the annotation (default: the log-rank p of ``km``); for a
    data-selected cut-point pass the corrected p (never the naive one).
    """
    fig = plt.figure(figsize=(6.4, 5.2))
    ax = fig.add_axes((0.14, 0.33, 0.82, 0.58))
    tab_ax = fig.add_axes((0.14, 0.04, 0.82, 0.17))
    tmax = float(km.table["time"].max()) if len(km.table) else 1.0
    for i, g in enumerate(km.groups):
        col = OKABE_ITO[i % len(OKABE_ITO)]
        tab = km.table[km.table["group"] == g]
        summ = km.summary.set_index("group")
        n = int(np.asarray(summ.loc[g, "n"]).item())
        ev = int(np.asarray(summ.loc[g, "events"]).item())
        ax.step(tab["time"], tab["survival"], where="post", color=col, lw=1.8,
                label=f"{g} (n={n}, events={ev})")
        if ci:
            ax.fill_between(tab["time"], tab["lower95"].fillna(0), tab["upper95"].fillna(1),
                            step="post", color=col, alpha=0.12, lw=0)
        cens = tab[tab["censored"] > 0]
        ax.plot(cens["time"], cens["survival"], "|", color=col, ms=8, mew=1.2)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(0, tmax * 1.02)
    ax.set_ylabel("Survival probability")
    ax.set_xlabel(f"Time ({time_unit})")
    label = p_label if p_label is not None else f"log-rank p = {_fmt_p(km.logrank_p)}"
    ax.text(0.98, 0.95, label, transform=ax.transAxes, ha="right", va="top", fontsize=9)
    ax.legend(loc="lower left", fontsize=8, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    times = list(at_risk_times) if at_risk_times is not None else list(
        np.linspace(0, tmax, 6).round(1))
    ar = km.at_risk(times)
    tab_ax.set_xlim(ax.get_xlim())
    tab_ax.set_ylim(-0.5, len(km.groups) - 0.5)
    for i, g in enumerate(km.groups):
        for t, v in zip(times, ar.loc[g].to_numpy()):
            tab_ax.text(t, len(km.groups) - 1 - i, str(int(v)), ha="center", va="center",
                        fontsize=8, color=OKABE_ITO[i % len(OKABE_ITO)])
    tab_ax.set_yticks(range(len(km.groups)))
    tab_ax.set_yticklabels(list(reversed(km.groups)), fontsize=8)
    tab_ax.tick_params(axis="y", length=0, pad=12)
    tab_ax.set_xticks(times)
    tab_ax.tick_params(axis="x", labelsize=7)
    tab_ax.set_title("Number at risk", fontsize=8, loc="left")
    for s in ("top", "right", "left"):
        tab_ax.spines[s].set_visible(False)
    return fig


def plot_roc(res: ResponseAssociation, biomarkers: Sequence[str] | None = None,
             title: str = "") -> Figure:
    """ROC curves of responders vs non-responders with AUC and DeLong 95% CI in the legend."""
    fig, ax = plt.subplots(figsize=(5.2, 5.0))
    names = list(biomarkers) if biomarkers is not None else list(res.roc)
    tab = res.table.set_index("biomarker")
    for i, b in enumerate(names):
        if b not in res.roc:
            continue
        r = res.roc[b]
        row = tab.loc[b]
        ax.step(r["fpr"], r["tpr"], where="post", color=OKABE_ITO[i % len(OKABE_ITO)], lw=1.6,
                label=f"{b}: AUC {row['AUC']:.2f} ({row['AUC_lower95']:.2f}-{row['AUC_upper95']:.2f})")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8)
    ax.set_xlabel("1 - specificity (false-positive rate)")
    ax.set_ylabel("Sensitivity (true-positive rate)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.legend(loc="lower right", fontsize=7, frameon=False)
    ax.set_title(title or "Responders vs non-responders", fontsize=10)
    fig.tight_layout()
    return fig


def plot_forest(
    table: pd.DataFrame,
    *,
    label_col: str = "biomarker",
    hr_col: str = "HR_per_SD",
    lower_col: str = "HR_per_SD_lower95",
    upper_col: str = "HR_per_SD_upper95",
    p_col: str | None = "wald_p",
    meta: MetaResult | None = None,
    title: str = "",
    xlabel: str = "Hazard ratio per SD (95% CI, log scale)",
) -> Figure:
    """Forest plot of hazard ratios (rows of a survival table, or per-cohort rows + pooled)."""
    tab = table.dropna(subset=[hr_col, lower_col, upper_col]).reset_index(drop=True)
    n = len(tab) + (2 if meta is not None else 0)
    fig, ax = plt.subplots(figsize=(6.4, 1.0 + 0.38 * max(n, 1)))
    ys = np.arange(len(tab))[::-1] + (2 if meta is not None else 0)
    hr = tab[hr_col].to_numpy(dtype=float)
    lo = tab[lower_col].to_numpy(dtype=float)
    hi = tab[upper_col].to_numpy(dtype=float)
    ax.errorbar(hr, ys, xerr=[hr - lo, hi - hr],
                fmt="s", color=OKABE_ITO[0], ecolor=OKABE_ITO[0], ms=5, capsize=2, lw=1.2)
    labels = []
    for _, r in tab.iterrows():
        lab = str(r[label_col])
        if p_col and p_col in tab.columns:
            lab += f"  (p={_fmt_p(float(r[p_col]))})"
        labels.append(lab)
    yt, yl = list(ys), labels
    if meta is not None:
        for k, (mhr, mlo, mhi, name) in enumerate([
            (meta.hr_fixed, meta.hr_fixed_lower95, meta.hr_fixed_upper95, "Fixed effect"),
            (meta.hr_random, meta.hr_random_lower95, meta.hr_random_upper95,
             f"Random effects (I²={meta.i2 * 100:.0f}%)"),
        ]):
            y = 1 - k
            ax.fill([mlo, mhr, mhi, mhr], [y, y + 0.25, y, y - 0.25], color=OKABE_ITO[3])
            yt.append(y)
            yl.append(name)
    ax.axvline(1.0, color="grey", ls="--", lw=0.8)
    ax.set_xscale("log")
    ax.set_yticks(yt)
    ax.set_yticklabels(yl, fontsize=8)
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_scores_by_response(res: ResponseAssociation, biomarkers: Sequence[str] | None = None,
                            unit: str = "score") -> Figure:
    """Distributions (box + points) of biomarkers/signature scores by response group."""
    vals = res.values
    names = list(biomarkers) if biomarkers is not None else list(dict.fromkeys(vals["biomarker"]))
    k = max(len(names), 1)
    ncol = min(4, k)
    nrow = int(np.ceil(k / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.6 * ncol, 3.0 * nrow), squeeze=False)
    rng = np.random.default_rng(0)  # jitter only (display), fixed seed
    tab = res.table.set_index("biomarker")
    for i, b in enumerate(names):
        ax = axes[i // ncol][i % ncol]
        v = vals[vals["biomarker"] == b]
        groups = [v.loc[v["responder"] == 0, "value"].to_numpy(), v.loc[v["responder"] == 1, "value"].to_numpy()]
        ax.boxplot(groups, widths=0.5, showfliers=False)
        for j, g in enumerate(groups):
            ax.scatter(np.full(len(g), j + 1) + rng.uniform(-0.12, 0.12, len(g)), g, s=12,
                       color=OKABE_ITO[j], alpha=0.8, zorder=3)
        ax.set_xticks([1, 2])
        ax.set_xticklabels([f"NR (n={len(groups[0])})", f"R (n={len(groups[1])})"], fontsize=8)
        if b in tab.index:
            auc_b = float(np.asarray(tab.loc[b, "AUC"]).item())
            p_b = float(np.asarray(tab.loc[b, "p"]).item())
            ax.set_title(f"{b}\nAUC {auc_b:.2f}, p={_fmt_p(p_b)}",
                         fontsize=9)
        ax.set_ylabel(unit, fontsize=8)
    for j in range(k, nrow * ncol):
        axes[j // ncol][j % ncol].set_visible(False)
    fig.tight_layout()
    return fig


def plot_maxstat(ms: MaxstatResult, biomarker: str = "biomarker", unit: str = "") -> Figure:
    """Standardised log-rank statistic over candidate cut-points, selected cut and corrected p."""
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    ax.plot(ms.table["cut"], ms.table["statistic"], "o-", color=OKABE_ITO[0], ms=3, lw=1)
    ax.axvline(ms.cutpoint, color=OKABE_ITO[3], ls="--", lw=1)
    ax.set_xlabel(f"{biomarker} cut-point{f' ({unit})' if unit else ''}")
    ax.set_ylabel("Standardised log-rank statistic")
    ax.set_title(
        f"max = {ms.statistic:.2f} at {ms.cutpoint:.3g}; corrected p (Lau92) = {_fmt_p(ms.p_lau92)}"
        + (f", permutation p = {_fmt_p(ms.p_perm)}" if np.isfinite(ms.p_perm) else ""),
        fontsize=8,
    )
    fig.tight_layout()
    return fig


def plot_time_auc(results: Mapping[str, TimeDependentAUC], time_unit: str = "months") -> Figure:
    """Time-dependent (cumulative/dynamic, IPCW) AUC against the horizon, one line per biomarker."""
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    for i, (name, r) in enumerate(results.items()):
        ax.plot(r.table["time"], r.table["auc"], "o-", color=OKABE_ITO[i % len(OKABE_ITO)],
                label=name, lw=1.2, ms=4)
    ax.axhline(0.5, color="grey", ls="--", lw=0.8)
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"Horizon t ({time_unit})")
    ax.set_ylabel("AUC(t) (higher value = higher risk)")
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig

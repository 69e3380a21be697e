"""Plots of in vivo results (matplotlib).  They draw result objects; they compute nothing.

Colours: the Okabe-Ito colour-blind-safe palette.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sensitize.invivo.response import ResponseResult
from sensitize.invivo.study import GrowthStudy
from sensitize.invivo.survival import SurvivalResult
from sensitize.invivo.synergy import SynergyResult

OKABE_ITO = ["#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7"]
MRECIST_COLOURS = {"mCR": "#009E73", "mPR": "#56B4E9", "mSD": "#E69F00", "mPD": "#D55E00"}


def _colours(groups: list[str]) -> dict[str, str]:
    return {g: OKABE_ITO[i % len(OKABE_ITO)] for i, g in enumerate(groups)}


def growth_curves(study: GrowthStudy, log: bool = False, unit: str = "mm³") -> Figure:
    """Spaghetti plot (one line per animal) and group mean ± SEM, side by side."""
    d = study.data
    cols = _colours(study.groups)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    for g in study.groups:
        sub = d[d["group"] == g]
        for _, a in sub.groupby("animal"):
            axes[0].plot(a["day"], a["volume"], color=cols[g], alpha=0.6, lw=0.9)
        stats = sub.groupby("day")["volume"].agg(["mean", "sem", "count"]).reset_index()
        axes[1].errorbar(stats["day"], stats["mean"], yerr=stats["sem"].fillna(0), color=cols[g], label=g,
                         marker="o", ms=3, capsize=2)
    for ax, title in zip(axes, ("Individual animals", "Group mean ± SEM")):
        ax.set_xlabel("Day")
        ax.set_title(title)
        if log:
            ax.set_yscale("symlog", linthresh=max(study.detection_limit, 1e-3))
    axes[0].set_ylabel(f"Tumour volume ({unit})")
    axes[1].legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def synergy_over_time(result: SynergyResult, basis: str = "lmm") -> Figure:
    """Combination index and synergy score (with 95% intervals) against time, per model."""
    t = result.table[result.table["basis"] == basis]
    models = list(pd.unique(t["model"]))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, m in enumerate(models):
        for ax, metric, ref in ((axes[0], "CI", 1.0), (axes[1], "SS", 0.0)):
            s = t[(t["model"] == m) & (t["metric"] == metric)].sort_values("time")
            ax.plot(s["time"], s["estimate"], marker="o", color=OKABE_ITO[(i + 1) % 8], label=m)
            ax.fill_between(s["time"].to_numpy(float), s["lower"].to_numpy(float), s["upper"].to_numpy(float),
                            color=OKABE_ITO[(i + 1) % 8], alpha=0.15)
            ax.axhline(ref, color="grey", ls="--", lw=0.8)
    axes[0].set_ylabel("Combination index (<1 synergy)")
    axes[1].set_ylabel("Synergy score (>0 synergy)")
    for ax in axes:
        ax.set_xlabel("Days since treatment start")
    axes[0].legend(frameon=False)
    fig.suptitle(f"Synergy over time ({basis})")
    fig.tight_layout()
    return fig


def kaplan_meier(result: SurvivalResult, groups: list[str] | None = None) -> Figure:
    """Kaplan-Meier step curves per arm, with the global log-rank p-value."""
    km = result.km
    groups = groups if groups is not None else list(pd.unique(km["group"])) if len(km) else []
    cols = _colours(groups)
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for g in groups:
        s = km[km["group"] == g]
        ax.step(s["time"], s["survival"], where="post", color=cols[g], label=g)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("Days since treatment start")
    ax.set_ylabel("Fraction event-free")
    p = result.logrank_global.get("p")
    if p is not None:
        ax.set_title(f"Time to endpoint (log-rank p = {p:.3g})")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def waterfall(result: ResponseResult) -> Figure:
    """Waterfall of best response (% volume change), coloured by mRECIST class."""
    t = result.table.dropna(subset=["best_response"]).sort_values("best_response", ascending=False)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.12 * len(t) + 2), 4.2))
    colours = [MRECIST_COLOURS.get(str(c), "#999999") for c in t["mrecist"]]
    ax.bar(np.arange(len(t)), np.clip(t["best_response"].to_numpy(float), -100, 300), color=colours)
    ax.axhline(0, color="black", lw=0.8)
    for y in (35, -50, -95):
        ax.axhline(y, color="grey", ls=":", lw=0.7)
    ax.set_xticks([])
    ax.set_xlabel("Animals (sorted)")
    ax.set_ylabel("Best response (% change from baseline, capped at 300)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in MRECIST_COLOURS.values()]
    ax.legend(handles, list(MRECIST_COLOURS), frameon=False, fontsize=8)
    fig.tight_layout()
    return fig

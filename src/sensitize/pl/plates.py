"""Plots of plates: heat maps of a plate, QC summaries, viability against induction.

The functions take the result objects of :mod:`sensitize.screen.plates` and
:mod:`sensitize.screen.qc` and return matplotlib Figures; they compute no statistics.
Colours: Okabe-Ito (categorical), viridis / PuOr (continuous), all colour-blind safe.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from sensitize.screen.plates import NormalisedPlates
from sensitize.screen.qc import QCResult

OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"]
_ROWS = "ABCDEFGHIJKLMNOP"
_ROLE_COLOURS = {"sample": "#999999", "vehicle": OKABE_ITO[4], "untreated": OKABE_ITO[1],
                 "positive_control": OKABE_ITO[5], "empty": "#FFFFFF"}
_LABELS = {
    "raw": "raw signal (reader units)", "corrected": "corrected signal (reader units)",
    "b_score": "B-score (robust SD units)", "pct_vehicle": "% of vehicle", "log2_fc": "log2 fold change vs vehicle",
    "pct_positive": "% of positive control", "per_viable": "fold change per viable cell",
    "log2_per_viable": "log2 fold change per viable cell", "fold_change": "fold change vs vehicle",
}


def plot_plate(norm: NormalisedPlates, plate: str, readout: str, value: str = "raw") -> Figure:
    """Heat map of one plate and readout; controls outlined, flagged wells crossed.

    Parameters
    ----------
    norm
        Normalised plates.
    plate, readout
        Which plate and readout.
    value
        Column to show (``raw``, ``corrected``, ``b_score``, ``pct_vehicle``, ...).
        ``b_score`` and log-scale columns use a diverging map centred on 0.
    """
    t = norm.table
    sub = t.loc[(t["plate"] == plate) & (t["readout"] == readout)]
    if sub.empty:
        raise KeyError(f"no wells for plate {plate!r}, readout {readout!r}")
    fmt = int(sub["plate_format"].iloc[0])
    nr, nc = (8, 12) if fmt == 96 else (16, 24)
    grid = np.full((nr, nc), np.nan)
    ri = sub["row"].map(_ROWS.index).to_numpy()
    ci = sub["col"].to_numpy(dtype=int) - 1
    grid[ri, ci] = sub[value].to_numpy(dtype=float)
    fig = Figure(figsize=(1.0 + 0.42 * nc, 1.2 + 0.42 * nr))
    ax = fig.add_subplot(1, 1, 1)
    diverging = value in {"b_score", "log2_fc", "log2_per_viable"}
    if diverging:
        lim = float(np.nanmax(np.abs(grid))) if np.isfinite(grid).any() else 1.0
        im = ax.imshow(grid, cmap="PuOr_r", vmin=-lim, vmax=lim, aspect="equal")
    else:
        im = ax.imshow(grid, cmap="viridis", aspect="equal")
    for role, colour in _ROLE_COLOURS.items():
        if role in ("sample", "empty"):
            continue
        m = (sub["role"] == role).to_numpy()
        ax.scatter(ci[m], ri[m], s=60, facecolors="none", edgecolors=colour, linewidths=1.6, label=role)
    flagged = (sub["well_flag"].fillna("") != "").to_numpy() if "well_flag" in sub.columns else np.zeros(len(sub), bool)
    if flagged.any():
        ax.scatter(ci[flagged], ri[flagged], marker="x", s=30, c="#000000", linewidths=1.0, label="flagged well")
    ax.set_xticks(range(nc), [str(i + 1) for i in range(nc)], fontsize=7)
    ax.set_yticks(range(nr), list(_ROWS[:nr]), fontsize=7)
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    status = ""
    if "qc_pass" in sub.columns:
        status = " - QC pass" if bool(sub["qc_pass"].iloc[0]) else " - QC FAIL"
    ax.set_title(f"{plate} {readout}{status}")
    fig.colorbar(im, ax=ax, label=_LABELS.get(value, value), shrink=0.8)
    ax.legend(loc="upper left", bbox_to_anchor=(0, -0.12), ncol=4, fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def plot_qc(qc: QCResult, metric: str = "z_prime") -> Figure:
    """Per plate x readout QC metric (``z_prime``, ``z_prime_robust``, ``ssmd``, ``cv_vehicle``).

    One panel per readout; failing plates are drawn as vermillion crosses, passing ones as
    blue dots; the pass threshold is a dashed line where it applies.
    """
    t = qc.table
    readouts = list(dict.fromkeys(t["readout"]))
    fig = Figure(figsize=(4.0 * len(readouts), 3.6))
    thr_col = {"z_prime": "z_prime_min", "z_prime_robust": "z_prime_min", "cv_vehicle": "cv_max"}.get(metric)
    for k, r in enumerate(readouts):
        ax = fig.add_subplot(1, len(readouts), k + 1)
        sub = t.loc[t["readout"] == r].reset_index(drop=True)
        x = np.arange(len(sub))
        ok = sub["qc_pass"].to_numpy(dtype=bool)
        y = sub[metric].to_numpy(dtype=float)
        if metric.startswith("z_prime"):
            # Z' of a collapsed plate can be hugely negative: clip at -1 and print the value
            low = np.isfinite(y) & (y < -1)
            for xi, yi in zip(x[low], y[low]):
                ax.annotate(f"{yi:.1f}", (xi, -1), textcoords="offset points", xytext=(4, 4), fontsize=7)
            y = np.where(low, -1.0, y)
            ax.set_ylim(-1.1, 1.05)
        ax.scatter(x[ok], y[ok], c=OKABE_ITO[4], marker="o", label="pass")
        ax.scatter(x[~ok], y[~ok], c=OKABE_ITO[5], marker="X", s=60, label="fail")
        if thr_col is not None:
            ax.axhline(float(sub[thr_col].iloc[0]), ls="--", c="#555555", lw=1, label="threshold")
        ax.set_xticks(x, sub["plate"].astype(str).tolist(), rotation=60, ha="right", fontsize=7)
        ax.set_xlabel("plate")
        ax.set_ylabel({"z_prime": "Z'-factor", "z_prime_robust": "robust Z'-factor", "ssmd": "SSMD",
                       "cv_vehicle": "vehicle CV (%)"}.get(metric, metric))
        ax.set_title(r)
        ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def plot_viability_vs_induction(
    norm: NormalisedPlates, chemokine: str = "CXCL10", viability: str = "viability", plate: str | None = None
) -> Figure:
    """Per-well scatter: viability (% of vehicle) against chemokine log2 fold change.

    Wells of plates failing QC are drawn hollow.  Candidates that induce the chemokine
    without killing sit top right.
    """
    t = norm.table
    if plate is not None:
        t = t.loc[t["plate"] == plate]
    v = t.loc[t["readout"] == viability, ["plate", "well", "role", "pct_vehicle", "qc_pass"]]
    c = t.loc[t["readout"] == chemokine, ["plate", "well", "log2_fc", "qc_pass"]]
    m = v.merge(c, on=["plate", "well"], suffixes=("_v", "_c"))
    fig = Figure(figsize=(5.5, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    for role, colour in _ROLE_COLOURS.items():
        if role == "empty":
            continue
        s = m.loc[m["role"] == role]
        ok = (s["qc_pass_v"] & s["qc_pass_c"]).to_numpy(dtype=bool)
        ax.scatter(s.loc[ok, "pct_vehicle"], s.loc[ok, "log2_fc"], s=10, c=colour, label=role, alpha=0.7)
        if (~ok).any():
            ax.scatter(s.loc[~ok, "pct_vehicle"], s.loc[~ok, "log2_fc"], s=10, facecolors="none",
                       edgecolors=colour, alpha=0.7)
    ax.axhline(0, c="#555555", lw=0.8)
    ax.axvline(100, c="#555555", lw=0.8, ls=":")
    ax.set_xlabel(f"{viability} (% of vehicle)")
    ax.set_ylabel(f"{chemokine} (log2 fold change vs vehicle)")
    ax.set_title("viability vs induction" + (f" - {plate}" if plate else "") + " (hollow: plate failed QC)")
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig

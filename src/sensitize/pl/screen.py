"""Plots of combination-screen results: dose-response curves, synergy landscapes, rankings.

Every function takes result objects (:class:`~sensitize.screen.engine.ScreenResult` from
:func:`~sensitize.screen.engine.score_screen`, or
:class:`~sensitize.screen.immune.RankingResult` from
:func:`~sensitize.screen.immune.rank_combinations`) and returns a matplotlib
:class:`~matplotlib.figure.Figure` (``backend="matplotlib"``, the default) or an interactive
:class:`plotly.graph_objects.Figure` (``backend="plotly"``; no internet access or kaleido
needed).  Nothing here computes a statistic: the only numerics are evaluating the fitted
LL.4 curve on a grid for drawing and interpolating a synergy landscape for the 3-D view.

The views follow SynergyFinder 3 (Ianevski et al. 2022): monotherapy dose-response curves,
the 2-D and 3-D synergy (delta) landscapes and the observed response matrix.

Colours are colour-blind safe: Okabe-Ito for categories (Okabe & Ito 2008), ColorBrewer
``RdBu`` (diverging, centred at 0) for synergy deltas and ``viridis`` for responses.

References
----------
Ianevski A, Giri AK, Aittokallio T (2022). SynergyFinder 3.0: an interactive analysis and
consensus interpretation of multi-drug synergies across multiple samples. Nucleic Acids
Res 50:W739-W743.
Ritz C, Baty F, Streibig JC, Gerhard D (2015). Dose-Response Analysis Using R. PLoS ONE
10(12):e0146021 (the LL.4 model).
Okabe M, Ito K (2008). Color Universal Design (CUD): how to make figures and
presentations that are friendly to colorblind people. https://jfly.uni-koeln.de/color/
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.colors import Normalize, TwoSlopeNorm
from matplotlib.figure import Figure
from scipy.interpolate import PchipInterpolator, RegularGridInterpolator

from sensitize.pl.plates import OKABE_ITO
from sensitize.screen.doseresponse import ZERO_DOSE, ll4

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

    from sensitize.screen.engine import ScreenResult
    from sensitize.screen.immune import RankingResult

__all__ = [
    "BACKENDS",
    "DIVERGING_CMAP",
    "MODELS",
    "SEQUENTIAL_CMAP",
    "dose_response",
    "landscape",
    "pareto",
    "response_matrix",
    "synergy_ranking",
]

#: plotting back ends
BACKENDS = ("matplotlib", "plotly")
#: synergy models whose deltas a :class:`ScreenResult` may hold
MODELS = ("ZIP", "HSA", "Bliss", "Loewe")
#: diverging map for synergy deltas (ColorBrewer RdBu reversed: red = synergy)
DIVERGING_CMAP = "RdBu_r"
#: sequential map for responses
SEQUENTIAL_CMAP = "viridis"
_PLOTLY_DIVERGING = "RdBu_r"
_PLOTLY_SEQUENTIAL = "Viridis"
#: Okabe-Ito colours used for drug 1, 2, 3, ...
_DRUG_COLOURS = [OKABE_ITO[4], OKABE_ITO[0], OKABE_ITO[2], OKABE_ITO[6], OKABE_ITO[1]]
_FAILED_COLOUR = OKABE_ITO[5]  # vermillion
_SYN_COLOUR = "#B2182B"  # RdBu red end
_ANT_COLOUR = "#2166AC"  # RdBu blue end
_GREY = "#999999"


# --------------------------------------------------------------------------- helpers


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose from {BACKENDS}")


def _go() -> Any:
    """plotly.graph_objects, imported on first use (plotly import is slow)."""
    import plotly.graph_objects as go_mod

    return go_mod


def _check_model(result: ScreenResult, model: str, where: str = "cells") -> None:
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose from {MODELS}")
    frame = result.cells if where == "cells" else result.table
    if f"{model}_synergy" not in frame.columns:
        have = [m for m in MODELS if f"{m}_synergy" in frame.columns]
        raise ValueError(f"model {model!r} was not scored in this result (scored: {have}); "
                         f"rerun score_screen(..., models=[..., {model!r}])")


def _block_row(result: ScreenResult, block_id: Any, readout: str | None) -> pd.Series:
    """The result-table row of one block x readout, with clear errors."""
    t = result.table
    if t.empty or "block_id" not in t.columns:
        raise KeyError("the result has no scored blocks")
    ids = t["block_id"].astype(str)
    sel = t.loc[ids == str(block_id)]
    if sel.empty:
        known = list(dict.fromkeys(ids))
        shown = ", ".join(known[:10]) + (f", ... ({len(known)} blocks)" if len(known) > 10 else "")
        rej = result.rejected
        if isinstance(rej, pd.DataFrame) and not rej.empty and (rej["block_id"].astype(str) == str(block_id)).any():
            why = "; ".join(rej.loc[rej["block_id"].astype(str) == str(block_id), "reason"].astype(str))
            raise KeyError(f"block {block_id!r} was rejected and not scored: {why}")
        raise KeyError(f"unknown block_id {block_id!r}; scored blocks: {shown}")
    readouts = list(dict.fromkeys(sel["readout"].astype(str)))
    if readout is None:
        if len(readouts) > 1:
            raise ValueError(f"block {block_id!r} has several readouts {readouts}; pass readout=")
        return sel.iloc[0]
    hit = sel.loc[sel["readout"].astype(str) == str(readout)]
    if hit.empty:
        raise KeyError(f"block {block_id!r} has no readout {readout!r}; its readouts: {readouts}")
    return hit.iloc[0]


def _block_cells(result: ScreenResult, row: pd.Series) -> pd.DataFrame:
    c = result.cells
    m = (c["block_id"].astype(str) == str(row["block_id"])) & (c["readout"].astype(str) == str(row["readout"]))
    return c.loc[m].reset_index(drop=True)


def _n_drugs(row: pd.Series) -> int:
    return int(row["n_drugs"]) if "n_drugs" in row.index and pd.notna(row["n_drugs"]) else 2


def _drug(row: pd.Series, k: int) -> str:
    v = row.get(f"drug{k}")
    return str(v) if v is not None and pd.notna(v) else f"drug {k}"


def _unit(row: pd.Series, k: int) -> str:
    v = row.get(f"conc_unit{k}")
    return str(v) if v is not None and pd.notna(v) else "concentration units"


def _pair_label(row: pd.Series) -> str:
    """``drug1 + drug2 (cell line)``."""
    drugs = " + ".join(_drug(row, k) for k in range(1, _n_drugs(row) + 1))
    cl = row.get("cell_line")
    return f"{drugs} ({cl})" if cl is not None and pd.notna(cl) and str(cl) != "" else drugs


def _effect_label(row: pd.Series) -> str:
    """Axis label of the effect scale the engine works on."""
    kind = str(row.get("response_kind", "inhibition"))
    ro = str(row.get("readout", "response"))
    if kind == "induction":
        return f"{ro} induction (readout units, as given)"
    if kind == "viability":
        return f"% inhibition (100 - {ro} % of control)"
    return f"{ro} (% inhibition)"


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _fmt_p(p: Any) -> str:
    if p is None or not np.isfinite(float(p)):
        return "NA"
    p = float(p)
    return f"{p:.2g}" if p >= 1e-3 else f"{p:.1e}"


def _levels(cells: pd.DataFrame, k: int) -> np.ndarray:
    return np.unique(cells[f"conc{k}"].to_numpy(dtype=float))


def _zero_position(doses: np.ndarray) -> float:
    """Where dose 0 is drawn on a log axis: one (median) dilution step below the lowest dose."""
    nz = np.sort(doses[doses > 0])
    if nz.size == 0:
        return 1.0
    if nz.size == 1:
        return float(nz[0] / 10.0)
    step = float(np.median(nz[1:] / nz[:-1]))
    return float(nz[0] / max(step, 1.5))


def _grid(cells: pd.DataFrame, value: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``Z[i, j]`` = ``value`` at drug-2 level ``i`` and drug-1 level ``j`` (both ascending)."""
    piv = cells.pivot_table(index="conc2", columns="conc1", values=value, aggfunc="first", dropna=False)
    piv = piv.sort_index(axis=0).sort_index(axis=1)
    return piv.columns.to_numpy(dtype=float), piv.index.to_numpy(dtype=float), piv.to_numpy(dtype=float)


def _need_two_drugs(row: pd.Series, what: str) -> None:
    nd = _n_drugs(row)
    if nd != 2:
        raise ValueError(f"{what} draws two-drug blocks; block {row['block_id']!r} has {nd} drugs "
                         "(use dose_response, which handles any number)")


def _title_score(row: pd.Series, model: str) -> str:
    s = row.get(f"{model}_synergy")
    if s is None or not np.isfinite(float(s)):
        return f"{model} synergy: NA"
    txt = f"{model} synergy = {float(s):.2f}"
    lo, hi = row.get(f"{model}_synergy_ci_low"), row.get(f"{model}_synergy_ci_high")
    if lo is not None and hi is not None and np.isfinite(float(lo)) and np.isfinite(float(hi)):
        txt += f" [95% CI {float(lo):.2f}, {float(hi):.2f}]"
    p = row.get(f"{model}_synergy_p_value")
    if p is not None:
        txt += f", p = {_fmt_p(p)}"
    return txt


# --------------------------------------------------------------------------- dose-response


def _curve_data(result: ScreenResult, row: pd.Series, cells: pd.DataFrame, k: int) -> dict[str, Any]:
    """Everything drawn in one drug's dose-response panel (no statistics computed)."""
    nd = _n_drugs(row)
    others = [j for j in range(1, nd + 1) if j != k]
    mono = cells
    for j in others:
        mono = mono.loc[mono[f"conc{j}"] == 0]
    mono = mono.sort_values(f"conc{k}")
    x = mono[f"conc{k}"].to_numpy(dtype=float)
    y = mono["response"].to_numpy(dtype=float)
    cv = result.curves
    crow = cv.loc[(cv["block_id"].astype(str) == str(row["block_id"])) & (cv["readout"].astype(str) == str(row["readout"]))
                  & (cv["drug_index"] == k)]
    if crow.empty:
        raise KeyError(f"no monotherapy fit of drug {k} for block {row['block_id']!r}, readout {row['readout']!r}")
    f = crow.iloc[0]
    b, c, d, e = (float(f[p]) for p in ("b", "c", "d", "e"))
    pb, pc, pd_, pe = (np.array(v) for v in (b, c, d, e))
    model = str(f.get("model", "LL.4"))
    failed = model == "failed" or not all(np.isfinite(v) for v in (b, c, d, e))
    nz = x[x > 0]
    x0 = _zero_position(x)
    lo_dose = float(nz.min()) if nz.size else 1.0
    hi_dose = float(nz.max()) if nz.size else 1.0
    step = float(np.median(nz[1:] / nz[:-1])) if nz.size > 1 else 10.0
    start = np.sqrt(x0 * lo_dose)
    xs = np.geomspace(start, hi_dose * np.sqrt(step), 300)
    # include e exactly so the drawn curve passes through the IC50 point
    if not failed and start < e < xs[-1]:
        xs = np.sort(np.append(xs, e))
    ys = ll4(xs, pb, pc, pd_, pe) if not failed else np.full(xs.shape, np.nan)
    # the fitted value at dose 0: drc's LL.4 puts dose 0 on the left asymptote
    # (``zero_dose`` 0), the L.4 fallback and the LM fitter evaluate it at 1e-10
    zd = float(f["zero_dose"]) if "zero_dose" in f.index and pd.notna(f["zero_dose"]) else ZERO_DOSE
    if failed:
        zero_fit = np.nan
    elif zd > 0:
        zero_fit = float(ll4(np.array([zd]), pb, pc, pd_, pe)[0])
    else:
        zero_fit = d if b > 0 else (c if b < 0 else (c + d) / 2.0)
    converged = bool(f["converged"]) and not failed
    flat = bool(f["flat"])
    ic50 = float(f["ic50"])
    ic50_visible = bool(start <= e <= xs[-1]) and not flat and not failed
    note = []
    if failed:
        note.append("fit FAILED (no curve; observed responses used)")
    elif flat:
        note.append("flat response (no dose effect)")
    elif not converged:
        note.append(f"{model} fit did NOT converge")
    if not flat and not failed:
        if e > hi_dose:
            note.append(f"IC50 > top dose (capped at {_fmt(ic50)} {_unit(row, k)})")
        elif e < lo_dose:
            note.append(f"IC50 = {_fmt(ic50)} {_unit(row, k)}, below the lowest tested dose")
    r2 = float(f["r2"]) if pd.notna(f["r2"]) else float("nan")
    label = f"{model} fit" + (" (log-dose fallback)" if model == "L.4" else "") + \
        (f" (R² = {r2:.2f})" if np.isfinite(r2) else "") + ("  NOT CONVERGED" if not converged else "")
    return {
        "drug": _drug(row, k), "unit": _unit(row, k), "x": x, "y": y, "x_plot": np.where(x > 0, x, x0),
        "x0": x0, "xs": xs, "ys": ys, "zero_fit": zero_fit, "failed": failed, "label": label,
        "e": e, "ic50": ic50, "half": (c + d) / 2.0, "ic50_visible": ic50_visible,
        "converged": converged, "flat": flat, "r2": r2, "note": "; ".join(note),
        "ticks": np.concatenate([[x0], np.unique(nz)]),
        "ticktext": ["0", *[_fmt(v) for v in np.unique(nz)]],
        "colour": _DRUG_COLOURS[(k - 1) % len(_DRUG_COLOURS)],
    }


def dose_response(
    result: ScreenResult,
    block_id: Any,
    readout: str | None = None,
    *,
    drug: int | str | None = None,
    backend: str = "matplotlib",
) -> Any:
    """Monotherapy dose-response points and fitted LL.4 curves of one block.

    One panel per drug (or only ``drug``): the observed monotherapy responses (the other
    drugs at dose 0) on a log-dose axis, with dose 0 drawn one dilution step below the
    lowest dose (open square, tick labelled ``0``) and the fitted curve's zero-dose value
    as a short bar there; the fitted LL.4 curve (Ritz et al. 2015) from
    ``result.curves``; and the IC50 (the ``e`` parameter) marked at the half-way
    response ``(c + d) / 2``.  Fits that did not converge are drawn dashed in vermillion
    and annotated; failed fits (``model == "failed"``, NaN parameters) have no curve and
    are annotated; flat responses are annotated; an IC50 outside the tested range is
    stated rather than drawn.

    Parameters
    ----------
    result
        :class:`~sensitize.screen.engine.ScreenResult`.
    block_id, readout
        The block; ``readout`` is required when the block has several.
    drug
        1-based drug position or drug name; default all drugs of the block.
    backend
        ``"matplotlib"`` (returns :class:`matplotlib.figure.Figure`) or ``"plotly"``
        (returns :class:`plotly.graph_objects.Figure`).

    Returns
    -------
    matplotlib.figure.Figure or plotly.graph_objects.Figure

    Raises
    ------
    KeyError
        Unknown block, readout or drug.
    ValueError
        Unknown backend, or a block with several readouts and no ``readout``.
    """
    _check_backend(backend)
    row = _block_row(result, block_id, readout)
    cells = _block_cells(result, row)
    nd = _n_drugs(row)
    ks = list(range(1, nd + 1))
    if drug is not None:
        names = {_drug(row, k): k for k in ks}
        if isinstance(drug, int | np.integer) and not isinstance(drug, bool) and int(drug) in ks:
            ks = [int(drug)]
        elif str(drug) in names:
            ks = [names[str(drug)]]
        else:
            raise KeyError(f"block {row['block_id']!r} has no drug {drug!r}; its drugs: {list(names)} (or 1..{nd})")
    panels = [_curve_data(result, row, cells, k) for k in ks]
    title = f"{_pair_label(row)}: block {row['block_id']}, {row['readout']}"
    ylab = _effect_label(row)
    if backend == "plotly":
        return _dose_response_plotly(panels, title, ylab)
    fig = Figure(figsize=(4.8 * len(panels), 4.2))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, p in zip(axes, panels):
        col = _FAILED_COLOUR if not p["converged"] else p["colour"]
        ls = "--" if (not p["converged"] or p["flat"]) else "-"
        if not p["failed"]:
            ax.plot(p["xs"], p["ys"], ls=ls, c=col, lw=1.8, label=p["label"])
            ax.plot([p["x0"]], [p["zero_fit"]], marker="_", ms=14, mew=2, c=col, ls="none")
        pos = p["x"] > 0
        ax.scatter(p["x_plot"][pos], p["y"][pos], c=p["colour"], edgecolors="black", linewidths=0.5,
                   zorder=3, label="observed")
        ax.scatter(p["x_plot"][~pos], p["y"][~pos], marker="s", facecolors="none", edgecolors=p["colour"],
                   linewidths=1.5, zorder=3, label="dose 0")
        if p["ic50_visible"]:
            ax.plot([p["e"]], [p["half"]], marker="D", c="black", ms=7, ls="none", zorder=4,
                    label=f"IC50 = {_fmt(p['ic50'])} {p['unit']}")
            ax.axvline(p["e"], c="#555555", ls=":", lw=0.8)
            ax.axhline(p["half"], c="#555555", ls=":", lw=0.8)
        ax.axvline(np.sqrt(p["x0"] * p["ticks"][1]) if len(p["ticks"]) > 1 else p["x0"], c="#bbbbbb", lw=0.6)
        ax.set_xscale("log")
        ax.set_xticks(p["ticks"], p["ticktext"], rotation=45, fontsize=7)
        ax.minorticks_off()
        ax.set_xlabel(f"{p['drug']} concentration ({p['unit']}, log scale)")
        ax.set_ylabel(ylab)
        ax.set_title(p["drug"] + (f"\n{p['note']}" if p["note"] else ""), fontsize=9,
                     color=_FAILED_COLOUR if not p["converged"] else "black")
        ax.legend(fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _dose_response_plotly(panels: list[dict[str, Any]], title: str, ylab: str) -> go.Figure:
    from plotly.subplots import make_subplots

    go_ = _go()
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[p["drug"] for p in panels])
    for i, p in enumerate(panels, start=1):
        col = _FAILED_COLOUR if not p["converged"] else p["colour"]
        dash = "dash" if (not p["converged"] or p["flat"]) else "solid"
        if not p["failed"]:
            fig.add_trace(go_.Scatter(x=p["xs"], y=p["ys"], mode="lines", line={"color": col, "dash": dash},
                                      name=f"{p['drug']}: {p['label']}",
                                      hovertemplate=f"{p['drug']}: %{{x:.3g}} {p['unit']}<br>fit %{{y:.2f}}<extra></extra>"),
                          row=1, col=i)
        pos = p["x"] > 0
        fig.add_trace(go_.Scatter(x=p["x_plot"][pos], y=p["y"][pos], mode="markers",
                                  marker={"color": p["colour"], "line": {"color": "black", "width": 0.5}},
                                  name=f"{p['drug']}: observed",
                                  hovertemplate=f"{p['drug']}: %{{x:.3g}} {p['unit']}<br>response %{{y:.2f}}<extra></extra>"),
                      row=1, col=i)
        fig.add_trace(go_.Scatter(x=p["x_plot"][~pos], y=p["y"][~pos], mode="markers",
                                  marker={"symbol": "square-open", "color": p["colour"], "size": 9},
                                  name=f"{p['drug']}: dose 0",
                                  hovertemplate="dose 0<br>response %{y:.2f}<extra></extra>"),
                      row=1, col=i)
        if p["ic50_visible"]:
            fig.add_trace(go_.Scatter(x=[p["e"]], y=[p["half"]], mode="markers",
                                      marker={"symbol": "diamond", "color": "black", "size": 10},
                                      name=f"{p['drug']}: IC50 = {_fmt(p['ic50'])} {p['unit']}"),
                          row=1, col=i)
        fig.update_xaxes(type="log", tickvals=list(p["ticks"]), ticktext=p["ticktext"],
                         title_text=f"{p['drug']} concentration ({p['unit']}, log scale)", row=1, col=i)
        fig.update_yaxes(title_text=ylab, row=1, col=i)
        if p["note"]:
            fig.add_annotation(text=p["note"], xref=f"x{'' if i == 1 else i} domain",
                               yref=f"y{'' if i == 1 else i} domain", x=0.02, y=1.0, showarrow=False,
                               font={"size": 10, "color": _FAILED_COLOUR if not p["converged"] else "black"},
                               xanchor="left", yanchor="top")
    fig.update_layout(title=title, template="simple_white")
    return fig


# --------------------------------------------------------------------------- heat maps


def _heatmap_mpl(x1: np.ndarray, x2: np.ndarray, z: np.ndarray, row: pd.Series, *, cmap: str, norm: Normalize,
                 cbar_label: str, title: str, fmt: str, marks: np.ndarray | None = None) -> Figure:
    n2, n1 = z.shape
    fig = Figure(figsize=(1.6 + 0.75 * n1, 1.6 + 0.62 * n2))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(z, cmap=cmap, norm=norm, origin="lower", aspect="auto")
    cm = im.get_cmap()
    for i in range(n2):
        for j in range(n1):
            v = z[i, j]
            if not np.isfinite(v):
                continue
            rgba = cm(norm(v))
            lum = 0.299 * rgba[0] + 0.587 * rgba[1] + 0.114 * rgba[2]
            txt = format(v, fmt) + ("*" if marks is not None and marks[i, j] else "")
            ax.text(j, i, txt, ha="center", va="center", fontsize=7, color="white" if lum < 0.5 else "black")
    ax.set_xticks(range(n1), [_fmt(v) for v in x1], rotation=45, fontsize=7)
    ax.set_yticks(range(n2), [_fmt(v) for v in x2], fontsize=7)
    ax.set_xlabel(f"{_drug(row, 1)} ({_unit(row, 1)})")
    ax.set_ylabel(f"{_drug(row, 2)} ({_unit(row, 2)})")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, label=cbar_label, shrink=0.85)
    fig.tight_layout()
    return fig


def _heatmap_plotly(x1: np.ndarray, x2: np.ndarray, z: np.ndarray, row: pd.Series, *, colorscale: str,
                    zmid: float | None, zmin: float | None, zmax: float | None, cbar_label: str, title: str,
                    fmt: str) -> go.Figure:
    go_ = _go()
    xl = [_fmt(v) for v in x1]
    yl = [_fmt(v) for v in x2]
    text = [[format(v, fmt) if np.isfinite(v) else "" for v in r] for r in z]
    kw: dict[str, Any] = {"zmin": zmin, "zmax": zmax} if zmid is None else {"zmid": zmid, "zmin": zmin, "zmax": zmax}
    fig = go_.Figure(go_.Heatmap(
        z=z, x=xl, y=yl, colorscale=colorscale, text=text, texttemplate="%{text}",
        colorbar={"title": {"text": cbar_label}},
        hovertemplate=(f"{_drug(row, 1)}: %{{x}} {_unit(row, 1)}<br>{_drug(row, 2)}: %{{y}} {_unit(row, 2)}"
                       "<br>%{z:.2f}<extra></extra>"),
        **kw,
    ))
    fig.update_xaxes(type="category", title_text=f"{_drug(row, 1)} ({_unit(row, 1)})")
    fig.update_yaxes(type="category", title_text=f"{_drug(row, 2)} ({_unit(row, 2)})")
    fig.update_layout(title=title, template="simple_white")
    return fig


def response_matrix(result: ScreenResult, block_id: Any, readout: str | None = None, *,
                    backend: str = "matplotlib") -> Any:
    """Heat map of the observed response of a two-drug block (SynergyFinder's dose-response matrix).

    Cells show the mean response per dose cell on the engine's effect scale (``cells.response``:
    % inhibition; induction readouts as given), drug 1 along x and drug 2 along y with dose
    labels; imputed cells are starred.  ``Z[i, j]`` is the response at the ``i``-th dose of
    drug 2 and the ``j``-th dose of drug 1 (both ascending).

    Raises
    ------
    KeyError
        Unknown block or readout.
    ValueError
        Unknown backend, or not a two-drug block.
    """
    _check_backend(backend)
    row = _block_row(result, block_id, readout)
    _need_two_drugs(row, "response_matrix")
    cells = _block_cells(result, row)
    x1, x2, z = _grid(cells, "response")
    imputed = None
    if "imputed" in cells.columns:
        imputed = _grid(cells.assign(imputed=cells["imputed"].astype(float)), "imputed")[2] > 0
    title = f"{_pair_label(row)}: block {row['block_id']}, observed {row['readout']}"
    if imputed is not None and imputed.any():
        title += " (* imputed)"
    label = _effect_label(row)
    if backend == "plotly":
        return _heatmap_plotly(x1, x2, z, row, colorscale=_PLOTLY_SEQUENTIAL, zmid=None, zmin=None, zmax=None,
                               cbar_label=label, title=title, fmt=".1f")
    finite = z[np.isfinite(z)]
    norm = Normalize(float(finite.min()), float(finite.max())) if finite.size else Normalize(0, 1)
    return _heatmap_mpl(x1, x2, z, row, cmap=SEQUENTIAL_CMAP, norm=norm, cbar_label=label, title=title, fmt=".1f",
                        marks=imputed)


def _delta_limit(z: np.ndarray) -> float:
    finite = np.abs(z[np.isfinite(z)])
    return float(max(finite.max(), 1e-9)) if finite.size else 1.0


def landscape(
    result: ScreenResult,
    block_id: Any,
    readout: str | None = None,
    *,
    model: str = "ZIP",
    kind: str = "heatmap",
    backend: str = "matplotlib",
) -> Any:
    """Synergy (delta) landscape of a two-drug block, as in SynergyFinder.

    ``kind="heatmap"``: the per-cell delta (``cells["<model>_synergy"]``: observed - reference,
    ZIP: fitted - reference) over the dose grid with dose labels, a diverging colour-blind-safe
    map (ColorBrewer RdBu; red = synergy) centred at 0 with symmetric limits, annotated cells
    and the block score (with bootstrap CI and p-value where present) in the title.
    ``Z[i, j]`` is the delta at the ``i``-th dose of drug 2 and ``j``-th dose of drug 1.

    ``kind="surface"``: the landscape as a 3-D surface over log10 dose (dose 0 placed one
    dilution step below the lowest dose), interpolated for display only with a
    piecewise-cubic Hermite (PCHIP) interpolant through the cell values (linear when a
    drug has fewer than 4 levels), sampled with 10 steps between neighbouring doses so
    the surface passes exactly through every measured cell.

    Raises
    ------
    KeyError
        Unknown block or readout.
    ValueError
        Unknown model (or one not scored), kind or backend; not a two-drug block.
    """
    _check_backend(backend)
    if kind not in ("heatmap", "surface"):
        raise ValueError(f"unknown kind {kind!r}; choose 'heatmap' or 'surface'")
    _check_model(result, model)
    row = _block_row(result, block_id, readout)
    _need_two_drugs(row, "landscape")
    cells = _block_cells(result, row)
    x1, x2, z = _grid(cells, f"{model}_synergy")
    title = f"{_pair_label(row)}: block {row['block_id']}, {row['readout']}<br>{_title_score(row, model)}"
    label = f"{model} delta ({'% inhibition' if str(row.get('response_kind')) != 'induction' else 'readout units'})"
    lim = _delta_limit(z)
    if kind == "heatmap":
        if backend == "plotly":
            return _heatmap_plotly(x1, x2, z, row, colorscale=_PLOTLY_DIVERGING, zmid=0.0, zmin=-lim, zmax=lim,
                                   cbar_label=label, title=title, fmt=".1f")
        return _heatmap_mpl(x1, x2, z, row, cmap=DIVERGING_CMAP, norm=TwoSlopeNorm(0.0, -lim, lim),
                            cbar_label=label, title=title.replace("<br>", "\n"), fmt=".1f")
    u1, u2, zz, n1, n2 = _surface(x1, x2, z)
    if backend == "plotly":
        go_ = _go()
        fig = go_.Figure(go_.Surface(
            x=u1, y=u2, z=zz, colorscale=_PLOTLY_DIVERGING, cmid=0.0, cmin=-lim, cmax=lim,
            colorbar={"title": {"text": label}},
            hovertemplate="log10 dose 1 %{x:.2f}<br>log10 dose 2 %{y:.2f}<br>delta %{z:.2f}<extra></extra>"))
        fig.add_trace(go_.Scatter3d(x=np.repeat(n1[None, :], len(n2), 0).ravel(),
                                    y=np.repeat(n2[:, None], len(n1), 1).ravel(), z=z.ravel(), mode="markers",
                                    marker={"size": 3, "color": "black"}, name="measured cells"))
        fig.update_layout(title=title, template="simple_white", scene={
            "xaxis": {"title": {"text": f"{_drug(row, 1)} ({_unit(row, 1)})"}, "tickvals": list(n1),
                      "ticktext": ["0", *[_fmt(v) for v in x1[1:]]]},
            "yaxis": {"title": {"text": f"{_drug(row, 2)} ({_unit(row, 2)})"}, "tickvals": list(n2),
                      "ticktext": ["0", *[_fmt(v) for v in x2[1:]]]},
            "zaxis": {"title": {"text": label}}})
        return fig
    import mpl_toolkits.mplot3d  # noqa: F401  (registers the 3d projection)

    fig = Figure(figsize=(7.0, 5.6))
    ax: Any = fig.add_subplot(1, 1, 1, projection="3d")
    gx, gy = np.meshgrid(u1, u2)
    surf = ax.plot_surface(gx, gy, zz, cmap=DIVERGING_CMAP, norm=TwoSlopeNorm(0.0, -lim, lim), linewidth=0,
                           antialiased=True, alpha=0.9)
    ax.scatter(*np.meshgrid(n1, n2), z, c="black", s=6)
    ax.set_xticks(n1, ["0", *[_fmt(v) for v in x1[1:]]], fontsize=6)
    ax.set_yticks(n2, ["0", *[_fmt(v) for v in x2[1:]]], fontsize=6)
    ax.set_xlabel(f"{_drug(row, 1)} ({_unit(row, 1)})")
    ax.set_ylabel(f"{_drug(row, 2)} ({_unit(row, 2)})")
    ax.set_zlabel(label)
    ax.set_title(title.replace("<br>", "\n"), fontsize=9)
    fig.colorbar(surf, ax=ax, label=label, shrink=0.6, pad=0.1)
    return fig


def _log_nodes(x: np.ndarray) -> np.ndarray:
    """log10 dose positions of the grid levels, dose 0 one dilution step below the lowest."""
    return np.log10(np.where(x > 0, x, _zero_position(x)))


def _surface(x1: np.ndarray, x2: np.ndarray, z: np.ndarray, sub: int = 10
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Display interpolation of ``z`` (drug-2 rows, drug-1 columns) over log10 dose."""
    n1, n2 = _log_nodes(x1), _log_nodes(x2)

    def fine(nodes: np.ndarray) -> np.ndarray:
        if len(nodes) < 2:
            return nodes.copy()
        seg = [np.linspace(a, b, sub, endpoint=False) for a, b in itertools.pairwise(nodes)]
        return np.concatenate([*seg, nodes[-1:]])

    u1, u2 = fine(n1), fine(n2)
    zf = np.where(np.isfinite(z), z, 0.0)
    if min(len(n1), len(n2)) >= 4:
        # tensor-product PCHIP: along drug 1 (columns), then along drug 2 (rows)
        zz = PchipInterpolator(n2, PchipInterpolator(n1, zf, axis=1)(u1), axis=0)(u2)
    else:
        g2, g1 = np.meshgrid(u2, u1, indexing="ij")
        interp = RegularGridInterpolator((n2, n1), zf, method="linear")
        zz = interp(np.stack([g2.ravel(), g1.ravel()], axis=1)).reshape(g2.shape)
    # exact values at the measured cells (interpolants pass through them up to rounding)
    zz[::sub, ::sub] = z
    return u1, u2, zz, n1, n2


# --------------------------------------------------------------------------- rankings


def synergy_ranking(
    result: ScreenResult,
    *,
    model: str = "ZIP",
    top: int = 20,
    readout: str | None = None,
    backend: str = "matplotlib",
) -> Any:
    """Dot plot of the ``top`` blocks by ``<model>_synergy`` (most synergistic first).

    Each block is labelled ``drug1 + drug2 (cell line)`` (with the readout when the result
    has several, and the block id when labels repeat); dots are red for synergy (> 0) and
    blue for antagonism; horizontal bars show the bootstrap 95 % CI where the result has one
    (``<model>_synergy_ci_low/high``); the t-test p-value is printed beside each dot.
    Blocks without a score (NaN) are not ranked; their number is given in the title.

    Raises
    ------
    ValueError
        Unknown model (or not scored), backend, ``top < 1``.
    KeyError
        Unknown ``readout``.
    """
    _check_backend(backend)
    _check_model(result, model, where="table")
    if int(top) < 1:
        raise ValueError(f"top must be >= 1, got {top!r}")
    t = result.table
    if readout is not None:
        ros = list(dict.fromkeys(t["readout"].astype(str)))
        if str(readout) not in ros:
            raise KeyError(f"no blocks with readout {readout!r}; readouts: {ros}")
        t = t.loc[t["readout"].astype(str) == str(readout)]
    col = f"{model}_synergy"
    n_nan = int(t[col].isna().sum())
    r = t.dropna(subset=[col]).sort_values(col, ascending=False, kind="mergesort").head(int(top)).reset_index(drop=True)
    multi = t["readout"].nunique() > 1
    labels = [_pair_label(rw) + (f" [{rw['readout']}]" if multi else "") for _, rw in r.iterrows()]
    if len(set(labels)) < len(labels):
        labels = [f"{lab} #{rw['block_id']}" for lab, (_, rw) in zip(labels, r.iterrows())]
    score = r[col].to_numpy(dtype=float)
    lo = r[f"{col}_ci_low"].to_numpy(dtype=float) if f"{col}_ci_low" in r.columns else np.full(len(r), np.nan)
    hi = r[f"{col}_ci_high"].to_numpy(dtype=float) if f"{col}_ci_high" in r.columns else np.full(len(r), np.nan)
    p = r[f"{col}_p_value"].to_numpy(dtype=float) if f"{col}_p_value" in r.columns else np.full(len(r), np.nan)
    colours = [_SYN_COLOUR if s > 0 else _ANT_COLOUR for s in score]
    kinds = set(r["response_kind"].astype(str)) if "response_kind" in r.columns else {"inhibition"}
    unit = "% inhibition" if "induction" not in kinds else ("readout units" if kinds == {"induction"} else "% inhibition or readout units")
    xlabel = f"{model} synergy score (mean delta, {unit}; > 0 synergy)"
    title = f"Top {len(r)} blocks by {model} synergy" + (f" ({n_nan} block(s) without a score not ranked)" if n_nan else "")
    y = np.arange(len(r))[::-1]
    if backend == "plotly":
        go_ = _go()
        has_ci = np.isfinite(lo) & np.isfinite(hi)
        err = {"type": "data", "symmetric": False, "array": np.where(has_ci, hi - score, np.nan),
               "arrayminus": np.where(has_ci, score - lo, np.nan), "color": "#555555"}
        fig = go_.Figure(go_.Scatter(
            x=score, y=labels, mode="markers", marker={"color": colours, "size": 10}, error_x=err,
            customdata=np.stack([p, lo, hi, r["block_id"].astype(str).to_numpy()], axis=1),
            text=[f"p = {_fmt_p(v)}" for v in p], name=f"{model} synergy",
            hovertemplate="%{y}<br>score %{x:.2f}<br>%{text}<br>95% CI %{customdata[1]:.2f} - %{customdata[2]:.2f}"
                          "<br>block %{customdata[3]}<extra></extra>"))
        fig.add_vline(x=0, line={"color": "#555555", "width": 1})
        fig.update_yaxes(categoryorder="array", categoryarray=labels[::-1], title_text="combination")
        fig.update_xaxes(title_text=xlabel)
        fig.update_layout(title=title, template="simple_white", height=max(320, 28 * len(r) + 140))
        return fig
    fig = Figure(figsize=(7.5, max(2.5, 0.32 * len(r) + 1.4)))
    ax = fig.add_subplot(1, 1, 1)
    has_ci = np.isfinite(lo) & np.isfinite(hi)
    if has_ci.any():
        ax.errorbar(score[has_ci], y[has_ci], xerr=np.stack([score[has_ci] - lo[has_ci], hi[has_ci] - score[has_ci]]),
                    fmt="none", ecolor="#555555", elinewidth=1, capsize=2, label="bootstrap 95% CI")
    ax.scatter(score, y, c=colours, s=40, zorder=3, edgecolors="black", linewidths=0.4)
    ax.axvline(0, c="#555555", lw=0.8)
    span = float(np.nanmax(np.abs(np.concatenate([score, lo[has_ci], hi[has_ci]])))) if len(r) else 1.0
    for yi, si, pi, hv in zip(y, score, p, np.where(has_ci, hi, score)):
        ax.text(max(si, hv) + 0.03 * span, yi, f"p = {_fmt_p(pi)}", va="center", fontsize=7)
    ax.set_yticks(y, labels, fontsize=7)
    ax.set_xlim(min(0.0, float(np.nanmin(np.concatenate([score, lo[has_ci]]))) if len(r) else -1.0) - 0.1 * span,
                max(0.0, float(np.nanmax(np.concatenate([score, hi[has_ci]]))) if len(r) else 1.0) + 0.35 * span)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("combination")
    ax.set_title(title, fontsize=9)
    if has_ci.any():
        ax.legend(fontsize=7, frameon=False, loc="lower right")
    fig.tight_layout()
    return fig


def pareto(ranking: RankingResult, cell_line: str | None = None, *, backend: str = "matplotlib") -> Any:
    """Induction synergy against cytotoxicity per cell line, with the Pareto front highlighted.

    Draws :class:`~sensitize.screen.immune.RankingResult` rows: ``induction_synergy``
    (y; excess over additivity of the induction readout, in its units, e.g. log2 fold
    change) against ``cytotoxicity`` (x; 1 - fraction alive at the inducing doses).  The
    non-dominated combinations (the ranking's ``pareto`` column) are vermillion and joined
    by the attainment staircase; hits (``hit``) are ringed and labelled.  Combinations
    without a viability readout (cytotoxicity NaN) cannot be placed; their number is
    stated in the panel title.  The plotly variant has hover labels (combination, synergy,
    p, q, rank).  For the per-well view of normalised plates use
    :func:`sensitize.pl.plates.plot_viability_vs_induction`.

    Parameters
    ----------
    ranking
        :class:`~sensitize.screen.immune.RankingResult`.
    cell_line
        One cell line; default one panel per cell line.
    backend
        ``"matplotlib"`` or ``"plotly"``.

    Raises
    ------
    KeyError
        Unknown cell line.
    """
    _check_backend(backend)
    t = ranking.table
    lines = sorted(t["cell_line"].astype(str).unique())
    if cell_line is not None:
        if str(cell_line) not in lines:
            raise KeyError(f"unknown cell_line {cell_line!r}; cell lines: {lines}")
        lines = [str(cell_line)]
    ro = ranking.params.get("induction_readout", "induction")
    ylab = f"{ro} induction synergy (readout units)"
    xlab = "cytotoxicity (1 - fraction viable at the inducing doses)"
    panels = []
    for cl in lines:
        s = t.loc[t["cell_line"].astype(str) == cl].reset_index(drop=True)
        design = s["combo"].astype(str).str.split(":", n=2).str[2].fillna("")
        lab = (s["drug1"].astype(str) + " + " + s["drug2"].astype(str)
               + np.where(design != "", " (" + design + ")", "")).tolist()
        ok = np.isfinite(s["cytotoxicity"].to_numpy(dtype=float)) & np.isfinite(s["induction_synergy"].to_numpy(dtype=float))
        panels.append((cl, s, np.asarray(lab, dtype=object), ok))
    if backend == "plotly":
        return _pareto_plotly(panels, xlab, ylab)
    fig = Figure(figsize=(5.6 * len(panels), 4.8))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (cl, s, lab, ok) in zip(axes, panels):
        x = s["cytotoxicity"].to_numpy(dtype=float)
        y = s["induction_synergy"].to_numpy(dtype=float)
        front = s["pareto"].to_numpy(dtype=bool) & ok
        hit = s["hit"].to_numpy(dtype=bool) & ok
        rest = ok & ~front
        ax.scatter(x[rest], y[rest], c=_GREY, s=22, label="dominated")
        ax.scatter(x[front], y[front], c=_FAILED_COLOUR, s=40, zorder=3, edgecolors="black", linewidths=0.4,
                   label="Pareto front")
        if front.any():
            o = np.argsort(x[front], kind="mergesort")
            ax.step(x[front][o], y[front][o], where="post", c=_FAILED_COLOUR, lw=1, alpha=0.7)
        if hit.any():
            ax.scatter(x[hit], y[hit], s=110, facecolors="none", edgecolors="black", linewidths=1.2, zorder=4,
                       label="hit (q < alpha)")
        for i in np.flatnonzero(front | hit):
            ax.annotate(str(lab[i]), (x[i], y[i]), textcoords="offset points", xytext=(4, 4), fontsize=6)
        ax.axhline(0, c="#555555", lw=0.8)
        ax.set_xlabel(xlab)
        ax.set_ylabel(ylab)
        n_out = int((~ok).sum())
        ax.set_title(cl + (f" ({n_out} without viability not shown)" if n_out else ""), fontsize=9)
        ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def _pareto_plotly(panels: list[tuple[str, pd.DataFrame, np.ndarray, np.ndarray]], xlab: str, ylab: str) -> go.Figure:
    from plotly.subplots import make_subplots

    go_ = _go()
    titles = []
    for cl, _s, _lab, ok in panels:
        n_out = int((~ok).sum())
        titles.append(cl + (f" ({n_out} without viability not shown)" if n_out else ""))
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=titles)
    for i, (cl, s, lab, ok) in enumerate(panels, start=1):
        x = s["cytotoxicity"].to_numpy(dtype=float)
        y = s["induction_synergy"].to_numpy(dtype=float)
        front = s["pareto"].to_numpy(dtype=bool) & ok
        hit = s["hit"].to_numpy(dtype=bool)
        custom = np.stack([s["p_value"].to_numpy(dtype=float), s["q_value"].to_numpy(dtype=float),
                           s["rank"].to_numpy(dtype=float), hit.astype(str)], axis=1)
        hover = ("%{text}<br>induction synergy %{y:.3f}<br>cytotoxicity %{x:.3f}<br>p %{customdata[0]:.3g}"
                 "<br>q %{customdata[1]:.3g}<br>rank %{customdata[2]}<br>hit %{customdata[3]}<extra>" + cl + "</extra>")
        for mask, name, colour, size in ((ok & ~front, "dominated", _GREY, 7), (front, "Pareto front", _FAILED_COLOUR, 10)):
            fig.add_trace(go_.Scatter(
                x=x[mask], y=y[mask], text=list(lab[mask]), customdata=custom[mask], mode="markers",
                marker={"color": colour, "size": size,
                        "line": {"color": ["black" if h else colour for h in hit[mask]],
                                 "width": [2.5 if h else 0.5 for h in hit[mask]]}},
                name=f"{cl}: {name}", hovertemplate=hover), row=1, col=i)
        if front.any():
            o = np.argsort(x[front], kind="mergesort")
            fig.add_trace(go_.Scatter(x=x[front][o], y=y[front][o], mode="lines", line={"shape": "hv", "color": _FAILED_COLOUR},
                                      name=f"{cl}: front", hoverinfo="skip", showlegend=False), row=1, col=i)
        fig.update_xaxes(title_text=xlab, row=1, col=i)
        fig.update_yaxes(title_text=ylab, row=1, col=i)
    fig.update_layout(title="Induction synergy vs cytotoxicity (black ring: hit)", template="simple_white")
    return fig

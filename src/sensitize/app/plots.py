"""Interactive (plotly) figures for the results pages.

Screens use :mod:`sensitize.pl.screen` (``landscape``, ``dose_response``,
``synergy_ranking`` with ``backend="plotly"``) when it is available and fall back to
simple plotly renderings of the result tables otherwise.  These functions only lay out
numbers that the analyses computed; the fitted dose-response curve is evaluated with
:func:`sensitize.screen.doseresponse.ll4` from the fitted parameters.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

log = logging.getLogger("sensitize.app")

#: Okabe-Ito colour-blind-safe palette.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
MODELS = ("ZIP", "HSA", "Bliss", "Loewe")


def _layout(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(title=title, template="plotly_white", margin={"l": 60, "r": 20, "t": 60, "b": 60},
                      font={"family": "system-ui, sans-serif", "size": 13})
    return fig


def _pl_screen(name: str) -> Any:
    """A function of :mod:`sensitize.pl.screen`, or ``None`` while it does not exist."""
    try:
        from sensitize.pl import screen as pls  # type: ignore[attr-defined]
    except ImportError:
        return None
    return getattr(pls, name, None)


def block_choices(res: Any) -> list[dict[str, str]]:
    """``[{value, label}]`` for every scored block (value is ``block_id|readout``)."""
    t = res.table
    out: list[dict[str, str]] = []
    if t.empty:
        return out
    for r in t.itertuples(index=False):
        d = r._asdict()
        cl = f" ({d['cell_line']})" if "cell_line" in d and isinstance(d["cell_line"], str) else ""
        drugs = " + ".join(str(d[c]) for c in ("drug1", "drug2", "drug3", "drug4") if c in d and pd.notna(d[c]))
        out.append({"value": f"{d['block_id']}|{d['readout']}",
                    "label": f"block {d['block_id']}: {drugs}{cl} [{d['readout']}]"})
    return out


def find_block(res: Any, key: str | None) -> tuple[Any, Any]:
    """The ``(block_id, readout)`` named by ``key`` (``block_id|readout``); first block by default."""
    t = res.table
    if t.empty:
        raise KeyError("no scored block")
    if key:
        bid, _, ro = key.partition("|")
        hit = t[(t["block_id"].astype(str) == bid) & ((t["readout"].astype(str) == ro) if ro else True)]
        if hit.empty:
            raise KeyError(key)
        row = hit.iloc[0]
    else:
        row = t.iloc[0]
    return row["block_id"], row["readout"]


def _block_cells(res: Any, block_id: Any, readout: Any) -> pd.DataFrame:
    c = res.cells
    return c[(c["block_id"].astype(str) == str(block_id)) & (c["readout"].astype(str) == str(readout))]


def _drug_names(res: Any, block_id: Any, readout: Any) -> tuple[str, str, str]:
    t = res.table
    row = t[(t["block_id"].astype(str) == str(block_id)) & (t["readout"].astype(str) == str(readout))].iloc[0]
    u1 = str(row.get("conc_unit1", "") or "")
    return str(row["drug1"]), str(row["drug2"]), u1


def landscape(res: Any, block_id: Any, readout: Any, model: str = "ZIP", kind: str = "heatmap") -> go.Figure:
    """Synergy landscape of one block (``sensitize.pl.screen.landscape`` when available)."""
    fn = _pl_screen("landscape")
    if fn is not None:
        try:
            fig = fn(res, block_id, readout, model=model, kind=kind, backend="plotly")
            if isinstance(fig, go.Figure):
                if kind == "surface":
                    fig.update_layout(height=640)
                return fig
        except Exception:
            log.exception("sensitize.pl.screen.landscape failed; using the app's fallback plot")
    cells = _block_cells(res, block_id, readout)
    col = f"{model}_synergy"
    if col not in cells.columns:
        raise KeyError(f"model {model} was not computed")
    d1, d2, unit = _drug_names(res, block_id, readout)
    grid = cells.pivot_table(index="conc1", columns="conc2", values=col, aggfunc="mean").sort_index().sort_index(axis=1)
    xs = [f"{v:.3g}" for v in grid.columns]
    ys = [f"{v:.3g}" for v in grid.index]
    z = grid.to_numpy()
    lim = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
    if kind == "surface":
        fig = go.Figure(go.Surface(z=z, x=xs, y=ys, colorscale="RdBu_r", cmin=-lim, cmax=lim,
                                   colorbar={"title": f"{model} δ"}))
        fig.update_layout(scene={"xaxis_title": f"{d2} ({unit})", "yaxis_title": f"{d1} ({unit})",
                                 "zaxis_title": f"{model} synergy"})
    else:
        fig = go.Figure(go.Heatmap(z=z, x=xs, y=ys, colorscale="RdBu_r", zmin=-lim, zmax=lim,
                                   text=np.round(z, 1), texttemplate="%{text}",
                                   colorbar={"title": f"{model} δ"},
                                   hovertemplate=f"{d1} %{{y}} {unit}<br>{d2} %{{x}} {unit}<br>"
                                                 f"{model} synergy %{{z:.2f}}<extra></extra>"))
        fig.update_xaxes(title=f"{d2} ({unit})", type="category")
        fig.update_yaxes(title=f"{d1} ({unit})", type="category")
    score = res.table.loc[(res.table["block_id"].astype(str) == str(block_id))
                          & (res.table["readout"].astype(str) == str(readout)), col]
    s = f" — mean {model} {float(score.iloc[0]):.2f}" if len(score) and pd.notna(score.iloc[0]) else ""
    return _layout(fig, f"{model} synergy landscape: {d1} × {d2}{s}")


def dose_response(res: Any, block_id: Any, readout: Any) -> go.Figure:
    """Monotherapy dose-response of both drugs of a block, points and fitted LL.4 curve."""
    fn = _pl_screen("dose_response")
    if fn is not None:
        try:
            fig = fn(res, block_id, readout, backend="plotly")
            if isinstance(fig, go.Figure):
                return fig
        except Exception:
            log.exception("sensitize.pl.screen.dose_response failed; using the app's fallback plot")
    from sensitize.screen.doseresponse import ll4

    cells = _block_cells(res, block_id, readout)
    cur = res.curves
    cur = cur[(cur["block_id"].astype(str) == str(block_id)) & (cur["readout"].astype(str) == str(readout))]
    _, _, unit = _drug_names(res, block_id, readout)
    fig = go.Figure()
    for i, r in enumerate(cur.itertuples(index=False)):
        k = int(r.drug_index)
        other = [c for c in cells.columns if c.startswith("conc") and c != f"conc{k}" and c[4:].isdigit()]
        mono = cells[(cells[other] == 0).all(axis=1) & (cells[f"conc{k}"] > 0)]
        colour = PALETTE[i % len(PALETTE)]
        fig.add_trace(go.Scatter(x=mono[f"conc{k}"], y=mono["response"], mode="markers", name=f"{r.drug} (observed)",
                                 marker={"color": colour, "size": 9}, legendgroup=str(r.drug)))
        if len(mono) and np.isfinite([r.b, r.c, r.d, r.e]).all():
            lo, hi = float(mono[f"conc{k}"].min()), float(mono[f"conc{k}"].max())
            xs = np.logspace(np.log10(lo) - 0.3, np.log10(hi) + 0.3, 120)
            ys = ll4(xs, *(np.array([float(v)]) for v in (r.b, r.c, r.d, r.e)))
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=f"{r.drug} LL.4 fit (IC50 {r.ic50:.3g} {unit})",
                                     line={"color": colour}, legendgroup=str(r.drug)))
    fig.update_xaxes(type="log", title=f"concentration ({unit})")
    fig.update_yaxes(title="effect (% inhibition)")
    return _layout(fig, "Monotherapy dose-response")


def ranking(res: Any, by: str = "ZIP_synergy", top: int = 30) -> go.Figure:
    """Bar chart of the blocks ranked by a score."""
    fn = _pl_screen("synergy_ranking")
    model = by.removesuffix("_synergy")
    if fn is not None:
        try:
            fig = fn(res, model=model, top=top, backend="plotly")
            if isinstance(fig, go.Figure):
                return fig
        except Exception:
            log.exception("sensitize.pl.screen.synergy_ranking failed; using the app's fallback plot")
    t = res.ranked(by).head(top)
    labels = [f"{r.block_id}: {r.drug1} + {r.drug2}" for r in t.itertuples(index=False)]
    vals = t[by].to_numpy(dtype=float)
    colours = [PALETTE[3] if v > 0 else PALETTE[0] for v in vals]
    fig = go.Figure(go.Bar(x=vals, y=labels, orientation="h", marker={"color": colours}))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(title=f"{by.replace('_', ' ')} (δ score)")
    return _layout(fig, f"Blocks ranked by {by.replace('_', ' ')}")


def growth_curves(analysis: Any) -> go.Figure:
    """Mean tumour volume ± SEM per group over time, individual animals as faint lines."""
    d = analysis.study.data
    groups = list(analysis.study.groups)
    fig = go.Figure()
    for i, g in enumerate(groups):
        colour = PALETTE[i % len(PALETTE)]
        sub = d[d["group"] == g]
        for j, (animal, a) in enumerate(sub.groupby("animal", sort=False)):
            fig.add_trace(go.Scatter(x=a["day"], y=a["volume"], mode="lines", line={"color": colour, "width": 0.6},
                                     opacity=0.35, legendgroup=str(g), showlegend=False, name=str(animal),
                                     hovertemplate=f"{animal}<br>day %{{x}}<br>%{{y:.0f}} mm³<extra></extra>",
                                     visible=True if j < 200 else "legendonly"))
        agg = sub.groupby("day")["volume"].agg(["mean", "sem", "count"]).reset_index()
        fig.add_trace(go.Scatter(x=agg["day"], y=agg["mean"], mode="lines+markers", name=str(g), legendgroup=str(g),
                                 line={"color": colour, "width": 3},
                                 error_y={"type": "data", "array": agg["sem"].fillna(0), "visible": True},
                                 customdata=agg["count"],
                                 hovertemplate=f"{g}<br>day %{{x}}<br>mean %{{y:.0f}} mm³ (n=%{{customdata}})<extra></extra>"))
    fig.update_xaxes(title="day")
    fig.update_yaxes(title="tumour volume (mm³)")
    return _layout(fig, "Tumour growth (mean ± SEM; thin lines: animals)")


def kaplan_meier(analysis: Any) -> go.Figure:
    """Kaplan-Meier curves per group from the survival analysis."""
    sv = analysis.survival
    fig = go.Figure()
    if sv is None or sv.km.empty:
        return _layout(fig, "Kaplan-Meier: survival not computed")
    for i, (g, k) in enumerate(sv.km.groupby("group", sort=False)):
        colour = PALETTE[i % len(PALETTE)]
        fig.add_trace(go.Scatter(x=k["time"], y=k["survival"], mode="lines", line={"shape": "hv", "color": colour},
                                 name=str(g), hovertemplate=f"{g}<br>day %{{x}}<br>S = %{{y:.2f}}<extra></extra>"))
    p = (sv.logrank_global or {}).get("p") if isinstance(sv.logrank_global, dict) else None
    fig.update_xaxes(title="day")
    fig.update_yaxes(title="fraction without event", range=[0, 1.05])
    return _layout(fig, "Kaplan-Meier (time to endpoint)" + (f" — log-rank p = {p:.3g}" if p is not None else ""))


def forest(analysis: Any, endpoints: Sequence[str] | None = None) -> go.Figure:
    """Hazard ratio per SD with 95% CI for every biomarker and endpoint (cohorts)."""
    t = analysis.table
    fig = go.Figure()
    need = {"HR_per_SD", "HR_per_SD_lower95", "HR_per_SD_upper95", "biomarker", "endpoint"}
    if t.empty or not need <= set(t.columns):
        return _layout(fig, "Hazard ratios: no survival endpoint analysed")
    t = t[t["HR_per_SD"].notna()]
    for i, (ep, s) in enumerate(t.groupby("endpoint", sort=False)):
        if endpoints and ep not in endpoints:
            continue
        fig.add_trace(go.Scatter(
            x=s["HR_per_SD"], y=s["biomarker"] + f" ({str(ep).upper()})", mode="markers", name=str(ep).upper(),
            marker={"color": PALETTE[i % len(PALETTE)], "size": 10},
            error_x={"type": "data", "symmetric": False, "array": s["HR_per_SD_upper95"] - s["HR_per_SD"],
                     "arrayminus": s["HR_per_SD"] - s["HR_per_SD_lower95"]}))
    fig.add_vline(x=1.0, line={"dash": "dash", "color": "#777"})
    fig.update_xaxes(type="log", title="hazard ratio per SD (95% CI)")
    return _layout(fig, "Cox hazard ratios per standard deviation")


def response_auc(analysis: Any) -> go.Figure:
    """AUC (DeLong 95% CI) of every biomarker for responders vs non-responders."""
    r = analysis.response
    fig = go.Figure()
    if r is None or r.empty or "AUC" not in r.columns:
        return _layout(fig, "Response: no response column analysed")
    fig.add_trace(go.Scatter(x=r["AUC"], y=r["biomarker"], mode="markers", marker={"color": PALETTE[0], "size": 10},
                             error_x={"type": "data", "symmetric": False, "array": r["AUC_upper95"] - r["AUC"],
                                      "arrayminus": r["AUC"] - r["AUC_lower95"]}, name="AUC"))
    fig.add_vline(x=0.5, line={"dash": "dash", "color": "#777"})
    fig.update_xaxes(title="AUC, responders vs non-responders (95% CI)", range=[0, 1])
    return _layout(fig, "Response association")

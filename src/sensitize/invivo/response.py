"""Response metrics per animal and per group: TGI, T/C, AUC, best response, mRECIST.

Per animal (``time = day − time_start``, measurements at ``time >= 0``)
    * ``v0``: volume at ``time = 0`` (first measurement at or after the start when the
      start day itself was not measured);
    * ``auc``: trapezoidal area under the volume curve (mm³·day), as Xeva's ``AUC``;
    * ``nauc``: invivoSyn's normalised AUC ``2(∫log(V+1)dt − log(V0+1)·T)/T²``;
    * best response and best average response after Gao et al. (Nat Med 2015) in the exact
      variant of Xeva's ``mRECIST()`` (Mer et al., Cancer Res 2019):
      ``ΔV_t = 100 (V_t − V_0)/V_0`` over all measurements from the first (if ``V_0 = 0``
      every volume is increased by 1 mm³ first); the running average
      ``A_t = mean(ΔV_0 … ΔV_t)`` *includes* ``t = 0``; best response = ``min ΔV_t`` and
      best average response = ``min A_t`` over ``t >= min_time`` (default 10 days); with
      fewer than two measurements at ``t >= min_time`` both are NaN.  mRECIST (checked in
      this order, later wins): ``PD`` by default; ``SD`` if BR < 35 and BAR < 30; ``PR``
      if BR < −50 and BAR < −20; ``CR`` if BR < −95 and BAR < −40 (strict inequalities).
      Labels are written ``mCR``/``mPR``/``mSD``/``mPD``.
    * ``tumor_free``: the animal's last measured volume is 0 (complete regression).

Per group at the TGI day ``t``
    * ``tgi_delta = 100 (1 − mean(V_t − V_0)_T / mean(V_t − V_0)_C)`` (delta-volume TGI);
    * ``tgi_rtv = 100 (1 − mean(RTV_t)_T / mean(RTV_t)_C)`` (relative-volume TGI, CombPDX);
    * ``tc_volume = 100 mean(V_t)_T / mean(V_t)_C`` and ``tc_rtv = 100 mean(RTV)_T /
      mean(RTV)_C`` (T/C %, NCI-style on means).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sensitize.core.results import Result
from sensitize.invivo.schema import ANIMAL, DAY, GROUP, VOLUME


def mrecist_class(best_response: float, best_average_response: float) -> str | None:
    """mRECIST class from BR and BAR (Gao 2015 thresholds, Xeva's order); None if NaN."""
    if not (np.isfinite(best_response) and np.isfinite(best_average_response)):
        return None
    label = "mPD"
    if best_response < 35 and best_average_response < 30:
        label = "mSD"
    if best_response < -50 and best_average_response < -20:
        label = "mPR"
    if best_response < -95 and best_average_response < -40:
        label = "mCR"
    return label


def best_responses(time: np.ndarray, volume: np.ndarray, min_time: float = 10.0,
                   fallback: bool = False) -> dict[str, float]:
    """Best response and best average response of one animal (Xeva's rules).

    Parameters
    ----------
    time, volume
        Measurements sorted by time; ``time`` relative to the baseline measurement.
    min_time
        Only responses at ``time >= min_time`` count.
    fallback
        With fewer than two points at ``>= min_time``: False (default, Xeva's
        ``mRECIST()`` and Gao 2015) gives NaN; True reproduces the values stored in Xeva's
        ``brca`` object: the single point at ``>= min_time`` if there is one, else all
        points (including baseline).

    Returns
    -------
    dict
        ``best_response, best_response_time, best_average_response,
        best_average_response_time`` (NaN with fewer than two points at ``>= min_time``).
    """
    t = np.asarray(time, float)
    v = np.asarray(volume, float)
    nan = {"best_response": np.nan, "best_response_time": np.nan,
           "best_average_response": np.nan, "best_average_response_time": np.nan}
    if len(v) == 0:
        return nan
    if v[0] == 0:
        v = v + 1.0
    change = 100 * (v - v[0]) / v[0]
    avg = np.cumsum(change) / np.arange(1, len(change) + 1)
    sel = t >= min_time
    if sel.sum() < 2:
        if not fallback:
            return nan
        if sel.sum() == 0:
            sel = np.ones(len(t), dtype=bool)
    idx = np.flatnonzero(sel)
    i_br = idx[np.argmin(change[idx])]
    i_bar = idx[np.argmin(avg[idx])]
    return {"best_response": float(change[i_br]), "best_response_time": float(t[i_br]),
            "best_average_response": float(avg[i_bar]), "best_average_response_time": float(t[i_bar])}


@dataclass
class ResponseResult(Result):
    """Per-animal response table (``table``) and per-group TGI/T-C table (``groups``).

    ``table`` columns: ``animal, group, v0, tgi_day, v_tgi, delta_v, rtv, auc, nauc,
    best_response, best_response_time, best_average_response, best_average_response_time,
    mrecist, n_points, last_day, tumor_free``.
    """

    groups: pd.DataFrame = field(default_factory=pd.DataFrame)


def default_tgi_day(prep: pd.DataFrame, control: str | None) -> float:
    """Last day on which the control arm (else every arm) still has two animals measured."""
    d = prep[prep["time"] >= 0]
    ref = d[d[GROUP] == control] if control is not None and (d[GROUP] == control).any() else d
    counts = ref.groupby(DAY)[ANIMAL].nunique()
    ok = counts[counts >= 2]
    return float(ok.index.max() if len(ok) else d[DAY].max())


def compute_response(prep: pd.DataFrame, groups: list[str], control: str | None = None,
                     tgi_day: float | None = None, min_time: float = 10.0,
                     fallback: bool = False) -> ResponseResult:
    """Per-animal and per-group response metrics (see module docstring for formulas).

    Parameters
    ----------
    prep
        Output of :func:`~sensitize.invivo.growth.prepare`.
    groups
        Groups in display order.
    control
        Control arm for TGI and T/C (NaN columns without one).
    tgi_day
        Day (original scale) for TGI/T-C; default :func:`default_tgi_day`.
    min_time
        mRECIST window start (days after baseline).
    fallback
        See :func:`best_responses`; ``n_window`` counts the points at ``>= min_time``.
    """
    d = prep[prep["time"] >= 0].sort_values([GROUP, ANIMAL, "time"])
    if tgi_day is None:
        tgi_day = default_tgi_day(prep, control)
    rows = []
    for (g, a), sub in d.groupby([GROUP, ANIMAL], sort=False):
        t = sub["time"].to_numpy(float)
        v = sub[VOLUME].to_numpy(float)
        br = best_responses(t, v, min_time, fallback)
        v_at = sub.loc[sub[DAY] == tgi_day, VOLUME]
        vt = float(v_at.iloc[0]) if len(v_at) else np.nan
        span = t[-1] - t[0]
        lv = np.log(v + 1)
        rows.append({
            ANIMAL: a, GROUP: g, "v0": v[0], "tgi_day": tgi_day, "v_tgi": vt, "delta_v": vt - v[0],
            "rtv": vt / v[0] if v[0] > 0 else np.nan,
            "auc": float(np.trapezoid(v, t)) if len(t) > 1 else np.nan,
            "nauc": float(2 * (np.trapezoid(lv, t) - lv[0] * span) / span**2) if span > 0 else np.nan,
            **br,
            "mrecist": mrecist_class(br["best_response"], br["best_average_response"]),
            "n_points": len(t), "n_window": int((t >= min_time).sum()), "last_day": float(sub[DAY].iloc[-1]), "tumor_free": bool(v[-1] == 0),
        })
    table = pd.DataFrame(rows)
    order = {g: i for i, g in enumerate(groups)}
    if len(table):
        table = table.sort_values([GROUP, ANIMAL], key=lambda s: s.map(order) if s.name == GROUP else s,
                                  kind="mergesort").reset_index(drop=True)
    grp_rows = []
    ctrl = table[table[GROUP] == control] if control is not None and len(table) else table.iloc[0:0]
    c_dv = ctrl["delta_v"].mean()
    c_rtv = ctrl["rtv"].mean()
    c_v = ctrl["v_tgi"].mean()
    for g in groups:
        sub = table[table[GROUP] == g]
        meas = sub[sub["v_tgi"].notna()]
        dv, rtv, vt = meas["delta_v"].mean(), meas["rtv"].mean(), meas["v_tgi"].mean()
        with np.errstate(divide="ignore", invalid="ignore"):
            grp_rows.append({
                GROUP: g, "n_animals": len(sub), "n_at_tgi_day": len(meas), "tgi_day": tgi_day,
                "mean_v": vt, "mean_delta_v": dv, "mean_rtv": rtv,
                "tgi_delta": 100 * (1 - dv / c_dv) if control is not None else np.nan,
                "tgi_rtv": 100 * (1 - rtv / c_rtv) if control is not None else np.nan,
                "tc_volume": 100 * vt / c_v if control is not None else np.nan,
                "tc_rtv": 100 * rtv / c_rtv if control is not None else np.nan,
                "mean_nauc": sub["nauc"].mean(), "mean_auc": sub["auc"].mean(),
                "n_tumor_free": int(sub["tumor_free"].sum()),
                **{f"n_{c}": int((sub["mrecist"] == c).sum()) for c in ("mCR", "mPR", "mSD", "mPD")},
            })
    return ResponseResult(table=table, params={"control": control, "tgi_day": tgi_day, "min_time": min_time,
                                               "fallback": fallback,
                                               "mrecist": "Xeva mRECIST(): running average includes t0"},
                          groups=pd.DataFrame(grp_rows))

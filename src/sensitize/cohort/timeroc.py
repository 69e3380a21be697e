"""Time-dependent ROC: cumulative/dynamic AUC with inverse-probability-of-censoring weights.

For a risk marker ``x`` (higher = higher risk) and a horizon ``t``, cases are subjects
with an event by ``t`` (:math:`T_i \\le t, \\delta_i = 1`) and controls are subjects
still event-free after ``t`` (:math:`T_j > t`).  Uno et al. (2007) and Hung & Chiang
(2010) estimate

.. math::

    \\widehat{AUC}(t) = \\frac{\\sum_i \\sum_j I(T_i \\le t, \\delta_i = 1)\\, I(T_j > t)\\,
    \\hat w_i\\, [I(x_i > x_j) + \\tfrac12 I(x_i = x_j)]}
    {\\sum_i I(T_i \\le t, \\delta_i = 1)\\, \\hat w_i \\; \\sum_j I(T_j > t)},

with :math:`\\hat w_i = 1/\\hat G(T_i^-)`, :math:`\\hat G` the Kaplan-Meier estimate of
the censoring distribution (events are taken to precede censorings at tied times).  The
controls' weight :math:`1/\\hat G(t)` is common to all of them and cancels.

References
----------
Uno H, Cai T, Tian L, Wei LJ (2007). Evaluating prediction rules for t-year survivors
with censored regression models. JASA 102:527-537.
Hung H, Chiang CT (2010). Estimation methods for time-dependent AUC models with
survival data. Can J Stat 38:8-26.
Heagerty PJ, Lumley T, Pepe MS (2000). Time-dependent ROC curves for censored survival
data and a diagnostic marker. Biometrics 56:337-344.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sensitize.core.errors import InputError
from sensitize.core.results import Result


def censoring_survival_left(time: np.ndarray, event: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Kaplan-Meier estimate of the censoring survival G(s-) (left limit) at times ``at``."""
    t = np.asarray(time, dtype=float)
    c = 1.0 - np.asarray(event, dtype=float)
    ut = np.unique(t)
    n_risk = len(t) - np.searchsorted(np.sort(t), ut, side="left")
    inv = np.searchsorted(ut, t)
    n_cens = np.bincount(inv, weights=c, minlength=len(ut))
    g = np.cumprod(1.0 - n_cens / n_risk)
    # G(s-) = product over censoring times strictly below s
    k = np.searchsorted(ut, np.asarray(at, dtype=float), side="left")
    return np.where(k > 0, g[np.maximum(k - 1, 0)], 1.0)


@dataclass
class TimeDependentAUC(Result):
    """``table``: ``time``, ``auc``, ``n_cases``, ``n_controls`` per horizon."""


def cumulative_dynamic_auc(
    time: Sequence[float] | np.ndarray | pd.Series,
    event: Sequence[float] | np.ndarray | pd.Series,
    marker: Sequence[float] | np.ndarray | pd.Series,
    times: Sequence[float] | None = None,
) -> TimeDependentAUC:
    """Uno/Hung-Chiang IPCW cumulative/dynamic AUC(t) of a risk marker.

    Parameters
    ----------
    time, event, marker
        Complete data; a *higher* marker value means *higher risk* (use ``-x`` for a
        protective biomarker, or read AUC < 0.5 as protective).
    times
        Horizons; default: the 25th, 50th and 75th percentiles of the observed event
        times.  Horizons with no case or no control give NaN.
    """
    t = np.asarray(time, dtype=float)
    d = np.asarray(event, dtype=float)
    x = np.asarray(marker, dtype=float)
    if not (len(t) == len(d) == len(x)):
        raise InputError("time, event and marker must have the same length")
    if np.isnan(t).any() or np.isnan(d).any() or np.isnan(x).any():
        raise InputError("time-dependent AUC needs complete data")
    if times is None:
        ev_t = t[d == 1]
        horizons = np.unique(np.quantile(ev_t, [0.25, 0.5, 0.75])) if len(ev_t) else np.array([])
    else:
        horizons = np.asarray(list(times), dtype=float)
    w_all = np.zeros(len(t))
    g = censoring_survival_left(t, d, t)
    with np.errstate(divide="ignore"):
        w_all = np.where(g > 0, 1.0 / g, 0.0)
    rows = []
    for h in horizons:
        case = (t <= h) & (d == 1)
        ctrl = t > h
        if not case.any() or not ctrl.any():
            rows.append({"time": float(h), "auc": np.nan, "n_cases": int(case.sum()),
                         "n_controls": int(ctrl.sum())})
            continue
        xc, xk, wc = x[case], x[ctrl], w_all[case]
        diff = xc[:, None] - xk[None, :]
        conc = (diff > 0) + 0.5 * (diff == 0)
        auc = float(np.sum(wc[:, None] * conc) / (np.sum(wc) * ctrl.sum()))
        rows.append({"time": float(h), "auc": auc, "n_cases": int(case.sum()),
                     "n_controls": int(ctrl.sum())})
    return TimeDependentAUC(pd.DataFrame(rows, columns=["time", "auc", "n_cases", "n_controls"]),
                            {"estimator": "cumulative/dynamic, IPCW (Uno 2007)",
                             "direction": "higher marker = higher risk"})

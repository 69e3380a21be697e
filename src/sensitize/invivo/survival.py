"""Survival to endpoint and complete regressions (lifelines, SciPy).

Time to event per animal (days since ``time_start``):

``endpoint`` given (volume threshold, e.g. 1000 mm³)
    event at the first day with ``volume >= endpoint``; animals that never reach it are
    censored at their last measurement (sacrificed for another reason, or alive at the
    end of the study).
``endpoint`` None
    the last measurement is the death/sacrifice day (TumGrowth's overall-survival
    convention): event there, unless the animal is flagged ``censored`` (TumGrowth's
    ``Surv``) or, without a ``censored`` column, it was still measured on the study's last
    day (alive at the end).

Estimators: Kaplan-Meier (lifelines ``KaplanMeierFitter``) with median survival and its
95% CI (``lifelines.utils.median_survival_times``); median follow-up by the reverse
Kaplan-Meier method (Schemper & Smith 1996); global and pairwise log-rank tests
(``multivariate_logrank_test``, ``pairwise_logrank_test``) with a multiplicity adjustment
(statsmodels ``multipletests``, Holm by default); Cox proportional hazards with the control
as reference (``CoxPHFitter``, Efron ties), hazard ratios with 95% CIs.  Arms where no event
occurs give infinite medians; a Cox coefficient that diverges (no event in one arm) is
flagged ``separation`` rather than reported as a finite HR.

Complete regressions: an animal is tumour-free when its last measured volume is 0 (no
palpable tumour; zeros are below detection, never logged).  Counts per arm are compared
with the control by Fisher's exact test (SciPy), Holm-adjusted.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.statistics import multivariate_logrank_test, pairwise_logrank_test
from lifelines.utils import median_survival_times
from scipy import stats
from statsmodels.stats.multitest import multipletests

from sensitize.core.results import Result
from sensitize.invivo.schema import ANIMAL, CENSORED, DAY, GROUP, VOLUME


@dataclass
class SurvivalResult(Result):
    """Time-to-endpoint analysis.

    ``table``: one row per animal (``animal, group, time, event``).

    Attributes
    ----------
    km
        Kaplan-Meier curves (``group, time, survival, lower, upper, at_risk``).
    medians
        Per group: ``n, events, median, median_lower, median_upper, followup_median``.
    logrank_global
        ``statistic, df, p`` of the k-group log-rank test.
    logrank_pairwise
        ``group1, group2, statistic, p, p_adj``.
    cox
        ``group, coef, hr, hr_lower, hr_upper, p, flag`` versus the control.
    regressions
        Complete regressions: ``group, n, tumor_free, fraction, p_vs_control, p_adj``.
    """

    km: pd.DataFrame = field(default_factory=pd.DataFrame)
    medians: pd.DataFrame = field(default_factory=pd.DataFrame)
    logrank_global: dict[str, float] = field(default_factory=dict)
    logrank_pairwise: pd.DataFrame = field(default_factory=pd.DataFrame)
    cox: pd.DataFrame = field(default_factory=pd.DataFrame)
    regressions: pd.DataFrame = field(default_factory=pd.DataFrame)


def time_to_endpoint(df: pd.DataFrame, endpoint: float | None = None, time_start: float = 0.0) -> pd.DataFrame:
    """Per-animal time to event and event flag (see module docstring for the rules)."""
    d = df.sort_values([ANIMAL, DAY])
    last_study_day = d[DAY].max()
    rows = []
    for (g, a), sub in d.groupby([GROUP, ANIMAL], sort=False):
        days = sub[DAY].to_numpy(float)
        vol = sub[VOLUME].to_numpy(float)
        if endpoint is not None:
            hit = np.flatnonzero(vol >= endpoint)
            if hit.size:
                rows.append({ANIMAL: a, GROUP: g, "time": days[hit[0]] - time_start, "event": True})
            else:
                rows.append({ANIMAL: a, GROUP: g, "time": days[-1] - time_start, "event": False})
        else:
            if CENSORED in sub.columns:
                cens = bool(sub[CENSORED].iloc[0])
            else:
                cens = bool(days[-1] >= last_study_day)
            rows.append({ANIMAL: a, GROUP: g, "time": days[-1] - time_start, "event": not cens})
    return pd.DataFrame(rows)


def _reverse_km_median(t: np.ndarray, e: np.ndarray) -> float:
    kmf = KaplanMeierFitter().fit(t, ~e)
    return float(kmf.median_survival_time_)


def survival_analysis(df: pd.DataFrame, groups: list[str], control: str | None = None,
                      endpoint: float | None = None, time_start: float = 0.0,
                      p_adjust: str = "holm") -> SurvivalResult:
    """Kaplan-Meier, log-rank, Cox and complete regressions per arm.

    Parameters
    ----------
    df
        Validated study table.
    groups
        Arms in display order.
    control
        Reference arm for Cox hazard ratios and regression comparisons (default: the first
        group).
    endpoint
        Endpoint volume; None for the last-measurement convention.
    time_start
        Day 0 of the time axis.
    p_adjust
        Multiplicity adjustment for pairwise tests.

    References
    ----------
    Davidson-Pilon C. lifelines: survival analysis in Python. JOSS 2019;4:1317.
    Schemper M, Smith TL. A note on quantifying follow-up in studies of failure time.
    Control Clin Trials 1996;17:343-346.
    """
    control = control if control is not None else groups[0]
    tte = time_to_endpoint(df[df[GROUP].isin(groups)], endpoint, time_start)
    t = tte["time"].to_numpy(float)
    e = tte["event"].to_numpy(bool)
    g = tte[GROUP].to_numpy()
    km_rows, med_rows = [], []
    for grp in groups:
        m = g == grp
        if not m.any():
            continue
        kmf = KaplanMeierFitter(label=grp).fit(t[m], e[m])
        sf = kmf.survival_function_.iloc[:, 0]
        ci = kmf.confidence_interval_
        at_risk = kmf.event_table["at_risk"].reindex(sf.index)
        km_rows.append(pd.DataFrame({GROUP: grp, "time": sf.index.to_numpy(float), "survival": sf.to_numpy(),
                                     "lower": ci.iloc[:, 0].to_numpy(), "upper": ci.iloc[:, 1].to_numpy(),
                                     "at_risk": at_risk.to_numpy()}))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mci = median_survival_times(kmf.confidence_interval_)
        med_rows.append({GROUP: grp, "n": int(m.sum()), "events": int(e[m].sum()),
                         "median": float(kmf.median_survival_time_), "median_lower": float(mci.iloc[0, 0]),
                         "median_upper": float(mci.iloc[0, 1]),
                         "followup_median": _reverse_km_median(t[m], e[m])})
    res_global: dict[str, float] = {}
    pw = pd.DataFrame(columns=["group1", "group2", "statistic", "p", "p_adj"])
    present = [x for x in groups if (g == x).any()]
    if len(present) >= 2 and e.any():
        lr = multivariate_logrank_test(t, g, e)
        res_global = {"statistic": float(lr.test_statistic), "df": float(len(present) - 1), "p": float(lr.p_value)}
        pr = pairwise_logrank_test(t, g, e).summary.reset_index()
        pr.columns = ["group1", "group2", "statistic", "p", "-log2(p)"]
        pw = pr[["group1", "group2", "statistic", "p"]].copy()
        pw["p_adj"] = multipletests(pw["p"].to_numpy(), method=p_adjust)[1]
    cox = _cox(tte, present, control)
    reg = _regressions(df, present, control, p_adjust)
    return SurvivalResult(
        table=tte, params={"endpoint": endpoint, "time_start": time_start, "control": control,
                           "p_adjust": p_adjust,
                           "rule": "first day >= endpoint" if endpoint is not None else "last measurement"},
        km=pd.concat(km_rows, ignore_index=True) if km_rows else pd.DataFrame(),
        medians=pd.DataFrame(med_rows), logrank_global=res_global, logrank_pairwise=pw, cox=cox,
        regressions=reg,
    )


def _cox(tte: pd.DataFrame, groups: list[str], control: str) -> pd.DataFrame:
    cols = ["group", "coef", "se", "hr", "hr_lower", "hr_upper", "p", "flag"]
    others = [x for x in groups if x != control]
    if control not in groups or not others or not tte["event"].any():
        return pd.DataFrame(columns=cols)
    X = pd.DataFrame({"time": tte["time"], "event": tte["event"].astype(int)})
    names = {}
    for i, grp in enumerate(others):
        col = f"g{i}"
        names[col] = grp
        X[col] = (tte[GROUP] == grp).astype(float)
    cph = CoxPHFitter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            cph.fit(X, duration_col="time", event_col="event")
        except Exception as exc:  # lifelines raises ConvergenceError (an Exception) on separation
            return pd.DataFrame([{"group": names[c], "flag": f"fit failed: {type(exc).__name__}"} for c in names],
                                columns=cols)
    s = cph.summary
    rows: list[dict[str, Any]] = []
    for c, grp in names.items():
        ev = tte.loc[tte[GROUP] == grp, "event"].sum()
        ev_c = tte.loc[tte[GROUP] == control, "event"].sum()
        flag = "separation (no events in an arm)" if ev == 0 or ev_c == 0 else ""
        rows.append({"group": grp, "coef": s.loc[c, "coef"], "se": s.loc[c, "se(coef)"],
                     "hr": s.loc[c, "exp(coef)"], "hr_lower": s.loc[c, "exp(coef) lower 95%"],
                     "hr_upper": s.loc[c, "exp(coef) upper 95%"], "p": s.loc[c, "p"], "flag": flag})
    return pd.DataFrame(rows, columns=cols)


def _regressions(df: pd.DataFrame, groups: list[str], control: str, p_adjust: str) -> pd.DataFrame:
    last = df.sort_values(DAY).groupby(ANIMAL).tail(1)
    rows = []
    ctrl = last[last[GROUP] == control]
    c_free = int((ctrl[VOLUME] == 0).sum())
    for grp in groups:
        sub = last[last[GROUP] == grp]
        free = int((sub[VOLUME] == 0).sum())
        p = np.nan
        if grp != control and len(ctrl):
            p = float(stats.fisher_exact([[free, len(sub) - free], [c_free, len(ctrl) - c_free]]).pvalue)
        rows.append({GROUP: grp, "n": len(sub), "tumor_free": free,
                     "fraction": free / len(sub) if len(sub) else np.nan, "p_vs_control": p})
    out = pd.DataFrame(rows)
    ok = out["p_vs_control"].notna().to_numpy()
    out["p_adj"] = np.nan
    if ok.any():
        out.loc[ok, "p_adj"] = multipletests(out.loc[ok, "p_vs_control"].to_numpy(), method=p_adjust)[1]
    return out

"""Survival association of a biomarker: Cox models, Kaplan-Meier, log-rank, meta-analysis.

Model fitting uses lifelines (Cox partial likelihood with Efron ties, as R's
``coxph(ties = "efron")``; Kaplan-Meier; log-rank).  Kaplan-Meier medians follow R's
``survival`` rule (first time the curve is at or below 0.5; when the curve is exactly 0.5
on a flat stretch, the midpoint of that stretch) with ``conf.type = "log"`` confidence
limits, so that numbers can be compared with ``summary(survfit(...))$table``.

References
----------
Cox DR (1972). Regression models and life-tables. JRSS-B 34:187-220.
Efron B (1977). The efficiency of Cox's likelihood function for censored data. JASA 72:557-565.
Kaplan EL, Meier P (1958). Nonparametric estimation from incomplete observations. JASA 53:457-481.
Grambsch PM, Therneau TM (1994). Proportional hazards tests and diagnostics based on
weighted residuals. Biometrika 81:515-526.
DerSimonian R, Laird N (1986). Meta-analysis in clinical trials. Control Clin Trials 7:177-188.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sensitize.core.errors import InputError
from sensitize.core.results import Result

_Z95 = float(stats.norm.ppf(0.975))


def _as_arrays(time: Any, event: Any) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(time, dtype=float)
    d = np.asarray(event, dtype=float)
    if t.shape != d.shape:
        raise InputError("time and event must have the same length")
    if np.isnan(t).any() or np.isnan(d).any():
        raise InputError("missing survival time or event (exclude incomplete rows first)")
    if (t < 0).any():
        raise InputError("negative survival times", rows=[int(i) + 1 for i in np.flatnonzero(t < 0)])
    if not np.isin(d, (0.0, 1.0)).all():
        raise InputError("events must be 0/1", rows=[int(i) + 1 for i in np.flatnonzero(~np.isin(d, (0, 1)))])
    return t, d


# ----------------------------------------------------------------------------- Cox


@dataclass
class CoxResult(Result):
    """Cox proportional-hazards fit of one biomarker (with optional covariates).

    ``table``: one row per model term (``term``, ``coef``, ``se``, ``HR``,
    ``HR_lower95``, ``HR_upper95``, ``z``, ``p``, ``ph_p``).  Typed fields describe the
    biomarker term, per unit and per SD of the biomarker.
    """

    n: int = 0
    events: int = 0
    coef: float = float("nan")
    se: float = float("nan")
    hr: float = float("nan")
    hr_lower95: float = float("nan")
    hr_upper95: float = float("nan")
    wald_p: float = float("nan")
    coef_per_sd: float = float("nan")
    hr_per_sd: float = float("nan")
    hr_per_sd_lower95: float = float("nan")
    hr_per_sd_upper95: float = float("nan")
    lrt_p: float = float("nan")
    concordance: float = float("nan")
    ph_p: float = float("nan")
    sd: float = float("nan")
    warnings: list[str] = field(default_factory=list)


def _design(x: pd.Series, covariates: pd.DataFrame | None) -> tuple[pd.DataFrame, list[str]]:
    df = pd.DataFrame({"x": x.astype(float).to_numpy()}, index=x.index)
    notes: list[str] = []
    if covariates is not None and covariates.shape[1] > 0:
        cov = covariates.loc[x.index]
        for c in cov.columns:
            col = cov[c]
            num = pd.to_numeric(col, errors="coerce")
            if num.notna().sum() == col.notna().sum() and col.nunique(dropna=True) > 2:
                df[str(c)] = num.astype(float)
            else:
                dummies = pd.get_dummies(col.astype("string"), prefix=str(c), drop_first=True,
                                         dtype=float)
                dummies[col.isna().to_numpy()] = np.nan
                if dummies.shape[1] == 0:
                    notes.append(f"covariate {c!r} is constant and was not used")
                for d in dummies.columns:
                    df[str(d)] = dummies[d]
    return df, notes


def cox_biomarker(
    time: pd.Series,
    event: pd.Series,
    x: pd.Series,
    covariates: pd.DataFrame | None = None,
    *,
    ph_test: bool = True,
) -> CoxResult:
    """Cox model of survival on a continuous biomarker, per unit and per SD.

    Parameters
    ----------
    time, event, x
        Aligned Series (same index); rows with a missing value in time, event, ``x`` or a
        covariate are excluded and counted in ``params['n_excluded']``.
    covariates
        Extra adjustment columns (numeric, or categorical -> dummy coded, first level
        as reference).
    ph_test
        Add the Grambsch-Therneau test of proportional hazards (scaled Schoenfeld
        residuals against Kaplan-Meier-transformed time, as R's ``cox.zph``).

    Notes
    -----
    Per SD: ``x`` is standardised with its mean and sample SD (n - 1) over the analysed
    rows, so ``coef_per_sd = coef * sd``.  Ties: Efron.  The concordance is that of the
    fitted linear predictor (lifelines), i.e. it follows the sign of the coefficient.
    """
    from lifelines import CoxPHFitter
    from lifelines.statistics import proportional_hazard_test

    design, notes = _design(x, covariates)
    design["T"] = pd.to_numeric(time.loc[x.index], errors="coerce").astype(float)
    design["E"] = pd.to_numeric(event.loc[x.index], errors="coerce").astype(float)
    ok = design.notna().all(axis=1)
    n_excl = int((~ok).sum())
    d = design[ok].copy()
    params: dict[str, Any] = {"ties": "efron", "n_excluded": n_excl,
                              "excluded_samples": [str(s) for s in design.index[~ok]],
                              "covariates": [c for c in d.columns if c not in ("x", "T", "E")]}
    res = CoxResult(pd.DataFrame(), params, n=len(d), events=int(d["E"].sum()))
    res.warnings.extend(notes)
    if len(d) < 3 or d["E"].sum() < 1 or d["x"].nunique() < 2:
        res.warnings.append("too few samples, events or distinct biomarker values for a Cox model")
        return res
    _as_arrays(d["T"], d["E"])
    sd = float(d["x"].std(ddof=1))
    res.sd = sd
    rows = []
    for scale in ("unit",):
        dd = d.copy()
        cph = CoxPHFitter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                cph.fit(dd, duration_col="T", event_col="E")
            except Exception as exc:  # lifelines ConvergenceError and linear-algebra failures
                res.warnings.append(f"Cox fit failed ({type(exc).__name__}: {exc})")
                return res
        for w in caught:
            msg = str(w.message).split("\n")[0]
            if msg not in res.warnings and "Series.__getitem__" not in msg:
                res.warnings.append(msg)
        s = cph.summary
        if scale == "unit":
            res.coef = float(s.loc["x", "coef"])
            res.se = float(s.loc["x", "se(coef)"])
            res.hr = float(np.exp(res.coef))
            res.hr_lower95 = float(s.loc["x", "exp(coef) lower 95%"])
            res.hr_upper95 = float(s.loc["x", "exp(coef) upper 95%"])
            res.wald_p = float(s.loc["x", "p"])
            res.lrt_p = float(cph.log_likelihood_ratio_test().p_value)
            res.concordance = float(cph.concordance_index_)
            ph = pd.Series(np.nan, index=s.index)
            if ph_test:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        pht = proportional_hazard_test(cph, dd, time_transform="km")
                    ph = pd.Series(pht.summary["p"].to_numpy(), index=[
                        i if isinstance(i, str) else i[0] for i in pht.summary.index])
                    res.ph_p = float(ph.get("x", np.nan))
                except Exception as exc:  # pragma: no cover - defensive
                    res.warnings.append(f"PH test failed: {exc}")
            for term in s.index:
                rows.append({
                    "term": "biomarker" if term == "x" else str(term),
                    "coef": float(s.loc[term, "coef"]), "se": float(s.loc[term, "se(coef)"]),
                    "HR": float(s.loc[term, "exp(coef)"]),
                    "HR_lower95": float(s.loc[term, "exp(coef) lower 95%"]),
                    "HR_upper95": float(s.loc[term, "exp(coef) upper 95%"]),
                    "z": float(s.loc[term, "z"]), "p": float(s.loc[term, "p"]),
                    "ph_p": float(ph.get(term, np.nan)),
                })
    # per SD: the Cox MLE is equivariant under x -> (x - mean) / sd, so the per-SD
    # coefficient and its SE are the per-unit ones times sd (identical to refitting)
    res.coef_per_sd = res.coef * sd
    res.hr_per_sd = float(np.exp(res.coef_per_sd))
    res.hr_per_sd_lower95 = float(np.exp(res.coef_per_sd - _Z95 * res.se * sd))
    res.hr_per_sd_upper95 = float(np.exp(res.coef_per_sd + _Z95 * res.se * sd))
    res.table = pd.DataFrame(rows)
    if res.ph_p < 0.05:
        res.warnings.append(f"proportional hazards questionable (Grambsch-Therneau p = {res.ph_p:.3g})")
    return res


# ----------------------------------------------------------------------------- KM


def km_quantile(time: np.ndarray, surv: np.ndarray, p: float = 0.5, tmax: float | None = None,
                tol: float = 1.4901161193847656e-08) -> float:
    """Time at which a step survival curve reaches ``p`` (R ``quantile.survfit`` rule).

    ``time``/``surv`` are the curve's jump times and levels (after each jump).  The
    quantile is the first time the curve is <= p; if it equals p on a flat stretch, the
    midpoint between that jump and the next (or ``tmax`` at the end of the curve).
    """
    t = np.asarray(time, dtype=float)
    s = np.asarray(surv, dtype=float)
    keep = ~np.isnan(s)
    t, s = t[keep], s[keep]
    if len(s) == 0:
        return float("nan")
    # de-duplicate flat levels (keep the first time of each level)
    first = np.r_[True, s[1:] != s[:-1]]
    t, s = t[first], s[first]
    below = np.flatnonzero(s <= p + tol)
    if len(below) == 0:
        return float("nan")
    k = int(below[0])
    if abs(s[k] - p) < tol:
        if k + 1 < len(t):
            return float((t[k] + t[k + 1]) / 2)
        return float((t[k] + (tmax if tmax is not None else t[k])) / 2)
    return float(t[k])


@dataclass
class KMResult(Result):
    """Kaplan-Meier curves by group with a log-rank test.

    ``table``: one row per group and distinct time: ``group``, ``time``, ``at_risk``,
    ``events``, ``censored``, ``survival``, ``lower95``, ``upper95`` (log-type limits,
    Greenwood variance), starting at time 0 with survival 1.  ``summary``: one row per
    group with ``n``, ``events``, ``median`` and its 95% limits (R rule),
    ``median_first_le_half`` (first time S <= 0.5, lifelines-style).
    """

    summary: pd.DataFrame = field(default_factory=pd.DataFrame)
    logrank_chisq: float = float("nan")
    logrank_df: int = 0
    logrank_p: float = float("nan")
    groups: list[str] = field(default_factory=list)

    def at_risk(self, times: Sequence[float]) -> pd.DataFrame:
        """Numbers at risk per group at the given times (for the table under a KM plot)."""
        out = {}
        for g in self.groups:
            tab = self.table[(self.table["group"] == g) & (self.table["time"] > 0)]
            tt = tab["time"].to_numpy()
            ar = tab["at_risk"].to_numpy()
            vals = []
            for t in times:
                k = np.searchsorted(tt, t, side="left")
                vals.append(int(ar[k]) if k < len(tt) else 0)
            out[g] = vals
        return pd.DataFrame(out, index=pd.Index(list(times), name="time")).T


def _km_one(t: np.ndarray, d: np.ndarray) -> pd.DataFrame:
    ut, inv = np.unique(t, return_inverse=True)
    at_risk = (len(t) - np.searchsorted(np.sort(t), ut, side="left")).astype(float)
    ev = np.bincount(inv, weights=d, minlength=len(ut)).astype(float)
    cens = np.bincount(inv, weights=1 - d, minlength=len(ut)).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(1 - ev / at_risk)
        gw = np.cumsum(np.where(at_risk > ev, ev / (at_risk * (at_risk - ev)), np.inf))
        se = np.sqrt(gw)
        lower = surv * np.exp(-_Z95 * se)
        upper = np.minimum(1.0, surv * np.exp(_Z95 * se))
    lower = np.where(surv > 0, lower, np.nan)
    upper = np.where(surv > 0, upper, np.nan)
    head = pd.DataFrame({"time": [0.0], "at_risk": [float(len(t))], "events": [0.0],
                         "censored": [0.0], "survival": [1.0], "lower95": [1.0], "upper95": [1.0]})
    body = pd.DataFrame({"time": ut, "at_risk": at_risk, "events": ev, "censored": cens,
                         "survival": surv, "lower95": lower, "upper95": upper})
    if len(ut) and ut[0] == 0:
        head = head.iloc[0:0]
    return pd.concat([head, body], ignore_index=True)


def kaplan_meier(
    time: Any,
    event: Any,
    groups: Any | None = None,
    *,
    order: Sequence[str] | None = None,
) -> KMResult:
    """Kaplan-Meier curves per group and the log-rank test between groups.

    Closed-form product-limit estimate with Greenwood variance and log-type limits, and
    :func:`logrank`; both are tested equal to lifelines' ``KaplanMeierFitter`` and
    ``multivariate_logrank_test`` (and to R's ``survfit``/``survdiff`` reference outputs).
    """
    t, d = _as_arrays(time, event)
    g = np.array(["all"] * len(t), dtype=object) if groups is None else np.asarray(groups, dtype=object)
    if len(g) != len(t):
        raise InputError("groups must have the same length as time")
    labels = list(order) if order is not None else sorted({str(v) for v in g})
    g = np.array([str(v) for v in g], dtype=object)
    tabs = []
    summ = []
    for lab in labels:
        sel = g == lab
        if not sel.any():
            continue
        tab = _km_one(t[sel], d[sel])
        tab.insert(0, "group", lab)
        tabs.append(tab)
        jumps = tab[tab["events"] > 0]
        tmax = float(t[sel].max())
        summ.append({
            "group": lab, "n": int(sel.sum()), "events": int(d[sel].sum()),
            "median": km_quantile(jumps["time"].to_numpy(), jumps["survival"].to_numpy(), 0.5, tmax),
            "median_lower95": km_quantile(tab["time"].to_numpy()[1:], tab["lower95"].to_numpy()[1:],
                                          0.5, tmax),
            "median_upper95": km_quantile(tab["time"].to_numpy()[1:], tab["upper95"].to_numpy()[1:],
                                          0.5, tmax),
            "median_first_le_half": _first_le(jumps["time"], jumps["survival"], 0.5),
        })
    table = pd.concat(tabs, ignore_index=True) if tabs else pd.DataFrame()
    res = KMResult(table, {"conf_type": "log", "median_rule": "R survival (midpoint of flat at 0.5)"},
                   summary=pd.DataFrame(summ), groups=[str(r["group"]) for r in summ])
    present = [lab for lab in labels if (g == lab).any()]
    if len(present) >= 2:
        sel = np.isin(g, present)
        res.logrank_chisq, res.logrank_df, res.logrank_p = logrank(t[sel], d[sel], g[sel])
    return res


def _first_le(time: pd.Series, surv: pd.Series, p: float) -> float:
    hit = np.flatnonzero(surv.to_numpy() <= p)
    return float(time.to_numpy()[hit[0]]) if len(hit) else float("nan")


def logrank(time: Any, event: Any, groups: Any) -> tuple[float, int, float]:
    """Log-rank test across groups (R ``survdiff``; equal to lifelines' ``multivariate_logrank_test``).

    Returns the chi-square statistic, its degrees of freedom (groups - 1) and the p-value.
    At each distinct event time, observed minus expected events per group and the
    hypergeometric covariance :math:`D(N-D)/(N-1)\\,(n_j/N)(\\delta_{jk} - n_k/N)` are
    accumulated; the statistic is :math:`(O-E)^T V^{-} (O-E)` over the first k - 1 groups.
    """
    t, d = _as_arrays(time, event)
    g = np.asarray([str(v) for v in np.asarray(groups, dtype=object)], dtype=object)
    labels, gi = np.unique(g, return_inverse=True)
    k = len(labels)
    if k < 2:
        return float("nan"), 0, float("nan")
    ev_t = np.unique(t[d == 1])
    if len(ev_t) == 0:
        return 0.0, k - 1, 1.0
    # at risk per group at each event time: n_jt = #{t_i >= tau, group j}
    n_jt = np.empty((len(ev_t), k))
    d_jt = np.empty((len(ev_t), k))
    for j in range(k):
        tj = np.sort(t[gi == j])
        n_jt[:, j] = len(tj) - np.searchsorted(tj, ev_t, side="left")
        te = t[(gi == j) & (d == 1)]
        d_jt[:, j] = np.bincount(np.searchsorted(ev_t, te), minlength=len(ev_t))[: len(ev_t)]
    n_t = n_jt.sum(axis=1)
    d_t = d_jt.sum(axis=1)
    o_minus_e = (d_jt - d_t[:, None] * n_jt / n_t[:, None]).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.where(n_t > 1, d_t * (n_t - d_t) / (n_t - 1), 0.0)
    p_jt = n_jt / n_t[:, None]
    v = np.einsum("t,tj,tk->jk", f, p_jt, -p_jt)
    v[np.diag_indices(k)] += (f[:, None] * p_jt).sum(axis=0)
    oe = o_minus_e[:-1]
    vv = v[:-1, :-1]
    chisq = float(oe @ np.linalg.pinv(vv) @ oe)
    return chisq, k - 1, float(stats.chi2.sf(chisq, k - 1))


def split_groups(x: pd.Series, method: str = "median", cut: float | None = None) -> pd.Series:
    """Group labels for a biomarker: ``median`` (low <= median < high), ``tertile`` or ``cut``.

    ``median`` follows R's ``x > median(x)`` convention (ties at the median go low);
    tertiles use the 1/3 and 2/3 sample quantiles (type 7), ``low <= q1 < mid <= q2 < high``.
    """
    v = x.astype(float)
    if method == "median":
        c = float(v.median())
        return pd.Series(np.where(v > c, "high", "low"), index=x.index).where(v.notna())
    if method == "cut":
        if cut is None:
            raise InputError("a cut value is required for method='cut'")
        return pd.Series(np.where(v > cut, "high", "low"), index=x.index).where(v.notna())
    if method == "tertile":
        q1, q2 = v.quantile([1 / 3, 2 / 3]).to_numpy()
        lab = np.where(v <= q1, "low", np.where(v <= q2, "mid", "high"))
        return pd.Series(lab, index=x.index).where(v.notna())
    raise InputError(f"unknown split method {method!r} (median, tertile, cut)")


# ----------------------------------------------------------------------------- meta


@dataclass
class MetaResult(Result):
    """Inverse-variance meta-analysis of log hazard ratios across cohorts.

    ``table``: the input rows plus ``weight_fixed`` and ``weight_random``; typed fields
    give the pooled estimates and heterogeneity.
    """

    hr_fixed: float = float("nan")
    hr_fixed_lower95: float = float("nan")
    hr_fixed_upper95: float = float("nan")
    p_fixed: float = float("nan")
    hr_random: float = float("nan")
    hr_random_lower95: float = float("nan")
    hr_random_upper95: float = float("nan")
    p_random: float = float("nan")
    tau2: float = float("nan")
    i2: float = float("nan")
    q: float = float("nan")
    q_p: float = float("nan")


def meta_analysis(table: pd.DataFrame, coef_col: str = "coef", se_col: str = "se",
                  label_col: str = "cohort") -> MetaResult:
    """Fixed-effect and DerSimonian-Laird random-effects pooling of Cox coefficients.

    Parameters
    ----------
    table
        One row per cohort with a log hazard ratio (``coef_col``) and its standard error.
    """
    tab = table[[label_col, coef_col, se_col]].dropna().copy()
    res = MetaResult(tab, {"method": "inverse variance; DerSimonian-Laird tau^2"})
    k = len(tab)
    if k == 0:
        return res
    b = tab[coef_col].to_numpy(float)
    se = tab[se_col].to_numpy(float)
    w = 1 / se**2
    bf = float(np.sum(w * b) / np.sum(w))
    sef = float(np.sqrt(1 / np.sum(w)))
    q = float(np.sum(w * (b - bf) ** 2))
    tau2 = max(0.0, (q - (k - 1)) / (np.sum(w) - np.sum(w**2) / np.sum(w))) if k > 1 else 0.0
    wr = 1 / (se**2 + tau2)
    br = float(np.sum(wr * b) / np.sum(wr))
    ser = float(np.sqrt(1 / np.sum(wr)))
    res.hr_fixed, res.hr_fixed_lower95, res.hr_fixed_upper95 = (
        float(np.exp(bf)), float(np.exp(bf - _Z95 * sef)), float(np.exp(bf + _Z95 * sef)))
    res.p_fixed = float(2 * stats.norm.sf(abs(bf / sef)))
    res.hr_random, res.hr_random_lower95, res.hr_random_upper95 = (
        float(np.exp(br)), float(np.exp(br - _Z95 * ser)), float(np.exp(br + _Z95 * ser)))
    res.p_random = float(2 * stats.norm.sf(abs(br / ser)))
    res.tau2, res.q = float(tau2), q
    res.q_p = float(stats.chi2.sf(q, k - 1)) if k > 1 else float("nan")
    res.i2 = float(max(0.0, (q - (k - 1)) / q)) if k > 1 and q > 0 else 0.0
    tab["weight_fixed"] = w / w.sum()
    tab["weight_random"] = wr / wr.sum()
    res.table = tab
    return res

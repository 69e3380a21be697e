"""Tumour growth per group: mixed models, growth curves, cross-sectional tests.

Exponential mixed model (SynergyLMM)
    ``log RTV_i(t) = β_g(i) · t + b_i · t + ε_i(t)``, ``b_i ~ N(0, σ_b²)``,
    ``ε ~ N(0, σ²)``, fitted by REML to the measurements after ``time_start`` with
    ``RTV = V(t) / V(time_start)`` (Romero-Becerra et al., Nat Commun 2025; the
    ``nlme::lme(logRTV ~ 0 + Time:Treatment, random = ~ 0 + Time | SampleID)`` of
    ``SynergyLMM::lmmModel``).  ``β_g`` is the specific growth rate of group ``g`` (per
    day); the doubling time is ``ln 2 / β_g``.

Longitudinal model (TumGrowth)
    log volume (or log RTV) with one intercept and one slope per group, and the
    random-effect structure (random intercept, random slope, or both) chosen by AIC
    among REML fits with identical fixed effects (Enot et al., OncoImmunology 2018).  The
    global time × treatment test is a likelihood-ratio test of ML fits with and without
    group-specific slopes; pairwise slope contrasts are Wald tests with a multiplicity
    adjustment (Holm by default, statsmodels ``multipletests``).

Growth curves
    Per group, the exponential ``log V = log V0 + r t`` and the Gompertz
    ``log V = log V0 + (a / b)(1 - e^{-b t})`` (Benzekry et al., PLoS Comput Biol 2014)
    fitted by nonlinear least squares on log volume (SciPy ``curve_fit``), with AIC.

Zeros (no palpable tumour) are below detection: before any logarithm, volumes below the
detection limit (default: half the smallest positive volume of the study) are set to the
limit; the rows are marked ``below_detection``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats
from statsmodels.stats.multitest import multipletests

from sensitize.core.results import Result
from sensitize.invivo.mixed import MixedFit, cluster_robust_vcov, fit_mixedlm
from sensitize.invivo.schema import ANIMAL, DAY, GROUP, VOLUME


def detection_limit_default(df: pd.DataFrame) -> float:
    """Half the smallest positive volume of the study (1.0 when none is positive)."""
    pos = df.loc[df[VOLUME] > 0, VOLUME]
    return float(pos.min() / 2) if len(pos) else 1.0


def prepare(df: pd.DataFrame, time_start: float, detection_limit: float) -> pd.DataFrame:
    """Add ``time``, ``v0``, ``rtv``, ``log_volume``, ``log_rtv`` and ``below_detection``.

    ``time = day - time_start``; ``v0`` is the volume measured at ``time_start`` (NaN
    when the animal has no measurement that day); volumes below ``detection_limit`` are
    raised to it before logs (``rtv`` uses the raw volumes and is NaN when ``v0 == 0``).
    """
    out = df.copy()
    out["time"] = out[DAY] - time_start
    base = out.loc[out["time"] == 0].set_index(ANIMAL)[VOLUME]
    out["v0"] = out[ANIMAL].map(base).astype(float)
    out["below_detection"] = out[VOLUME] < detection_limit
    vol = np.maximum(out[VOLUME].to_numpy(dtype=float), detection_limit)
    v0 = np.maximum(out["v0"].to_numpy(dtype=float), detection_limit)
    out["log_volume"] = np.log(vol)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["rtv"] = np.where(out["v0"] > 0, out[VOLUME] / out["v0"], np.nan)
        out["log_rtv"] = np.where(out["v0"] > 0, np.log(vol) - np.log(v0), np.nan)
    return out


@dataclass
class GrowthRates(Result):
    """Specific growth rates per group from the exponential mixed model on log RTV.

    ``table`` columns: ``group, rate, se, lower, upper, doubling_time, n_animals, n_obs``.

    Attributes
    ----------
    fit
        The underlying :class:`~sensitize.invivo.mixed.MixedFit`.
    sd_ranef, sd_resid
        Standard deviations of the random slope and of the residual.
    """

    fit: MixedFit | None = None
    sd_ranef: float = float("nan")
    sd_resid: float = float("nan")
    data: pd.DataFrame = field(default_factory=pd.DataFrame)

    def vcov(self, robust: bool = False, type: str = "CR2") -> np.ndarray:
        """Covariance of the group rates: model-based (GLS) or cluster-robust."""
        if self.fit is None:
            raise ValueError("no model fitted")
        if not robust:
            return self.fit.cov_beta
        resid = self.fit.y - self.fit.X @ self.fit.beta
        return cluster_robust_vcov(self.fit.X, resid, self.fit.blocks(), self.fit.cov_beta, type=type)


def model_frame(prep: pd.DataFrame, groups: list[str], time_end: float | None = None,
                min_observations: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows entering the exponential model and the animals excluded, with reasons.

    Kept: ``time > 0`` (and ``<= time_end``), finite ``log_rtv`` (animals without a
    baseline at ``time_start`` or with baseline volume 0 are excluded), animals with at
    least ``min_observations`` measurements from ``time_start`` on.
    """
    d = prep[(prep["time"] >= 0) & prep[GROUP].isin(groups)]
    if time_end is not None:
        d = d[d["time"] <= time_end]
    excluded = []
    counts = d.groupby(ANIMAL).size()
    few = counts[counts < min_observations].index
    for a in few:
        excluded.append({"animal": a, "reason": f"fewer than {min_observations} measurements"})
    d = d[~d[ANIMAL].isin(few)]
    nob = d.groupby(ANIMAL)["v0"].first()
    for a in nob[nob.isna()].index:
        excluded.append({"animal": a, "reason": "no measurement at the start day (no baseline for RTV)"})
    for a in nob[nob == 0].index:
        excluded.append({"animal": a, "reason": "baseline volume 0 (RTV undefined)"})
    d = d[d[ANIMAL].isin(nob[nob > 0].index)]
    d = d[d["time"] > 0]
    return d.reset_index(drop=True), pd.DataFrame(excluded, columns=["animal", "reason"])


def fit_exponential_lmm(prep: pd.DataFrame, groups: list[str], time_end: float | None = None,
                        min_observations: int = 1) -> GrowthRates:
    """Fit SynergyLMM's exponential mixed model and return the group growth rates.

    Parameters
    ----------
    prep
        Output of :func:`prepare`.
    groups
        Groups to include, in the order of the coefficients.
    time_end
        Last time (since start) included.
    min_observations
        Minimum number of measurements (from the start day) for an animal to enter.

    Returns
    -------
    GrowthRates
        Rates with model-based SEs and 95% Wald intervals, doubling times.

    References
    ----------
    Romero-Becerra R et al. Nat Commun 2025;16:10151.
    """
    d, excluded = model_frame(prep, groups, time_end, min_observations)
    present = [g for g in groups if (d[GROUP] == g).any()]
    if len(d) == 0 or d[ANIMAL].nunique() < 2:
        raise ValueError("fewer than two animals with a baseline and a later measurement")
    t = d["time"].to_numpy(float)
    X = np.column_stack([(d[GROUP] == g).to_numpy(float) * t for g in present])
    fit = fit_mixedlm(d["log_rtv"].to_numpy(float), X, d[ANIMAL].to_numpy(), t[:, None],
                      [f"time:{g}" for g in present], ["time"])
    se = fit.se
    z = stats.norm.ppf(0.975)
    n_anim = d.groupby(GROUP)[ANIMAL].nunique()
    n_obs = d.groupby(GROUP).size()
    rows = []
    for g in groups:
        if g in present:
            k = present.index(g)
            r, s = fit.beta[k], se[k]
            rows.append({GROUP: g, "rate": r, "se": s, "lower": r - z * s, "upper": r + z * s,
                         "doubling_time": np.log(2) / r if r > 0 else np.inf,
                         "n_animals": int(n_anim.get(g, 0)), "n_obs": int(n_obs.get(g, 0))})
        else:
            rows.append({GROUP: g, "rate": np.nan, "se": np.nan, "lower": np.nan, "upper": np.nan,
                         "doubling_time": np.nan, "n_animals": 0, "n_obs": 0})
    res = GrowthRates(
        table=pd.DataFrame(rows),
        params={"model": "logRTV ~ 0 + time:group, random = ~ 0 + time | animal (REML)",
                "time_end": time_end, "min_observations": min_observations,
                "optimizer": fit.method, "converged": fit.converged,
                "excluded_animals": excluded.to_dict("records")},
        fit=fit, sd_ranef=float(np.sqrt(fit.cov_re[0, 0])), sd_resid=float(np.sqrt(fit.scale)), data=d,
    )
    return res


@dataclass
class LongitudinalResult(Result):
    """TumGrowth-style longitudinal analysis.

    ``table``: pairwise slope contrasts (``group1, group2, estimate, se, z, p, p_adj``).

    Attributes
    ----------
    slopes
        Per-group slope (per day) with SE.
    random_selection
        AIC of each candidate random-effect structure (``selected`` marks the chosen one).
    global_test
        Likelihood-ratio test of group-specific slopes: ``lr, df, p``.
    fit
        The selected REML fit.
    """

    slopes: pd.DataFrame = field(default_factory=pd.DataFrame)
    random_selection: pd.DataFrame = field(default_factory=pd.DataFrame)
    global_test: dict[str, float] = field(default_factory=dict)
    fit: MixedFit | None = None


_RANDOM = {"intercept": ["intercept"], "slope": ["time"], "intercept+slope": ["intercept", "time"]}


def _z(d: pd.DataFrame, structure: str) -> np.ndarray:
    cols = []
    for term in _RANDOM[structure]:
        cols.append(np.ones(len(d)) if term == "intercept" else d["time"].to_numpy(float))
    return np.column_stack(cols)


def fit_longitudinal(prep: pd.DataFrame, groups: list[str], response: str = "log_volume",
                     random: str = "auto", p_adjust: str = "holm") -> LongitudinalResult:
    """TumGrowth's longitudinal analysis on log volume or log relative volume.

    Parameters
    ----------
    prep
        Output of :func:`prepare`.
    groups
        Groups compared (at least two).
    response
        ``"log_volume"`` (intercept and slope per group) or ``"log_rtv"`` (slope per group
        through the origin, measurements after the start day).
    random
        ``"auto"`` (AIC among ``intercept``, ``slope``, ``intercept+slope``; only
        ``slope`` for ``log_rtv``) or one of them.
    p_adjust
        Multiplicity adjustment of pairwise slope contrasts (statsmodels method name).

    References
    ----------
    Enot DP et al. TumGrowth. OncoImmunology 2018;7:e1462431.
    """
    if response not in {"log_volume", "log_rtv"}:
        raise ValueError("response must be 'log_volume' or 'log_rtv'")
    d = prep[prep[GROUP].isin(groups) & (prep["time"] >= 0)].copy()
    if response == "log_rtv":
        d = d[(d["time"] > 0) & np.isfinite(d["log_rtv"])]
    counts = d.groupby(ANIMAL).size()
    d = d[d[ANIMAL].isin(counts[counts >= 2].index)]
    present = [g for g in groups if (d[GROUP] == g).any()]
    if len(present) < 2:
        raise ValueError("at least two groups with animals measured twice are needed")
    t = d["time"].to_numpy(float)
    ind = np.column_stack([(d[GROUP] == g).to_numpy(float) for g in present])
    slope_cols = ind * t[:, None]
    if response == "log_volume":
        X = np.hstack([ind, slope_cols])
        names = [f"intercept:{g}" for g in present] + [f"time:{g}" for g in present]
        X0 = np.hstack([ind, t[:, None]])
        candidates = list(_RANDOM) if random == "auto" else [random]
    else:
        X = slope_cols
        names = [f"time:{g}" for g in present]
        X0 = t[:, None]
        candidates = ["slope"] if random == "auto" else [random]
    y = d[response].to_numpy(float)
    grp = d[ANIMAL].to_numpy()
    fits: dict[str, MixedFit] = {}
    sel_rows = []
    for c in candidates:
        try:
            fits[c] = fit_mixedlm(y, X, grp, _z(d, c), names, _RANDOM[c])
            sel_rows.append({"random": c, "aic": fits[c].aic, "llf_reml": fits[c].llf, "converged": fits[c].converged})
        except ValueError as exc:
            sel_rows.append({"random": c, "aic": np.nan, "llf_reml": np.nan, "converged": False, "error": str(exc)})
    sel = pd.DataFrame(sel_rows)
    if not fits:
        raise ValueError("no random-effect structure could be fitted")
    best = min(fits, key=lambda k: fits[k].aic)
    sel["selected"] = sel["random"] == best
    fit = fits[best]
    Zb = _z(d, best)
    full_ml = fit_mixedlm(y, X, grp, Zb, names, _RANDOM[best], reml=False)
    red_ml = fit_mixedlm(y, X0, grp, Zb, [f"b{i}" for i in range(X0.shape[1])], _RANDOM[best], reml=False)
    lr = max(2 * (full_ml.llf - red_ml.llf), 0.0)
    df_lr = X.shape[1] - X0.shape[1]
    glob = {"lr": lr, "df": float(df_lr), "p": float(stats.chi2.sf(lr, df_lr))}
    k0 = len(names) - len(present)
    b = fit.beta[k0:]
    V = fit.cov_beta[k0:, k0:]
    slopes = pd.DataFrame({GROUP: present, "slope": b, "se": np.sqrt(np.diag(V))})
    rows = []
    for i in range(len(present)):
        for j in range(i + 1, len(present)):
            est = b[i] - b[j]
            se = float(np.sqrt(V[i, i] + V[j, j] - 2 * V[i, j]))
            zz = est / se
            rows.append({"group1": present[i], "group2": present[j], "estimate": est, "se": se, "z": zz,
                         "p": 2 * stats.norm.sf(abs(zz))})
    table = pd.DataFrame(rows)
    if len(table):
        table["p_adj"] = multipletests(table["p"].to_numpy(), method=p_adjust)[1]
    return LongitudinalResult(
        table=table,
        params={"response": response, "random": best, "p_adjust": p_adjust},
        slopes=slopes, random_selection=sel, global_test=glob, fit=fit,
    )


def _exp_model(t: np.ndarray, lv0: float, r: float) -> np.ndarray:
    return lv0 + r * t


def _gompertz(t: np.ndarray, lv0: float, a: float, b: float) -> np.ndarray:
    b = max(b, 1e-8)
    return lv0 + (a / b) * (1 - np.exp(-b * t))


def fit_growth_curves(prep: pd.DataFrame, groups: list[str]) -> Result:
    """Exponential and Gompertz curves per group by nonlinear least squares on log volume.

    Returns a :class:`Result` with one row per group and model: ``group, model, log_v0,
    rate`` (exponential ``r``; Gompertz initial rate ``a``), ``b`` (Gompertz deceleration),
    ``plateau`` (Gompertz ``V0·exp(a/b)``), ``rss, aic, n``.  AIC is Gaussian:
    ``n log(RSS/n) + 2k``.

    References
    ----------
    Benzekry S et al. Classical mathematical models for description and prediction of
    experimental tumor growth. PLoS Comput Biol 2014;10:e1003800.
    """
    rows: list[dict[str, Any]] = []
    d = prep[prep["time"] >= 0]
    for g in groups:
        sub = d[d[GROUP] == g]
        t = sub["time"].to_numpy(float)
        y = sub["log_volume"].to_numpy(float)
        n = len(t)
        if n < 4 or np.ptp(t) == 0:
            rows.append({GROUP: g, "model": "exponential", "n": n, "note": "too few measurements"})
            continue
        pe, _ = optimize.curve_fit(_exp_model, t, y, p0=[y[t == t.min()].mean(), 0.05])
        rss = float(np.sum((y - _exp_model(t, *pe)) ** 2))
        rows.append({GROUP: g, "model": "exponential", "log_v0": pe[0], "rate": pe[1], "b": np.nan,
                     "plateau": np.nan, "rss": rss, "aic": n * np.log(max(rss, 1e-300) / n) + 4, "n": n})
        try:
            pg, _ = optimize.curve_fit(_gompertz, t, y, p0=[pe[0], max(pe[1], 1e-3) * 1.5, 0.02],
                                       bounds=([-np.inf, -10, 1e-8], [np.inf, 10, 10]), maxfev=20000)
            rss_g = float(np.sum((y - _gompertz(t, *pg)) ** 2))
            rows.append({GROUP: g, "model": "gompertz", "log_v0": pg[0], "rate": pg[1], "b": pg[2],
                         "plateau": float(np.exp(pg[0] + pg[1] / pg[2])) if pg[1] / pg[2] < 700 else np.inf,
                         "rss": rss_g, "aic": n * np.log(max(rss_g, 1e-300) / n) + 6, "n": n})
        except (RuntimeError, ValueError) as exc:
            rows.append({GROUP: g, "model": "gompertz", "n": n, "note": f"fit failed: {exc}"})
    return Result(table=pd.DataFrame(rows), params={"response": "log volume", "method": "scipy curve_fit"})


def cross_sectional(prep: pd.DataFrame, groups: list[str], day: float, p_adjust: str = "holm") -> Result:
    """Compare groups at one day: log volumes by Welch t-tests and Mann-Whitney tests.

    Uses each animal's measurement on ``day`` (animals not measured that day are not
    imputed).  The global tests are one-way ANOVA and Kruskal-Wallis; pairwise p-values are
    adjusted by ``p_adjust``.  ``params`` carries the global tests and group summaries.
    """
    d = prep[(prep[DAY] == day) & prep[GROUP].isin(groups)]
    present = [g for g in groups if (d[GROUP] == g).sum() >= 1]
    vals = {g: d.loc[d[GROUP] == g, "log_volume"].to_numpy(float) for g in present}
    raw = {g: d.loc[d[GROUP] == g, VOLUME].to_numpy(float) for g in present}
    rows = []
    for i in range(len(present)):
        for j in range(i + 1, len(present)):
            a, b = vals[present[i]], vals[present[j]]
            row: dict[str, Any] = {"group1": present[i], "group2": present[j], "n1": len(a), "n2": len(b),
                                   "diff_log_volume": float(a.mean() - b.mean()) if len(a) and len(b) else np.nan}
            if len(a) >= 2 and len(b) >= 2:
                row["p_welch"] = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
                row["p_mannwhitney"] = float(stats.mannwhitneyu(raw[present[i]], raw[present[j]]).pvalue)
            else:
                row["p_welch"] = np.nan
                row["p_mannwhitney"] = np.nan
            rows.append(row)
    table = pd.DataFrame(rows)
    for col in ("p_welch", "p_mannwhitney"):
        if len(table):
            ok = table[col].notna().to_numpy()
            adj = np.full(len(table), np.nan)
            if ok.any():
                adj[ok] = multipletests(table.loc[ok, col].to_numpy(), method=p_adjust)[1]
            table[col + "_adj"] = adj
    ok_groups = [vals[g] for g in present if len(vals[g]) >= 2]
    glob: dict[str, float] = {}
    if len(ok_groups) >= 2:
        glob["anova_p"] = float(stats.f_oneway(*ok_groups).pvalue)
        glob["kruskal_p"] = float(stats.kruskal(*[raw[g] for g in present if len(raw[g]) >= 2]).pvalue)
    summary = d.groupby(GROUP)[VOLUME].agg(["count", "mean", "median", "std"]).reset_index()
    return Result(table=table, params={"day": day, "p_adjust": p_adjust, "global": glob,
                                       "summary": summary.to_dict("records")})


def diagnostics(fit: MixedFit, data: pd.DataFrame) -> Result:
    """Residual and random-effect diagnostics of a mixed model.

    ``table``: per observation ``animal, group, time, fitted, resid, std_resid``
    (conditional residuals).  ``params``: Shapiro-Wilk p-values of the standardised
    residuals and of each random effect's BLUPs, Levene's test of equal residual variance
    across groups, and the Spearman correlation of |residual| with fitted (trend in spread).
    """
    fitted = fit.fitted_conditional()
    resid = fit.y - fitted
    std = resid / np.sqrt(fit.scale)
    tab = pd.DataFrame({ANIMAL: fit.groups, GROUP: data[GROUP].to_numpy(), "time": data["time"].to_numpy(),
                        "fitted": fitted, "resid": resid, "std_resid": std})
    out: dict[str, Any] = {}
    if len(std) >= 3:
        out["shapiro_resid_p"] = float(stats.shapiro(std).pvalue)
    for c in fit.random_effects.columns:
        v = fit.random_effects[c].to_numpy(float)
        if len(v) >= 3 and np.ptp(v) > 0:
            out[f"shapiro_ranef_{c}_p"] = float(stats.shapiro(v).pvalue)
    groups = [g for _, g in tab.groupby(GROUP)["resid"] if len(g) >= 2]
    if len(groups) >= 2:
        out["levene_p"] = float(stats.levene(*groups).pvalue)
    if len(std) >= 3:
        out["spread_vs_fitted_rho"] = float(stats.spearmanr(np.abs(resid), fitted).statistic)
    return Result(table=tab, params=out)

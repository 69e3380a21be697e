"""In vivo drug-combination synergy.

Mixed-model synergy (SynergyLMM; Romero-Becerra et al., Nat Commun 2025; Demidenko &
Miller, PLoS ONE 2019)
    On the group growth rates ``β`` of the exponential mixed model
    (:func:`~sensitize.invivo.growth.fit_exponential_lmm`):

    * Bliss: ``H0: β_AB = β_A + β_B − β_C`` (three drugs: ``β_A + β_B + β_Z − 2β_C``);
    * HSA: ``H0: β_AB = min(β_A, β_B)`` (the single agent with the lower rate in the fit on
      all data);
    * RA (response additivity): ``H0: ∫ e^{β_AB t} = ∫ (e^{β_A t} + e^{β_B t} − e^{β_C t})``
      over ``[0, t]``, assessed by ``ra_nsim`` draws of ``β`` from ``N(β̂, V̂)``.

    For Bliss and HSA the contrast ``Δ`` (observed − expected rate) has a Wald z-test with
    standard error ``sqrt(cᵀ V̂ c)``; ``V̂`` is the model-based GLS covariance or, with
    ``robust=True`` (default), the CR2 cluster-robust covariance (clubSandwich's default in
    SynergyLMM).  Reported: synergy score ``SS = −Δ / se`` (interval ``−Δ_upper/se,
    −Δ_lower/se``; SS > 0 synergy) and combination index ``CI = exp(Δ · t)`` (interval from
    the 95% Wald limits of ``Δ``; CI < 1 synergy), at every measurement time ``t``, each
    from a refit on the data up to ``t`` (time-resolved).  For RA: ``SS = −median(δ)/sd(δ)``
    and ``CI = median(ratio)`` of the simulated AUC differences/ratios, percentile
    intervals and two-sided simulation p-values ``2·min(P(δ ≤ 0), P(δ ≥ 0))``; negative
    ratios are set to ``max(ratio) + 1`` as SynergyLMM does.

Bootstrap TGI- and AUC-based synergy (after invivoSyn; Mao & Guo, Cancer Res Commun 2023)
    Animals are resampled within group (stratified bootstrap, ``n_boot`` draws, explicit
    seed); percentile intervals; two-sided bootstrap p-value of SS = 0.

    * TGI basis (at one day): ``TGI_g = 1 − mean(ΔV_g)/mean(ΔV_C)`` (``ΔV = V_t − V_0``)
      or ``1 − mean(RTV_g)/mean(RTV_C)``; expected combination TGI: Bliss
      ``1 − Π(1 − TGI_i)``, HSA ``max TGI_i``, RA ``Σ TGI_i``.  ``SS = 100 (TGI_AB −
      TGI_exp)``; ``CI = (1 − TGI_AB)/(1 − TGI_exp)``.
    * AUC basis: per animal the normalised AUC ``2 (∫ log(V+1) dt − log(V_0+1)·T)/T²``
      (the exponential growth rate), group means ``a_g``; survival fractions
      ``s_g(t) = exp((a_g − a_C) t)``; expected combination fraction: Bliss ``Π s_i``, HSA
      ``min s_i``, RA ``1 − Σ(1 − s_i)``; ``CI = s_AB / s_exp``, ``SS = 100 (s_exp − s_AB)``.

    Differences from invivoSyn (documented in docs/invivo.md): our TGI CI is the ratio of
    surviving fractions (< 1 synergy, the same orientation as every other CI here) where
    invivoSyn reports ``log(TGI_AB/TGI_exp)`` (> 0 synergy, the opposite sign convention);
    invivoSyn's AUC response additivity uses ``s_exp = Σ(1 − s_i)``, an inhibition compared
    with a surviving fraction, where we use ``1 − Σ(1 − s_i)`` (the additive inhibition
    expressed as a surviving fraction); our p-values are two-sided where invivoSyn reports
    one-sided proportions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sensitize.core.results import Result
from sensitize.invivo.growth import fit_exponential_lmm, model_frame
from sensitize.invivo.schema import ANIMAL, GROUP, VOLUME

SYNERGY_COLUMNS = ["model", "metric", "time", "estimate", "lower", "upper", "p", "se", "basis"]


@dataclass
class SynergyResult(Result):
    """Synergy estimates: ``table`` with ``model, metric, time, estimate, lower, upper, p``
    (plus ``se`` and ``basis``: ``lmm``, ``tgi`` or ``auc``).

    Attributes
    ----------
    estimates
        Time-resolved growth-rate estimates of each refit (``time, group, rate, se``).
    """

    estimates: pd.DataFrame = field(default_factory=pd.DataFrame)


def _auc_exp(b: np.ndarray, t1: float, t2: float) -> np.ndarray:
    """∫_{t1}^{t2} exp(b t) dt, vectorised, with the b → 0 limit."""
    b = np.asarray(b, float)
    small = np.abs(b) < 1e-12
    safe = np.where(small, 1.0, b)
    val = (np.exp(safe * t2) - np.exp(safe * t1)) / safe
    return np.where(small, t2 - t1, val)


def lmm_synergy(
    prep: pd.DataFrame,
    control: str,
    singles: Sequence[str],
    combination: str,
    methods: Sequence[str] = ("Bliss", "HSA", "RA"),
    robust: bool = True,
    robust_type: str = "CR2",
    time_resolved: bool = True,
    min_time: float = 0.0,
    time_end: float | None = None,
    ra_nsim: int = 1000,
    seed: int = 0,
    min_observations: int = 1,
) -> SynergyResult:
    """SynergyLMM's mixed-model synergy (Bliss, HSA, RA) over time.

    Parameters
    ----------
    prep
        Output of :func:`~sensitize.invivo.growth.prepare`.
    control, singles, combination
        Arm names: control, the two (or three) single agents, the combination.
    methods
        Any of ``"Bliss"``, ``"HSA"``, ``"RA"``.
    robust, robust_type
        Use the cluster-robust covariance (``"CR2"`` or ``"CR0"``) instead of the
        model-based one.
    time_resolved
        Refit on the data up to each measurement time (else only the last time).
    min_time
        First time (since start) reported.
    time_end
        Last time included.
    ra_nsim, seed
        Simulation draws for RA and their seed.

    Returns
    -------
    SynergyResult
    """
    if len(singles) not in (2, 3):
        raise ValueError("synergy needs two or three single-agent arms")
    for m in methods:
        if m not in {"Bliss", "HSA", "RA"}:
            raise ValueError(f"unknown synergy method {m!r}; use Bliss, HSA or RA")
    groups = [control, *singles, combination]
    full = fit_exponential_lmm(prep, groups, time_end=time_end, min_observations=min_observations)
    if full.table["rate"].isna().any():
        missing = full.table.loc[full.table["rate"].isna(), GROUP].tolist()
        raise ValueError(f"no usable animals in arm(s) {', '.join(missing)}")
    d, _ = model_frame(prep, groups, time_end, min_observations)
    times = np.sort(d["time"].unique())
    times = times[times >= min_time]
    if not time_resolved:
        times = times[-1:]
    k = len(singles)
    hsa_idx = 1 + int(np.argmin(full.fit.beta[1 : 1 + k])) if full.fit is not None else 1
    rng = np.random.default_rng(seed)
    z = stats.norm.ppf(0.975)
    rows: list[dict[str, Any]] = []
    est_rows: list[dict[str, Any]] = []
    for t in times:
        try:
            if t == d["time"].max():
                fit = full
            else:
                fit = fit_exponential_lmm(prep, groups, time_end=float(t), min_observations=min_observations)
            V = fit.vcov(robust=robust, type=robust_type)
            beta = fit.fit.beta if fit.fit is not None else None
        except (ValueError, np.linalg.LinAlgError) as exc:
            for m in methods:
                for metric in ("CI", "SS"):
                    rows.append({"model": m, "metric": metric, "time": t, "estimate": np.nan, "lower": np.nan,
                                 "upper": np.nan, "p": np.nan, "se": np.nan, "basis": "lmm", "note": str(exc)})
            continue
        if beta is None or len(beta) != len(groups):
            continue
        se_b = np.sqrt(np.diag(V))
        for gi, g in enumerate(groups):
            est_rows.append({"time": t, GROUP: g, "rate": beta[gi], "se": se_b[gi]})
        for m in methods:
            if m in ("Bliss", "HSA"):
                c = np.zeros(len(groups))
                c[-1] = 1.0
                if m == "Bliss":
                    c[1 : 1 + k] = -1.0
                    c[0] = k - 1.0
                else:
                    c[hsa_idx] = -1.0
                delta = float(c @ beta)
                se = float(np.sqrt(c @ V @ c))
                lo, hi = delta - z * se, delta + z * se
                p = float(2 * stats.norm.sf(abs(delta / se))) if se > 0 else np.nan
                rows.append({"model": m, "metric": "CI", "time": t, "estimate": np.exp(delta * t),
                             "lower": np.exp(lo * t), "upper": np.exp(hi * t), "p": p, "se": se, "basis": "lmm"})
                rows.append({"model": m, "metric": "SS", "time": t, "estimate": -delta / se, "lower": -hi / se,
                             "upper": -lo / se, "p": p, "se": se, "basis": "lmm"})
            else:
                draws = rng.multivariate_normal(beta, V, size=ra_nsim, method="eigh")
                lhs = _auc_exp(draws[:, -1], 0.0, float(t))
                rhs = sum(_auc_exp(draws[:, 1 + i], 0.0, float(t)) for i in range(k)) - (k - 1) * _auc_exp(
                    draws[:, 0], 0.0, float(t))
                dl = lhs - rhs
                ratio = lhs / rhs
                neg = ratio < 0
                if neg.any():
                    ratio = np.where(neg, np.max(ratio) + 1, ratio)
                sd = float(np.std(dl, ddof=1))
                q_d = np.quantile(dl, [0.025, 0.975])
                q_r = np.quantile(ratio, [0.025, 0.975])
                p_d = float(min(1.0, 2 * min(np.mean(dl <= 0), np.mean(dl >= 0))))
                p_r = float(min(1.0, 2 * min(np.mean(ratio <= 1), np.mean(ratio >= 1))))
                rows.append({"model": m, "metric": "CI", "time": t, "estimate": float(np.median(ratio)),
                             "lower": q_r[0], "upper": q_r[1], "p": p_r, "se": np.nan, "basis": "lmm"})
                rows.append({"model": m, "metric": "SS", "time": t, "estimate": -float(np.median(dl)) / sd,
                             "lower": -q_d[1] / sd, "upper": -q_d[0] / sd, "p": p_d, "se": sd, "basis": "lmm"})
    table = pd.DataFrame(rows)
    for col in SYNERGY_COLUMNS:
        if col not in table.columns:
            table[col] = pd.Series(dtype=float)
    return SynergyResult(
        table=table,
        params={"control": control, "singles": list(singles), "combination": combination,
                "methods": list(methods), "robust": robust, "robust_type": robust_type if robust else None,
                "time_resolved": time_resolved, "ra_nsim": ra_nsim, "seed": seed,
                "hsa_reference": groups[hsa_idx]},
        estimates=pd.DataFrame(est_rows),
    )


def normalized_auc(prep: pd.DataFrame, time_end: float | None = None) -> pd.DataFrame:
    """Per-animal AUC of log(V+1) above baseline, normalised: ``2·AUC/T²`` (invivoSyn).

    With ``V(t) = V0·e^{rt}``, ``∫_0^T (log V − log V0) dt = rT²/2``, so the statistic
    estimates the exponential growth rate ``r`` (per day).  Uses ``time >= 0`` (and
    ``<= time_end``); animals with fewer than two measurements get NaN.
    """
    d = prep[prep["time"] >= 0]
    if time_end is not None:
        d = d[d["time"] <= time_end]
    rows = []
    for (g, a), sub in d.groupby([GROUP, ANIMAL], sort=False):
        sub = sub.sort_values("time")
        t = sub["time"].to_numpy(float)
        y = np.log(sub[VOLUME].to_numpy(float) + 1)
        val = np.nan
        if len(t) > 1 and np.ptp(t) > 0:
            span = t[-1] - t[0]
            val = 2 * (np.trapezoid(y, t) - y[0] * span) / span**2
        rows.append({ANIMAL: a, GROUP: g, "nauc": val, "last_time": t[-1] if len(t) else np.nan})
    return pd.DataFrame(rows)


def _boot_means(values: dict[str, np.ndarray], n_boot: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    out = {}
    for g, x in values.items():
        idx = rng.integers(0, len(x), size=(n_boot, len(x)))
        out[g] = x[idx].mean(axis=1)
    return out


def _expected_inhibition(tgis: list[np.ndarray], method: str) -> np.ndarray:
    arr = np.vstack(tgis)
    if method == "Bliss":
        return np.asarray(1 - np.prod(1 - arr, axis=0))
    if method == "HSA":
        return np.asarray(arr.max(axis=0))
    return np.asarray(arr.sum(axis=0))


def _summarise(point_ss: float, point_ci: float, boot_ss: np.ndarray, boot_ci: np.ndarray, level: float) -> tuple:
    a = (1 - level) / 2
    ok = np.isfinite(boot_ss)
    bs = boot_ss[ok]
    bc = boot_ci[np.isfinite(boot_ci)]
    p = float(min(1.0, 2 * min(np.mean(bs <= 0), np.mean(bs >= 0)))) if bs.size else np.nan
    ss_ci = np.quantile(bs, [a, 1 - a]) if bs.size else [np.nan, np.nan]
    ci_ci = np.quantile(bc, [a, 1 - a]) if bc.size else [np.nan, np.nan]
    return p, ss_ci, ci_ci, float(np.std(bs, ddof=1)) if bs.size > 1 else np.nan, \
        float(np.std(bc, ddof=1)) if bc.size > 1 else np.nan


def bootstrap_synergy(
    prep: pd.DataFrame,
    control: str,
    singles: Sequence[str],
    combination: str,
    basis: str = "tgi",
    times: Sequence[float] | None = None,
    tgi_variable: str = "delta",
    methods: Sequence[str] = ("Bliss", "HSA", "RA"),
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    auc_time_end: float | None = None,
) -> SynergyResult:
    """Bootstrap TGI- or AUC-based synergy (invivoSyn's definitions, corrected).

    Parameters
    ----------
    prep
        Output of :func:`~sensitize.invivo.growth.prepare`.
    control, singles, combination
        Arm names.
    basis
        ``"tgi"``: TGI at each of ``times`` (one bootstrap per time, animals measured that
        day); ``"auc"``: normalised AUC over all data up to ``auc_time_end`` (one
        bootstrap), evaluated at each of ``times``.
    times
        Times since start (default: every measurement time > 0 of the combination arm).
    tgi_variable
        ``"delta"`` (``V_t − V_0``) or ``"rtv"`` (``V_t / V_0``).
    methods, n_boot, seed, level
        Reference models, bootstrap draws, seed, interval level.

    References
    ----------
    Mao B, Guo S. Cancer Res Commun 2023;3:2146-2157.
    """
    if basis not in {"tgi", "auc"}:
        raise ValueError("basis must be 'tgi' or 'auc'")
    if tgi_variable not in {"delta", "rtv"}:
        raise ValueError("tgi_variable must be 'delta' or 'rtv'")
    arms = [control, *singles, combination]
    d = prep[prep[GROUP].isin(arms)]
    if times is None:
        times = sorted(t for t in d.loc[(d[GROUP] == combination) & (d["time"] > 0), "time"].unique())
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    if basis == "auc":
        auc = normalized_auc(d, auc_time_end)
        vals = {g: auc.loc[(auc[GROUP] == g) & auc["nauc"].notna(), "nauc"].to_numpy(float) for g in arms}
        empty = [g for g, v in vals.items() if len(v) == 0]
        if empty:
            raise ValueError(f"no animal with an AUC in arm(s) {', '.join(empty)}")
        point = {g: np.array([v.mean()]) for g, v in vals.items()}
        boot = _boot_means(vals, n_boot, rng)
        for t in times:
            for m in methods:
                res = []
                for src in (point, boot):
                    s = {g: np.exp((src[g] - src[control]) * t) for g in arms}
                    if m == "Bliss":
                        se = np.prod([s[g] for g in singles], axis=0)
                    elif m == "HSA":
                        se = np.min([s[g] for g in singles], axis=0)
                    else:
                        se = 1 - np.sum([1 - s[g] for g in singles], axis=0)
                    with np.errstate(divide="ignore", invalid="ignore"):
                        ci = np.where(se > 0, s[combination] / se, np.nan)
                    res.append((100 * (se - s[combination]), ci))
                (ss0, ci0), (ssb, cib) = res
                p, ss_ci, ci_ci, ss_sd, ci_sd = _summarise(float(ss0[0]), float(ci0[0]), ssb, cib, level)
                rows.append({"model": m, "metric": "CI", "time": t, "estimate": float(ci0[0]), "lower": ci_ci[0],
                             "upper": ci_ci[1], "p": p, "se": ci_sd, "basis": "auc"})
                rows.append({"model": m, "metric": "SS", "time": t, "estimate": float(ss0[0]), "lower": ss_ci[0],
                             "upper": ss_ci[1], "p": p, "se": ss_sd, "basis": "auc"})
    else:
        for t in times:
            day = d[d["time"] == t]
            var = (day[VOLUME] - day["v0"]) if tgi_variable == "delta" else day["rtv"]
            vals = {g: var[(day[GROUP] == g).to_numpy() & var.notna().to_numpy()].to_numpy(float) for g in arms}
            if any(len(v) == 0 for v in vals.values()):
                continue
            point = {g: np.array([v.mean()]) for g, v in vals.items()}
            boot = _boot_means(vals, n_boot, rng)
            for m in methods:
                res = []
                for src in (point, boot):
                    with np.errstate(divide="ignore", invalid="ignore"):
                        tgi = {g: 1 - src[g] / src[control] for g in arms}
                    exp_ = _expected_inhibition([tgi[g] for g in singles], m)
                    with np.errstate(divide="ignore", invalid="ignore"):
                        ci = (1 - tgi[combination]) / (1 - exp_)
                    res.append((100 * (tgi[combination] - exp_), ci))
                (ss0, ci0), (ssb, cib) = res
                p, ss_ci, ci_ci, ss_sd, ci_sd = _summarise(float(ss0[0]), float(ci0[0]), ssb, cib, level)
                rows.append({"model": m, "metric": "CI", "time": t, "estimate": float(ci0[0]), "lower": ci_ci[0],
                             "upper": ci_ci[1], "p": p, "se": ci_sd, "basis": "tgi"})
                rows.append({"model": m, "metric": "SS", "time": t, "estimate": float(ss0[0]), "lower": ss_ci[0],
                             "upper": ss_ci[1], "p": p, "se": ss_sd, "basis": "tgi"})
    table = pd.DataFrame(rows, columns=SYNERGY_COLUMNS)
    return SynergyResult(table=table, params={"basis": basis, "tgi_variable": tgi_variable, "n_boot": n_boot,
                                              "seed": seed, "level": level, "methods": list(methods),
                                              "control": control, "singles": list(singles),
                                              "combination": combination})

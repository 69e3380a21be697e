"""Maximally selected rank statistics for a cut-point on a continuous biomarker.

Selecting the cut-point that minimises the log-rank p-value ("optimal cut-off", as in
KM-plotter or survminer's ``surv_cutpoint``) makes that minimum p-value meaningless: it
is the minimum over many correlated tests.  The maximally selected rank statistic
(Lausen & Schumacher 1992; Hothorn & Lausen 2003) gives a p-value *corrected* for the
search.  This module reproduces R's ``maxstat.test(Surv(time, event) ~ x,
smethod = "LogRank", pmethod = ..., minprop, maxprop)``:

Scores
    Log-rank scores of ``exactRankTests::cscores.Surv``:
    :math:`a_i = \\delta_i - \\sum_{j: t_j \\le t_i} \\delta_j / (N - r_j + 1)`, where
    :math:`r_j` is the rank of :math:`t_j` with ties given the maximum rank.
Statistic
    Observations sorted by ``x``; for each candidate cut (an observed value, groups
    ``x <= cut`` vs ``x > cut``, ``m`` = size of the low group, kept when
    ``max(1, floor(N*minprop)) <= m <= floor(N*maxprop)``) the linear statistic
    :math:`S_m = \\sum_{i \\le m} a_{(i)}` is standardised with its permutation moments
    :math:`E_m = m \\bar a`, :math:`V_m = m(N-m)/(N^2(N-1)) (N \\sum a^2 - (\\sum a)^2)`;
    :math:`M = \\max_m |S_m - E_m| / \\sqrt{V_m}`, the first maximising cut is returned.
P-values
    ``Lau92`` — Lausen & Schumacher (1992), Biometrics 48:73-85, improved Bonferroni
    approximation :math:`p \\approx 4\\varphi(b)/b + \\varphi(b)(b - 1/b)
    \\log(\\epsilon_2(1-\\epsilon_1)/((1-\\epsilon_2)\\epsilon_1))`.
    ``Lau94`` — Lausen, Sauerbrei & Schumacher (1994) bound over the candidate set.
    ``exact_gauss`` — the limiting Gaussian distribution of the maximum (the
    standardised statistics form a standardised Brownian bridge sampled at ``m/N``; the
    probability is computed deterministically by propagating the bridge's Markov
    transition density on a grid, instead of R's randomised ``pmvnorm``).
    ``perm`` — the conditional (permutation) distribution of Hothorn & Lausen (2003),
    Monte Carlo with an explicit seed: :math:`(1 + \\#\\{M^* \\ge M\\})/(B + 1)`.
The naive log-rank p-value at the selected cut is returned only as
``naive_p_uncorrected`` and must not be reported as the result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from sensitize.core.errors import InputError
from sensitize.core.results import Result


def logrank_scores(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """Log-rank scores of ``exactRankTests::cscores.Surv`` (ties get the maximum rank)."""
    t = np.asarray(time, dtype=float)
    d = np.asarray(event, dtype=float)
    n = len(t)
    rt = stats.rankdata(t, method="max").astype(int)
    ot = np.argsort(t, kind="stable")
    fact = d / (n - rt + 1)
    cs = np.cumsum(fact[ot])
    return d - cs[rt - 1]


def candidate_cuts(x_sorted: np.ndarray, minprop: float, maxprop: float) -> np.ndarray:
    """Sizes ``m`` of the low group at each admissible cut (0-based ``x_sorted[m-1]`` is the cut)."""
    n = len(x_sorted)
    first = np.r_[True, x_sorted[1:] != x_sorted[:-1]]
    m = np.flatnonzero(first)  # number of values strictly below each distinct value
    lo = max(1, int(np.floor(n * minprop)))
    hi = int(np.floor(n * maxprop))
    return m[(m >= lo) & (m <= hi)]


def p_lausen92(b: float, minprop: float = 0.1, maxprop: float = 0.9) -> float:
    """Lausen & Schumacher (1992) approximation of P(M >= b), clipped to [0, 1].

    The approximation is valid for large ``b``; for ``b < 1`` (where ``b - 1/b < 0``) the
    p-value is 1, as in R maxstat 0.7-25.
    """
    if b < 1:
        return 1.0
    db = stats.norm.pdf(b)
    p = 4 * db / b + db * (b - 1 / b) * np.log((maxprop * (1 - minprop)) / ((1 - maxprop) * minprop))
    return float(min(max(p, 0.0), 1.0))


def p_lausen94(b: float, n: int, m: np.ndarray) -> float:
    """Lausen, Sauerbrei & Schumacher (1994) approximation over the candidate sizes ``m``."""
    m = np.asarray(m, dtype=float)
    if len(m) < 2:
        return float(2 * stats.norm.sf(b))
    m1, m2 = m[:-1], m[1:]
    t = np.sqrt(1 - m1 * (n - m2) / ((n - m1) * m2))
    d = np.sum(1 / np.pi * np.exp(-(b**2) / 2) * (t - (b**2 / 4 - 1) * t**3 / 6))
    p = 1 - (stats.norm.cdf(b) - stats.norm.cdf(-b)) + d
    return float(min(max(p, 0.0), 1.0))


def p_exact_gauss(b: float, n: int, m: np.ndarray, grid: int = 401) -> float:
    """P(max_k |Z_k| >= b) for the limiting Gaussian law of the standardised statistics.

    The statistics at sizes ``m`` have correlation
    :math:`\\sqrt{m_i(N-m_j)/(m_j(N-m_i))}` (``m_i <= m_j``), i.e. they are
    :math:`U(t)/\\sqrt{t(1-t)}` for a Brownian bridge ``U`` at ``t = m/N``.  The bridge is
    Markov, so the probability of staying in the band is obtained by propagating its
    Gaussian transition density over a grid (trapezoidal rule, Richardson-extrapolated
    from ``grid`` and about ``grid/2`` points).  This is the quantity R's
    ``pmethod = "exactGauss"`` estimates by quasi-Monte Carlo.
    """
    fine = _band_probability(b, n, m, grid)
    coarse = _band_probability(b, n, m, grid // 2 + 1)
    inside = fine + (fine - coarse) / 3.0
    return float(min(max(1.0 - inside, 0.0), 1.0))


def _band_probability(b: float, n: int, m: np.ndarray, grid: int) -> float:
    tt = np.asarray(m, dtype=float) / n
    if len(tt) == 0:
        return float("nan")
    if len(tt) == 1:
        return float(1 - 2 * stats.norm.sf(b))
    # U(t1) ~ N(0, t1 (1 - t1))
    half = b * np.sqrt(tt * (1 - tt))
    u = np.linspace(-half[0], half[0], grid)
    w = np.full(grid, u[1] - u[0])
    w[[0, -1]] *= 0.5
    dens = stats.norm.pdf(u, scale=np.sqrt(tt[0] * (1 - tt[0])))
    for k in range(1, len(tt)):
        t0, t1 = tt[k - 1], tt[k]
        mean_coef = (1 - t1) / (1 - t0)
        sd = np.sqrt((t1 - t0) * (1 - t1) / (1 - t0))
        v = np.linspace(-half[k], half[k], grid)
        wv = np.full(grid, v[1] - v[0])
        wv[[0, -1]] *= 0.5
        z = (v[:, None] - mean_coef * u[None, :]) / sd
        kern = np.exp(-0.5 * z * z) / (sd * np.sqrt(2 * np.pi))
        dens = kern @ (dens * w)
        u, w = v, wv
    return float(np.sum(dens * w))


@dataclass
class MaxstatResult(Result):
    """Maximally selected log-rank statistic and corrected p-values.

    ``table`` has one row per admissible cut: ``cut``, ``n_low``, ``n_high``,
    ``statistic`` (standardised).  Typed fields give the selected cut and the p-values;
    ``naive_p_uncorrected`` is the log-rank p at the selected cut *as if it had been
    pre-specified* and is shown only for comparison.
    """

    cutpoint: float = float("nan")
    statistic: float = float("nan")
    n_low: int = 0
    n_high: int = 0
    p_lau92: float = float("nan")
    p_lau94: float = float("nan")
    p_exact_gauss: float = float("nan")
    p_perm: float = float("nan")
    n_perm: int = 0
    naive_p_uncorrected: float = float("nan")
    naive_chisq: float = float("nan")

    @property
    def p_corrected(self) -> float:
        """The corrected p-value reported as the result (Lausen-Schumacher 1992)."""
        return self.p_lau92


def _standardised(ys: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = ys.shape[-1]
    ss = ys.sum(axis=-1, keepdims=True) if ys.ndim > 1 else ys.sum()
    ss2 = (ys**2).sum(axis=-1, keepdims=True) if ys.ndim > 1 else (ys**2).sum()
    e = m / n * ss
    v = m * (n - m) / (n**2 * (n - 1)) * (n * ss2 - ss**2)
    return e, v


def maxstat_test(
    time: np.ndarray | pd.Series,
    event: np.ndarray | pd.Series,
    x: np.ndarray | pd.Series,
    *,
    minprop: float = 0.1,
    maxprop: float = 0.9,
    n_perm: int = 1000,
    seed: int | None = 0,
    exact_gauss: bool = True,
) -> MaxstatResult:
    """Maximally selected log-rank statistic with corrected p-values.

    Parameters
    ----------
    time, event, x
        Survival time, 0/1 event and the biomarker (no missing values).
    minprop, maxprop
        Smallest and largest fraction of samples in the low group.
    n_perm
        Permutations for the conditional Monte Carlo p-value (0 to skip).
    seed
        Seed of the permutation generator (explicit; ``None`` is refused for
        reproducibility unless ``n_perm == 0``).

    References
    ----------
    Lausen B, Schumacher M (1992). Maximally selected rank statistics. Biometrics 48:73-85.
    Lausen B, Sauerbrei W, Schumacher M (1994). Classification and regression trees (CART)
    used for the exploration of prognostic factors measured on different scales.
    Hothorn T, Lausen B (2003). On the exact distribution of maximally selected rank
    statistics. Comput Stat Data Anal 43:121-137.
    """
    t = np.asarray(time, dtype=float)
    d = np.asarray(event, dtype=float)
    xv = np.asarray(x, dtype=float)
    if not (len(t) == len(d) == len(xv)):
        raise InputError("time, event and biomarker must have the same length")
    if np.isnan(t).any() or np.isnan(d).any() or np.isnan(xv).any():
        raise InputError("maxstat_test needs complete data (no missing time, event or biomarker)")
    if n_perm > 0 and seed is None:
        raise InputError("a seed is required for the permutation p-value")
    n = len(t)
    scores = logrank_scores(t, d)
    o = np.argsort(xv, kind="stable")
    xs, ys = xv[o], scores[o]
    m = candidate_cuts(xs, minprop, maxprop)
    params = {"minprop": minprop, "maxprop": maxprop, "n_perm": n_perm, "seed": seed,
              "scores": "log-rank (cscores.Surv)", "n": n, "events": int(d.sum())}
    if len(m) == 0 or d.sum() == 0:
        return MaxstatResult(pd.DataFrame(columns=["cut", "n_low", "n_high", "statistic"]),
                             {**params, "note": "no admissible cut-point or no events"})
    e, v = _standardised(ys, m.astype(float))
    cs = np.cumsum(ys)[m - 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        test = np.abs((cs - e) / np.sqrt(v))
    k = int(np.nanargmax(test))
    stat = float(test[k])
    cut = float(xs[m[k] - 1])
    table = pd.DataFrame({"cut": xs[m - 1], "n_low": m, "n_high": n - m, "statistic": test})
    res = MaxstatResult(table, params, cutpoint=cut, statistic=stat, n_low=int(m[k]),
                        n_high=int(n - m[k]))
    res.p_lau92 = p_lausen92(stat, minprop, maxprop)
    res.p_lau94 = p_lausen94(stat, n, m)
    if exact_gauss:
        res.p_exact_gauss = p_exact_gauss(stat, n, m)
    if n_perm > 0:
        rng = np.random.default_rng(seed)
        exceed = 0
        chunk = max(1, min(n_perm, 2_000_000 // max(n, 1)))
        done = 0
        while done < n_perm:
            b = min(chunk, n_perm - done)
            perm = rng.permuted(np.tile(ys, (b, 1)), axis=1)
            csp = np.cumsum(perm, axis=1)[:, m - 1]
            with np.errstate(invalid="ignore", divide="ignore"):
                mx = np.nanmax(np.abs((csp - e) / np.sqrt(v)), axis=1)
            exceed += int(np.sum(mx >= stat * (1 - 1e-12)))
            done += b
        res.p_perm = (1 + exceed) / (n_perm + 1)
        res.n_perm = n_perm
    # naive log-rank at the chosen cut (shown only as such)
    low = xv <= cut
    res.naive_chisq, res.naive_p_uncorrected = _logrank_two_groups(t, d, low)
    return res


def _logrank_two_groups(t: np.ndarray, d: np.ndarray, group: np.ndarray) -> tuple[float, float]:
    from sensitize.cohort.survival import logrank

    chisq, _, p = logrank(t, d, np.where(group, "low", "high"))
    return chisq, p

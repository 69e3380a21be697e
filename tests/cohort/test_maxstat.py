"""Maximally selected log-rank statistics: R maxstat reference numbers and invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sensitize.cohort.maxstat import (
    candidate_cuts,
    logrank_scores,
    maxstat_test,
    p_exact_gauss,
    p_lausen92,
    p_lausen94,
)
from sensitize.core.errors import InputError
from tests.cohort._ref import combos, ref_float, ref_values, survival_inputs

ALL = combos()


def test_lausen92_published_formula_worked_example() -> None:
    # b = 3.4049508638587787, minprop 0.1, maxprop 0.9: phi(b) (b - 1/b) log(81) + 4 phi(b)/b
    b = 3.4049508638587787
    phi = np.exp(-b * b / 2) / np.sqrt(2 * np.pi)
    expected = phi * (b - 1 / b) * np.log(0.9 * 0.9 / (0.1 * 0.1)) + 4 * phi / b
    assert p_lausen92(b) == pytest.approx(expected, rel=1e-14)
    assert p_lausen92(b) == pytest.approx(0.017989206071653895, rel=1e-12)  # R maxstat 0.7-25
    # symmetric interval narrower -> smaller correction
    assert p_lausen92(b, 0.25, 0.75) < p_lausen92(b, 0.1, 0.9)


def test_logrank_scores_cscores_ties() -> None:
    # cscores.Surv: score = event - cumsum(event/(N - rank + 1)), ties get the max rank
    t = np.array([1.0, 2.0, 2.0, 3.0])
    d = np.array([1.0, 1.0, 0.0, 1.0])
    s = logrank_scores(t, d)
    # ranks (max): 1, 3, 3, 4; fact = d/(N - r + 1) = 1/4, 1/2, 0, 1/1
    c1 = 1 / 4
    c2 = c1 + 1 / 2 + 0
    c3 = c2 + 1
    assert s == pytest.approx([1 - c1, 1 - c2, 0 - c2, 1 - c3])


def test_candidate_cuts_rule() -> None:
    x = np.sort(np.array([1, 2, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11.0]))
    m = candidate_cuts(x, 0.1, 0.9)
    # m = #values below each distinct value, kept if max(1, floor(1.2)) <= m <= floor(10.8)
    assert list(m) == [1, 3, 4, 5, 6, 7, 8, 9, 10]


@pytest.mark.reference
@pytest.mark.parametrize("cohort,feature,endpoint", ALL)
def test_cut_statistic_lau92_lau94_match_r(cohort: str, feature: str, endpoint: str) -> None:
    t, e, x = survival_inputs(cohort, feature, endpoint)
    ref = ref_values(cohort, feature, endpoint)
    r = maxstat_test(t, e, x, n_perm=0, exact_gauss=False)
    assert r.cutpoint == pytest.approx(ref_float(ref, "maxstat_Lau92_cut"), abs=1e-12)
    assert r.statistic == pytest.approx(ref_float(ref, "maxstat_Lau92_statistic"), rel=1e-10)
    assert r.n_low == int(ref_float(ref, "maxstat_cut_n_low"))
    assert r.n_high == int(ref_float(ref, "maxstat_cut_n_high"))
    # R does not clip these approximations at 1; we do
    assert r.p_lau92 == pytest.approx(min(1.0, ref_float(ref, "maxstat_Lau92_p")), rel=1e-9, abs=1e-14)
    assert r.p_lau94 == pytest.approx(min(1.0, ref_float(ref, "maxstat_Lau94_p")), rel=1e-9, abs=1e-14)
    assert r.naive_chisq == pytest.approx(ref_float(ref, "maxstat_cut_naive_logrank_chisq"), rel=1e-9)
    assert r.naive_p_uncorrected == pytest.approx(ref_float(ref, "maxstat_cut_naive_logrank_p"), rel=1e-8)


@pytest.mark.reference
@pytest.mark.parametrize("cohort,feature,endpoint", ALL[::6])
def test_exact_gauss_matches_r_pmvnorm(cohort: str, feature: str, endpoint: str) -> None:
    t, e, x = survival_inputs(cohort, feature, endpoint)
    ref = ref_values(cohort, feature, endpoint)
    r = maxstat_test(t, e, x, n_perm=0, exact_gauss=True)
    tight = ref_float(ref, "maxstat_exactGauss_abseps1e-4_maxpts1e6_p")
    err = ref_float(ref, "maxstat_exactGauss_abseps1e-4_maxpts1e6_pmvnorm_abs_error_estimate")
    assert abs(r.p_exact_gauss - tight) <= max(3 * err, 3e-4)


@pytest.mark.reference
@pytest.mark.parametrize("cohort,feature,endpoint", ALL[1::8])
def test_permutation_p_within_monte_carlo_error_of_r(cohort: str, feature: str, endpoint: str) -> None:
    t, e, x = survival_inputs(cohort, feature, endpoint)
    ref = ref_values(cohort, feature, endpoint)
    r = maxstat_test(t, e, x, n_perm=2000, seed=1, exact_gauss=False)
    p_r = ref_float(ref, "maxstat_condMC_p")  # B = 9999 in R
    se = np.sqrt(p_r * (1 - p_r) / 2000 + p_r * (1 - p_r) / 9999)
    assert abs(r.p_perm - p_r) <= 4 * se + 1 / 2001


def test_permutation_seeded_reproducible_and_valid() -> None:
    rng = np.random.default_rng(3)
    t = rng.exponential(10, 60)
    e = (rng.uniform(size=60) < 0.7).astype(float)
    x = rng.normal(size=60)
    a = maxstat_test(t, e, x, n_perm=300, seed=11)
    b = maxstat_test(t, e, x, n_perm=300, seed=11)
    c = maxstat_test(t, e, x, n_perm=300, seed=12)
    assert a.p_perm == b.p_perm
    assert a.p_perm != c.p_perm or a.p_perm == 1.0
    assert 1 / 301 <= a.p_perm <= 1.0
    # the naive p at the selected cut is always smaller than the corrected ones
    assert a.naive_p_uncorrected < a.p_lau92
    with pytest.raises(InputError):
        maxstat_test(t, e, x, n_perm=10, seed=None)


def test_null_calibration_of_corrected_p() -> None:
    """Under H0 the naive minimum p is anti-conservative; the permutation p is not."""
    rng = np.random.default_rng(2024)
    naive, perm = [], []
    for _ in range(60):
        t = rng.exponential(10, 50)
        e = (rng.uniform(size=50) < 0.8).astype(float)
        x = rng.normal(size=50)
        r = maxstat_test(t, e, x, n_perm=99, seed=1, exact_gauss=False)
        naive.append(r.naive_p_uncorrected)
        perm.append(r.p_perm)
    assert np.mean(np.array(naive) < 0.05) > 0.12  # far above the nominal 5%
    assert np.mean(np.array(perm) < 0.05) < 0.15


def test_exact_gauss_single_cut_and_two_cuts() -> None:
    b = 2.0
    assert p_exact_gauss(b, 10, np.array([5])) == pytest.approx(2 * stats.norm.sf(b), abs=1e-6)
    # two cuts: bivariate normal with the known correlation
    n, m = 40, np.array([10, 20])
    rho = np.sqrt(10 * (40 - 20) / (20 * (40 - 10)))
    mvn = stats.multivariate_normal(mean=[0, 0], cov=[[1, rho], [rho, 1]])
    inside = mvn.cdf([b, b]) - mvn.cdf([-b, b]) - mvn.cdf([b, -b]) + mvn.cdf([-b, -b])
    assert p_exact_gauss(b, n, m) == pytest.approx(1 - inside, abs=2e-4)
    assert p_lausen94(b, n, m) >= p_exact_gauss(b, n, m) - 1e-3


@settings(max_examples=25, deadline=None, derandomize=True)
@given(st.integers(min_value=12, max_value=40), st.integers(min_value=0, max_value=10_000))
def test_invariant_to_monotone_transform_of_x(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = rng.exponential(5, n).round(1) + 0.1
    e = (rng.uniform(size=n) < 0.7).astype(float)
    if e.sum() == 0:
        e[0] = 1
    x = rng.normal(size=n).round(2)
    a = maxstat_test(t, e, x, n_perm=0, exact_gauss=False)
    b = maxstat_test(t, e, np.exp(x), n_perm=0, exact_gauss=False)
    assert a.statistic == pytest.approx(b.statistic, rel=1e-10)
    assert np.exp(a.cutpoint) == pytest.approx(b.cutpoint, rel=1e-10)

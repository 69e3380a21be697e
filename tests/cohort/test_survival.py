"""Cox, Kaplan-Meier, log-rank and meta-analysis: lifelines and R survival reference numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.statistics import multivariate_logrank_test

from sensitize.cohort.simulate import simulate_cohort
from sensitize.cohort.survival import (
    cox_biomarker,
    kaplan_meier,
    km_quantile,
    logrank,
    meta_analysis,
    split_groups,
)
from sensitize.core.errors import InputError
from tests.cohort._ref import combos, ref_float, ref_values, survival_inputs

ALL = combos()


@pytest.mark.reference
@pytest.mark.parametrize("cohort,feature,endpoint", ALL[::3])
def test_cox_matches_r_coxph(cohort: str, feature: str, endpoint: str) -> None:
    t, e, x = survival_inputs(cohort, feature, endpoint)
    ref = ref_values(cohort, feature, endpoint)
    c = cox_biomarker(t, e, x, ph_test=False)
    assert c.n == int(ref_float(ref, "n")) and c.events == int(ref_float(ref, "events"))
    # R stops Newton-Raphson when the log-likelihood changes by < 1e-9 (relative), which
    # leaves ~1e-5 relative error in the coefficient; lifelines iterates further
    assert c.coef == pytest.approx(ref_float(ref, "cox_coef"), rel=2e-4, abs=1e-7)
    assert c.se == pytest.approx(ref_float(ref, "cox_se"), rel=2e-4)
    assert c.hr_lower95 == pytest.approx(ref_float(ref, "cox_HR_lower95"), rel=2e-4)
    assert c.hr_upper95 == pytest.approx(ref_float(ref, "cox_HR_upper95"), rel=2e-4)
    assert c.wald_p == pytest.approx(ref_float(ref, "cox_wald_p"), rel=1e-3)
    assert c.lrt_p == pytest.approx(ref_float(ref, "cox_lrt_p"), rel=1e-3)
    assert c.hr_per_sd == pytest.approx(ref_float(ref, "coxSD_HR"), rel=2e-4)
    assert c.hr_per_sd_lower95 == pytest.approx(ref_float(ref, "coxSD_HR_lower95"), rel=2e-4)
    assert c.concordance == pytest.approx(ref_float(ref, "cox_concordance"), abs=1e-9)


def test_cox_equals_lifelines_and_per_sd_equals_refit() -> None:
    sim = simulate_cohort(80, 10, seed=5)
    cl = sim.clinical.set_index("sample")
    x = sim.expression.loc["CXCL9"]
    c = cox_biomarker(cl["os_months"], cl["os_event"], x)
    df = pd.DataFrame({"T": cl["os_months"], "E": cl["os_event"], "x": x})
    lf = CoxPHFitter().fit(df, "T", "E")
    assert c.coef == pytest.approx(float(lf.params_["x"]), rel=1e-10)
    assert c.wald_p == pytest.approx(float(lf.summary.loc["x", "p"]), rel=1e-10)
    df["x"] = (df["x"] - df["x"].mean()) / df["x"].std()
    lf2 = CoxPHFitter().fit(df, "T", "E")
    assert c.coef_per_sd == pytest.approx(float(lf2.params_["x"]), rel=1e-6)
    assert 0 <= c.ph_p <= 1
    # the simulated truth: log HR -0.6 per SD of the latent; CXCL9 is a noisy proxy
    assert -1.0 < c.coef_per_sd < -0.2


def test_cox_with_covariates_and_missing_rows_reported() -> None:
    sim = simulate_cohort(60, 10, seed=9)
    cl = sim.clinical.set_index("sample")
    x = sim.expression.loc["CXCL10"].copy()
    x.iloc[:3] = np.nan
    c = cox_biomarker(cl["os_months"], cl["os_event"], x, cl[["age", "sex"]])
    assert c.n == 57 and c.params["n_excluded"] == 3
    assert set(c.table["term"]) == {"biomarker", "age", "sex_M"}


@pytest.mark.reference
@pytest.mark.parametrize("cohort,feature,endpoint", ALL[::2])
def test_median_split_km_and_logrank_match_r(cohort: str, feature: str, endpoint: str) -> None:
    t, e, x = survival_inputs(cohort, feature, endpoint)
    ref = ref_values(cohort, feature, endpoint)
    grp = split_groups(x, "median")
    km = kaplan_meier(t, e, grp, order=["low", "high"])
    s = km.summary.set_index("group")
    assert s.loc["low", "n"] == int(ref_float(ref, "median_split_n_low"))
    assert s.loc["high", "events"] == int(ref_float(ref, "median_split_events_high"))
    assert km.logrank_chisq == pytest.approx(ref_float(ref, "median_split_logrank_chisq"), rel=1e-9)
    assert km.logrank_p == pytest.approx(ref_float(ref, "median_split_logrank_p"), rel=1e-8)
    for g in ("low", "high"):
        for ours, theirs in (("median", ""), ("median_lower95", "_lcl95"), ("median_upper95", "_ucl95"),
                             ("median_first_le_half", "_firstSle0.5")):
            r = ref_float(ref, f"median_split_KM_median_{g}{theirs}")
            o = s.loc[g, ours]
            assert (np.isnan(r) and np.isnan(o)) or o == pytest.approx(r, rel=1e-9), (g, ours)


def test_km_and_logrank_equal_lifelines() -> None:
    rng = np.random.default_rng(1)
    t = rng.integers(1, 30, 90).astype(float)  # many ties
    e = (rng.uniform(size=90) < 0.6).astype(float)
    g = rng.choice(["a", "b", "c"], 90)
    km = kaplan_meier(t, e, g)
    for lab in ("a", "b", "c"):
        kmf = KaplanMeierFitter().fit(t[g == lab], e[g == lab])
        tab = km.table[km.table["group"] == lab]
        lf = kmf.survival_function_.iloc[:, 0]
        assert np.allclose(lf.reindex(tab["time"]).to_numpy(), tab["survival"].to_numpy())
    lr = multivariate_logrank_test(t, g, e)
    assert km.logrank_chisq == pytest.approx(lr.test_statistic, rel=1e-10)
    assert km.logrank_p == pytest.approx(lr.p_value, rel=1e-9)
    ar = km.at_risk([0, 10, 100])
    assert list(ar.loc["a"]) == [int((g == "a").sum()), int(((g == "a") & (t >= 10)).sum()), 0]


def test_km_median_flat_at_half_uses_midpoint() -> None:
    # 4 subjects: deaths at 1 and 2 -> S = 0.5 from t=2 until the death at 5
    assert km_quantile(np.array([1, 2, 5.0]), np.array([0.75, 0.5, 0.0]), 0.5) == 3.5
    assert km_quantile(np.array([1, 2.0]), np.array([0.75, 0.6]), 0.5) != km_quantile(
        np.array([1, 2.0]), np.array([0.75, 0.4]), 0.5)


def test_bad_survival_input() -> None:
    with pytest.raises(InputError, match="negative"):
        logrank([1, -2, 3], [1, 0, 1], ["a", "b", "a"])
    with pytest.raises(InputError, match="0/1"):
        logrank([1, 2, 3], [1, 2, 1], ["a", "b", "a"])


def test_split_groups() -> None:
    x = pd.Series([1, 2, 3, 4, 5, 6.0])
    assert list(split_groups(x, "median")) == ["low"] * 3 + ["high"] * 3
    assert list(split_groups(x, "tertile")) == ["low", "low", "mid", "mid", "high", "high"]
    with pytest.raises(InputError):
        split_groups(x, "quintile")


def test_meta_analysis_known_values() -> None:
    tab = pd.DataFrame({"cohort": ["a", "b", "c"], "coef": [-0.5, -0.2, -0.8], "se": [0.2, 0.25, 0.3]})
    m = meta_analysis(tab)
    w = 1 / tab["se"] ** 2
    bf = float((w * tab["coef"]).sum() / w.sum())
    assert m.hr_fixed == pytest.approx(np.exp(bf))
    q = float((w * (tab["coef"] - bf) ** 2).sum())
    assert m.q == pytest.approx(q)
    assert m.tau2 == pytest.approx(max(0.0, (q - 2) / (w.sum() - (w**2).sum() / w.sum())))
    assert m.hr_random_lower95 <= m.hr_random <= m.hr_random_upper95

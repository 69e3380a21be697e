"""Growth models: SynergyLMM's published estimates, robust covariances, TumGrowth model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from sensitize.invivo import GrowthStudy, simulate_study
from sensitize.invivo.growth import detection_limit_default, fit_exponential_lmm, prepare
from sensitize.invivo.mixed import cluster_robust_vcov
from sensitize.io.invivo import read_invivo
from tests.conftest import shared_file

ARMS = ["Control", "DrugA", "DrugB", "Combination"]


@pytest.fixture(scope="module")
def grwth() -> GrowthStudy:
    return GrowthStudy(read_invivo(shared_file("invivo", "synergylmm_pkg", "grwth_data.csv")),
                       control="Control", time_start=0).fit()


@pytest.mark.reference
def test_synergylmm_published_growth_rates(grwth: GrowthStudy) -> None:
    gr = grwth.growth_rates
    assert gr is not None
    t = gr.table.set_index("group").loc[ARMS]
    np.testing.assert_allclose(t["rate"], [0.07855, 0.07492, 0.06307, 0.03488], atol=1e-4)
    np.testing.assert_allclose(t["se"], 0.00323, atol=1e-5)
    # variance components of the REML fit (nlme: sd_ranef, sigma)
    assert gr.sd_ranef == pytest.approx(0.008383, abs=2e-5)
    assert gr.sd_resid == pytest.approx(0.212412, abs=1e-4)
    assert gr.fit is not None and gr.fit.converged
    assert len(gr.data) == 320  # 32 mice x 10 post-baseline times


@pytest.mark.reference
def test_sw837_rates_match_synergylmm_manuscript() -> None:
    df = read_invivo(shared_file("invivo", "synergylmm_manuscript", "Fig5", "SW837_long.xlsx"))
    study = GrowthStudy(df, control="Ctrl").fit()
    ref = pd.read_csv(shared_file("invivo", "synergylmm_manuscript", "Fig6", "SW837_model_estimates.csv"))
    t = study.growth_rates.table.set_index("group")  # type: ignore[union-attr]
    np.testing.assert_allclose(t.loc[["Ctrl", "Rabusertib", "Irinotecan", "Irinotecan_Rabusertib"], "rate"],
                               ref[["Ctrl", "Rabusertib", "Irinotecan", "Combination"]].iloc[0], atol=1e-6)


def test_cr2_reduces_to_hc2_for_ols() -> None:
    rng = np.random.default_rng(1)
    X = np.column_stack([np.ones(40), rng.normal(size=40)])
    y = X @ [1.0, 2.0] + rng.normal(size=40) * (1 + np.abs(X[:, 1]))
    ols = sm.OLS(y, X).fit(cov_type="HC2")
    beta = np.linalg.solve(X.T @ X, X.T @ y)
    resid = y - X @ beta
    blocks = [(np.array([i]), np.eye(1)) for i in range(40)]
    V = cluster_robust_vcov(X, resid, blocks, np.linalg.inv(X.T @ X), type="CR2")
    np.testing.assert_allclose(V, ols.cov_params(), rtol=1e-10)
    V0 = cluster_robust_vcov(X, resid, blocks, np.linalg.inv(X.T @ X), type="CR0")
    np.testing.assert_allclose(V0, sm.OLS(y, X).fit(cov_type="HC0").cov_params(), rtol=1e-10)


def test_robust_vcov_is_psd_and_differs(grwth: GrowthStudy) -> None:
    gr = grwth.growth_rates
    assert gr is not None
    R = gr.vcov(robust=True)
    assert np.all(np.linalg.eigvalsh(R) > 0)
    assert not np.allclose(np.diag(R), np.diag(gr.vcov()))


def test_longitudinal_tumgrowth_model(grwth: GrowthStudy) -> None:
    lg = grwth.longitudinal
    assert lg is not None
    sel = lg.random_selection
    assert set(sel["random"]) == {"intercept", "slope", "intercept+slope"}
    assert sel["selected"].sum() == 1
    assert sel.loc[sel["selected"], "aic"].item() == pytest.approx(sel["aic"].min())
    assert lg.global_test["df"] == 3 and lg.global_test["p"] < 1e-10
    assert len(lg.table) == 6 and (lg.table["p_adj"] >= lg.table["p"]).all()
    # slopes on log volume recover the ordering of the simulated true rates
    s = lg.slopes.set_index("group")["slope"]
    assert s["Control"] > s["DrugA"] > s["DrugB"] > s["Combination"]


def test_growth_curves_and_diagnostics(grwth: GrowthStudy) -> None:
    c = grwth.curves
    assert c is not None
    exp_ = c.table[c.table["model"] == "exponential"].set_index("group")["rate"]
    np.testing.assert_allclose(exp_.loc[ARMS], [0.08, 0.07, 0.065, 0.04], atol=0.01)
    assert set(c.table["model"]) == {"exponential", "gompertz"}
    d = grwth.diagnostics
    assert d is not None and 0 <= d.params["shapiro_resid_p"] <= 1
    assert len(d.table) == 320


def test_zeros_are_below_detection_not_log0() -> None:
    df = simulate_study(seed=2)
    assert (df["volume"] == 0).any()
    prep = prepare(df, 0.0, detection_limit_default(df))
    assert np.isfinite(prep["log_volume"]).all()
    assert prep.loc[df["volume"] == 0, "below_detection"].all()
    lim = detection_limit_default(df)
    assert lim == pytest.approx(df.loc[df["volume"] > 0, "volume"].min() / 2)


def test_baseline_zero_animals_excluded_with_reason() -> None:
    df = pd.DataFrame({"animal": ["a", "a", "b", "b", "c", "c"], "group": ["G"] * 6,
                       "day": [0, 3, 0, 3, 0, 3], "volume": [0.0, 5, 10, 20, 12, 30]})
    prep = prepare(df, 0.0, 1.0)
    gr = fit_exponential_lmm(prep, ["G"])
    ex = gr.params["excluded_animals"]
    assert ex == [{"animal": "a", "reason": "baseline volume 0 (RTV undefined)"}]


def test_cross_sectional(grwth: GrowthStudy) -> None:
    cs = grwth.cross_sectional(30)
    assert len(cs.table) == 6
    assert cs.params["global"]["anova_p"] < 0.05

"""End-to-end analysis on seeded simulated cohorts with known truth."""

from __future__ import annotations

import numpy as np
import pytest

from sensitize.cohort.analyze import SURVIVAL_COLUMNS, analyze_cohort
from sensitize.cohort.data import build_cohort
from sensitize.cohort.simulate import simulate_cohort
from sensitize.core.errors import InputError


def test_analysis_recovers_truth_and_orders_columns() -> None:
    sim = simulate_cohort(150, 30, seed=7)
    c = build_cohort(sim.expression, sim.clinical, name="sim")
    res = analyze_cohort(c, ["CXCL9", "BG0003"], ["IFNG6"], covariates=["age"], n_perm=99, seed=1)
    s = res.table.set_index(["biomarker", "endpoint"])
    assert list(res.table.columns) == SURVIVAL_COLUMNS
    assert SURVIVAL_COLUMNS[-2] == "naive_p_uncorrected"
    assert s.loc[("IFNG6", "os"), "HR_per_SD"] < 0.8 and s.loc[("IFNG6", "os"), "wald_p"] < 0.01
    assert s.loc[("BG0003", "os"), "p_corrected"] > 0.01
    assert (res.table["naive_p_uncorrected"] <= res.table["p_corrected"]).all()
    r = res.response.set_index("biomarker")
    assert r.loc["IFNG6", "AUC"] > 0.7 and r.loc["BG0003", "AUC"] < 0.7
    assert res.params["detection"]["endpoints"]["os"]["time_col"] == "os_months"
    assert ("CXCL9", "os", "median") in res.km and ("CXCL9", "os") in res.time_auc


def test_threshold_truth_cut_found() -> None:
    sim = simulate_cohort(200, 10, seed=3, survival_model="threshold", noise_sd=0.2,
                          threshold_log_hr=-1.5)
    c = build_cohort(sim.expression, sim.clinical)
    res = analyze_cohort(c, ["CXCL10"], endpoints=["os"], n_perm=0)
    ms = res.maxstat[("CXCL10", "os")]
    # the true cut (60th percentile of the latent) maps to ~ the 60th percentile of CXCL10
    frac_low = ms.n_low / (ms.n_low + ms.n_high)
    assert abs(frac_low - 0.6) < 0.15
    assert ms.p_lau92 < 0.01


def test_bad_requests() -> None:
    sim = simulate_cohort(20, 5, seed=1)
    c = build_cohort(sim.expression, sim.clinical)
    with pytest.raises(InputError, match="nothing to analyse"):
        analyze_cohort(c)
    with pytest.raises(InputError, match="endpoint 'dfs'"):
        analyze_cohort(c, ["CXCL9"], endpoints=["dfs"])
    with pytest.raises(InputError, match="covariate"):
        analyze_cohort(c, ["CXCL9"], covariates=["stage"])


def test_missing_endpoint_values_excluded_and_counted() -> None:
    sim = simulate_cohort(40, 5, seed=2)
    clin = sim.clinical.copy()
    clin.loc[:4, "pfs_months"] = np.nan
    c = build_cohort(sim.expression, clin)
    res = analyze_cohort(c, ["CXCL9"], endpoints=["pfs"], n_perm=0, exact_gauss=False)
    row = res.table.iloc[0]
    assert row["n"] == 35 and row["n_excluded"] == 5
    assert c.report["endpoints"]["pfs"]["n_missing"] == 5

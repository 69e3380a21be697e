"""Survival to endpoint: rules, lifelines agreement, complete regressions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from lifelines.statistics import logrank_test, multivariate_logrank_test

from sensitize.invivo import GrowthStudy, simulate_study
from sensitize.invivo.survival import time_to_endpoint
from sensitize.io.invivo import read_invivo
from tests.conftest import shared_file


def test_endpoint_rules() -> None:
    df = pd.DataFrame({"animal": list("aaabbbcc"), "group": ["G"] * 8,
                       "day": [0, 5, 10, 0, 5, 10, 0, 5], "volume": [100, 900, 1200, 100, 400, 800, 100, 300]})
    t = time_to_endpoint(df, endpoint=1000).set_index("animal")
    assert t.loc["a"].tolist() == ["G", 10, True]
    assert t.loc["b"].tolist() == ["G", 10, False]  # alive at end: censored
    assert t.loc["c"].tolist() == ["G", 5, False]  # withdrawn below endpoint: censored
    last = time_to_endpoint(df).set_index("animal")
    assert bool(last.loc["c", "event"]) and not bool(last.loc["b", "event"])


def test_testos_against_lifelines() -> None:
    df = read_invivo(shared_file("invivo", "tumgrowth", "TestOS.tsv"))
    study = GrowthStudy(df, control="IC.WT")
    res = study.survival(endpoint=200)
    tte = res.table
    lr = multivariate_logrank_test(tte["time"], tte["group"], tte["event"])
    assert res.logrank_global["p"] == pytest.approx(lr.p_value, rel=1e-12)
    a = tte[tte["group"] == "IC.WT"]
    b = tte[tte["group"] == "aC.WT"]
    pw = logrank_test(a["time"], b["time"], a["event"], b["event"])
    row = res.logrank_pairwise.query("(group1 == 'IC.WT' and group2 == 'aC.WT') or "
                                     "(group1 == 'aC.WT' and group2 == 'IC.WT')")
    assert row["p"].item() == pytest.approx(pw.p_value, rel=1e-12)
    assert (res.logrank_pairwise["p_adj"] >= res.logrank_pairwise["p"] - 1e-15).all()
    X = pd.DataFrame({"time": tte["time"], "event": tte["event"].astype(int)})
    for g in ["aC.WT", "IC.KO", "aC.KO"]:
        X[g] = (tte["group"] == g).astype(float)
    cph = CoxPHFitter().fit(X, "time", "event")
    np.testing.assert_allclose(res.cox.set_index("group").loc[["aC.WT", "IC.KO", "aC.KO"], "hr"],
                               cph.summary["exp(coef)"], rtol=1e-6)
    assert set(res.medians.columns) >= {"median", "median_lower", "median_upper", "followup_median"}


def test_testos_regressions_counted() -> None:
    df = read_invivo(shared_file("invivo", "tumgrowth", "TestOS.tsv"))
    res = GrowthStudy(df, control="IC.WT").survival()
    reg = res.regressions.set_index("group")
    last = df.sort_values("day").groupby("animal").tail(1)
    expect = (last["volume"] == 0).groupby(last["group"]).sum()
    assert reg["tumor_free"].to_dict() == expect.to_dict()
    assert np.isnan(reg.loc["IC.WT", "p_vs_control"])


def test_separation_flagged() -> None:
    df = simulate_study(seed=3)
    res = GrowthStudy(df).survival(endpoint=1500)
    cox = res.cox.set_index("group")
    combo_events = res.table.query("group == 'Targeted+anti-PD-1'")["event"].sum()
    if combo_events == 0:
        assert "separation" in cox.loc["Targeted+anti-PD-1", "flag"]
    assert np.isinf(res.medians.set_index("group").loc["Targeted+anti-PD-1", "median"])

"""The seeded syngeneic study generator."""

from __future__ import annotations

import pandas as pd

from sensitize.invivo import analyze, simulate_study
from sensitize.invivo.schema import validate_study


def test_seeded_and_realistic() -> None:
    a = simulate_study(seed=11)
    b = simulate_study(seed=11)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(simulate_study(seed=12))
    validate_study(a)
    assert list(pd.unique(a["group"])) == ["Vehicle", "Chemo", "Targeted", "anti-PD-1", "Targeted+anti-PD-1"]
    last = a.sort_values("day").groupby("animal").tail(1)
    assert (last["volume"] == 0).sum() >= 1  # complete regressions
    assert (last["volume"] >= 1500).sum() >= 5  # sacrificed at endpoint
    assert last["censored"].any() and (~last["censored"]).any()
    assert ((a["length"] * a["width"] ** 2 / 2) - a["volume"]).abs().max() < 1.0


def test_analyze_detects_arms() -> None:
    res = analyze(simulate_study(seed=4, n_per_arm=6), endpoint=1500, n_boot=30, ra_nsim=50, time_resolved=False)
    assert res.arms is not None
    assert (res.arms.control, res.arms.drug_a, res.arms.drug_b, res.arms.combination) == (
        "Vehicle", "Targeted", "anti-PD-1", "Targeted+anti-PD-1")
    syn = res.tables()["synergy"]
    assert set(syn["basis"]) == {"lmm", "tgi", "auc"}
    assert list(syn.columns[:7]) == ["model", "metric", "time", "estimate", "lower", "upper", "p"]

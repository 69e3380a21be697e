"""Synergy: SynergyLMM Bliss on its simulated data, invivoSyn AUC references, bootstrap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sensitize.invivo import GrowthStudy
from sensitize.invivo.synergy import bootstrap_synergy, lmm_synergy
from sensitize.io.invivo import read_invivo
from tests.conftest import shared_file


@pytest.fixture(scope="module")
def grwth() -> GrowthStudy:
    return GrowthStudy(read_invivo(shared_file("invivo", "synergylmm_pkg", "grwth_data.csv")),
                       control="Control", time_start=0).fit()


@pytest.mark.reference
def test_bliss_on_synergylmm_data(grwth: GrowthStudy) -> None:
    res = lmm_synergy(grwth.prep, "Control", ["DrugA", "DrugB"], "Combination", methods=["Bliss"],
                      robust=False, time_resolved=False)
    t = res.table.set_index("metric")
    b = grwth.growth_rates.table.set_index("group")["rate"]  # type: ignore[union-attr]
    delta = b["Combination"] - b["DrugA"] - b["DrugB"] + b["Control"]
    se = 2 * 0.0032268  # four independent rates with equal SE
    assert t.loc["CI", "time"] == 30
    assert t.loc["CI", "estimate"] == pytest.approx(np.exp(delta * 30), rel=1e-6)
    assert t.loc["SS", "estimate"] == pytest.approx(-delta / se, rel=1e-3)
    assert t.loc["SS", "p"] == pytest.approx(2 * stats.norm.sf(abs(delta / se)), rel=1e-2)
    assert t.loc["SS", "p"] == pytest.approx(1.4165e-4, rel=1e-3)
    assert t.loc["CI", "estimate"] < 1 and t.loc["SS", "estimate"] > 0  # synergy


def test_time_resolved_robust_hsa_ra(grwth: GrowthStudy) -> None:
    res = lmm_synergy(grwth.prep, "Control", ["DrugA", "DrugB"], "Combination", robust=True,
                      ra_nsim=300, seed=7, min_time=21)
    assert sorted(res.table["time"].unique()) == [21, 24, 27, 30]
    assert set(res.table["model"]) == {"Bliss", "HSA", "RA"}
    assert res.params["hsa_reference"] == "DrugB"
    ok = res.table.dropna(subset=["estimate"])
    assert (ok["lower"] <= ok["estimate"] + 1e-12).all() and (ok["estimate"] <= ok["upper"] + 1e-12).all()
    again = lmm_synergy(grwth.prep, "Control", ["DrugA", "DrugB"], "Combination", robust=True,
                        ra_nsim=300, seed=7, min_time=21)
    pd.testing.assert_frame_equal(res.table, again.table)
    assert len(res.estimates) == 16


@pytest.mark.reference
@pytest.mark.parametrize("name,file", [("CR1197", "CR1197.csv"), ("SW837", "SW837.csv")])
def test_auc_bliss_matches_invivosyn_reference(name: str, file: str) -> None:
    df = read_invivo(shared_file("invivo", "invivosyn", file))
    study = GrowthStudy(df)
    g = study.groups
    ref = pd.read_csv(shared_file("invivo", "synergylmm_manuscript", "Fig5", f"{name}_invivoSyn_bliss_byT.csv"))
    ref = ref.dropna(subset=["Metric"])
    ref = ref[ref["Time"] > 0]
    times = sorted(ref["Time"].unique())
    res = bootstrap_synergy(study.prep, g[0], g[1:3], g[3], basis="auc", times=times, methods=["Bliss"],
                            n_boot=200, seed=1)
    ours = res.table.set_index(["metric", "time"])["estimate"]
    for _, row in ref.iterrows():
        metric = "CI" if row["Metric"] == "CI" else "SS"
        assert ours.loc[(metric, row["Time"])] == pytest.approx(row["Value"], rel=1e-7)


def test_tgi_bootstrap_definitions(grwth: GrowthStudy) -> None:
    res = bootstrap_synergy(grwth.prep, "Control", ["DrugA", "DrugB"], "Combination", basis="tgi", times=[30],
                            n_boot=300, seed=3)
    d = grwth.prep[grwth.prep["time"] == 30]
    dv = (d["volume"] - d["v0"]).groupby(d["group"]).mean()
    tgi = 1 - dv / dv["Control"]
    exp_bliss = 1 - (1 - tgi["DrugA"]) * (1 - tgi["DrugB"])
    t = res.table[res.table["model"] == "Bliss"].set_index("metric")
    assert t.loc["SS", "estimate"] == pytest.approx(100 * (tgi["Combination"] - exp_bliss))
    assert t.loc["CI", "estimate"] == pytest.approx((1 - tgi["Combination"]) / (1 - exp_bliss))
    ra = res.table[(res.table["model"] == "RA") & (res.table["metric"] == "SS")]["estimate"].item()
    assert ra == pytest.approx(100 * (tgi["Combination"] - tgi["DrugA"] - tgi["DrugB"]))
    assert 0 <= t.loc["SS", "p"] <= 1


def test_auc_response_additivity_uses_surviving_fraction(grwth: GrowthStudy) -> None:
    res = bootstrap_synergy(grwth.prep, "Control", ["DrugA", "DrugB"], "Combination", basis="auc", times=[10],
                            methods=["RA", "Bliss"], n_boot=50, seed=0)
    t = res.table.set_index(["model", "metric"])["estimate"]
    # small effects: RA and Bliss expectations nearly coincide (1-(a+b) vs (1-a)(1-b)); the
    # invivoSyn form sum(1-s_i) would give a CI an order of magnitude larger
    assert t[("RA", "CI")] == pytest.approx(t[("Bliss", "CI")], rel=0.05)


def test_unknown_method_rejected(grwth: GrowthStudy) -> None:
    with pytest.raises(ValueError, match="unknown synergy method"):
        lmm_synergy(grwth.prep, "Control", ["DrugA", "DrugB"], "Combination", methods=["Loewe"])

"""Tests of the anchored-design scoring (library curve alone vs with anchor, Bliss)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sensitize.core.errors import InputError
from sensitize.io.plates import read_plates
from sensitize.screen.anchored import prepare_effects, score_anchored
from sensitize.screen.plates import normalise_plates, to_screen_table
from sensitize.screen.simulate import simulate_immune_screen

DOSES = np.array([0.04, 0.16, 0.63, 2.5, 10.0])


def _inhib(d: np.ndarray) -> np.ndarray:
    return 80.0 * d**1.2 / (d**1.2 + 1.0**1.2)


def _table(kind: str, combo_effect: object, anchor_effect: float) -> pd.DataFrame:
    """Exact (noise-free) anchored block: library alone, anchor alone, combination."""
    rows = []
    readout = "viability" if kind == "viability" else "CXCL10"
    to_resp = (lambda e: 100.0 - e) if kind == "viability" else (lambda e: e)
    for rep in (1, 2):
        rows.append((0.0, 0.0, to_resp(0.0), rep))
        rows.append((0.0, 1.0, to_resp(anchor_effect), rep))
        for d in DOSES:
            rows.append((d, 0.0, to_resp(float(_inhib(np.array([d]))[0])), rep))
            rows.append((d, 1.0, to_resp(float(combo_effect(d))), rep))  # type: ignore[operator]
    df = pd.DataFrame(rows, columns=["conc1", "conc2", "response", "replicate"])
    df["block_id"] = f"L1:LIB+ANC:{readout}"
    df["drug1"], df["drug2"], df["readout"], df["response_kind"] = "LIB", "ANC", readout, kind
    df["cell_line"] = "L1"
    return df


def test_bliss_combination_has_no_excess() -> None:
    ea = 30.0
    df = _table("viability", lambda d: _inhib(d) + ea - _inhib(d) * ea / 100, ea)
    r = score_anchored(df)
    row = r.table.iloc[0]
    assert row["anchor_effect"] == pytest.approx(ea)
    assert row["emax_library"] == pytest.approx(_inhib(np.array([10.0]))[0], abs=0.05)
    assert abs(row["delta_emax"]) < 0.1
    assert abs(row["ic50_shift"]) < 0.05


def test_planted_excess_and_potency_shift_are_recovered() -> None:
    ea = 20.0
    # combination: the library drug 4x more potent, on top of Bliss with the anchor
    df = _table("viability", lambda d: _inhib(4 * d) + ea - _inhib(4 * d) * ea / 100, ea)
    row = score_anchored(df).table.iloc[0]
    exp_top = _inhib(np.array([10.0]))[0] * (1 - ea / 100) + ea
    obs_top = _inhib(np.array([40.0]))[0] * (1 - ea / 100) + ea
    assert row["delta_emax"] == pytest.approx(obs_top - exp_top, abs=0.2)
    assert row["ic50_shift"] == pytest.approx(np.log10(4), abs=0.05)


def test_induction_uses_additive_null_on_log_scale() -> None:
    # library alone induces _inhib/40 (0..2 log2); with the anchor (0.5) twice that
    df = _table("induction", lambda d: 2 * _inhib(d) / 40 + 0.5, 0.5)
    lib = (df["conc2"] == 0) & (df["conc1"] > 0)
    df.loc[lib, "response"] = _inhib(df.loc[lib, "conc1"].to_numpy()) / 40
    row = score_anchored(df).table.iloc[0]
    assert row["delta_emax"] == pytest.approx(_inhib(np.array([10.0]))[0] / 40, abs=0.05)
    row_b = score_anchored(df, induction_null="bliss").table.iloc[0]
    assert row_b["delta_emax"] > row["delta_emax"]  # Bliss subtracts the product term


def test_bad_input() -> None:
    df = _table("viability", _inhib, 10.0)
    with pytest.raises(InputError, match="drug3"):
        score_anchored(df.assign(drug3="X"))
    with pytest.raises(InputError, match="response_kind"):
        score_anchored(df.drop(columns="response_kind"))
    bad = df.copy()
    bad.loc[3, "conc1"] = np.nan
    with pytest.raises(InputError) as e:
        score_anchored(bad)
    assert "4" in str(e.value)
    with pytest.raises(ValueError):
        score_anchored(df, induction_null="hsa")  # type: ignore[arg-type]
    assert score_anchored(df, min_doses=9).table.empty


def test_combo_key_pairs_readouts() -> None:
    v = _table("viability", _inhib, 10.0)
    c = _table("induction", _inhib, 10.0)
    e = prepare_effects(pd.concat([v, c]))
    assert set(e["combo"]) == {"L1:LIB+ANC"}
    assert np.allclose(e.loc[e["readout"] == "viability", "effect"], 100 - v["response"])


@pytest.fixture(scope="module")
def sim_screen() -> tuple:  # type: ignore[type-arg]
    sim = simulate_immune_screen(3)
    norm = normalise_plates(read_plates(sim.plate_map, sim.reads), correction="treatment_polish", polish_scale="log")
    return sim, to_screen_table(norm, induction_scale="log2_fc", block_by=["design"])


def test_simulated_synergistic_inducers_have_larger_cxcl10_excess(sim_screen: tuple) -> None:  # type: ignore[type-arg]
    sim, st = sim_screen
    r = score_anchored(st)
    t = r.table.merge(sim.truth[["cell_line", "drug", "klass"]], left_on=["cell_line", "library_drug"],
                      right_on=["cell_line", "drug"])
    sel = t[(t["readout"] == "CXCL10") & (t["anchor_conc"] == 2.0)]
    syn = sel.loc[sel["klass"] == "synergistic_inducer", "delta_emax"].median()
    other = sel.loc[sel["klass"] != "synergistic_inducer", "delta_emax"].median()
    assert syn > 0.5 and syn - other > 0.5

"""Normalisation, median polish / B-score and conversion to the screen table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sensitize.core.errors import InputError
from sensitize.io.plates import join_plates, read_plate_map, read_reader_export
from sensitize.screen.plates import median_polish, normalise_plates, to_screen_table
from sensitize.screen.schema import validate_screen
from sensitize.screen.simulate import simulate_immune_screen

ROWS = "ABCDEFGHIJKLMNOP"


# --------------------------------------------------------------------------- median polish


def test_median_polish_recovers_additive_plate() -> None:
    rng = np.random.default_rng(0)
    r = rng.normal(0, 3, 8)
    c = rng.normal(0, 2, 12)
    x = 50 + r[:, None] + c[None, :]
    t, re, ce, resid = median_polish(x)
    np.testing.assert_allclose(resid, 0, atol=1e-9)
    np.testing.assert_allclose(t[0] + re[0][:, None] + ce[0][None, :], x, atol=1e-9)
    # effects are median-centred
    assert abs(np.median(re[0])) < 1e-9 and abs(np.median(ce[0])) < 1e-9


def test_median_polish_hand_example() -> None:
    # 3 x 3 worked by hand: row medians 2, 5, 8 -> rows -3, 0, 3 about overall 5;
    # the residual table then has column medians 0 and the polish stops
    x = np.array([[1.0, 2, 3], [4, 5, 6], [7, 8, 9]])
    t, r, c, resid = median_polish(x)
    assert t[0] == pytest.approx(5.0)
    np.testing.assert_allclose(r[0], [-3, 0, 3])
    np.testing.assert_allclose(c[0], [-1, 0, 1])
    np.testing.assert_allclose(resid[0], 0, atol=1e-12)


@settings(max_examples=40, derandomize=True, deadline=None)
@given(arrays(np.float64, (6, 8), elements=st.floats(-100, 100)),
       arrays(np.float64, (6,), elements=st.floats(-50, 50)))
def test_median_polish_residuals_invariant_to_row_shifts(x: np.ndarray, shift: np.ndarray) -> None:
    _, _, _, r1 = median_polish(x)
    _, _, _, r2 = median_polish(x + shift[:, None])
    np.testing.assert_allclose(r1, r2, atol=1e-6)


def test_median_polish_vectorised_equals_per_plate() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(100, 10, (3, 16, 24))
    x[1, 2, 3] = np.nan
    fit = rng.uniform(size=x.shape) > 0.2
    t, r, c, res = median_polish(x, fit)
    for i in range(3):
        ti, ri, ci, resi = median_polish(x[i], fit[i])
        assert t[i] == pytest.approx(ti[0])
        np.testing.assert_allclose(r[i], ri[0])
        np.testing.assert_allclose(c[i], ci[0])
        np.testing.assert_allclose(res[i], resi[0], equal_nan=True)


# --------------------------------------------------------------------------- a hand-made 384-well plate


def _plate_table(values: np.ndarray, roles: np.ndarray, plate: str = "P1", readout: str = "viability") -> pd.DataFrame:
    nr, nc = values.shape
    recs = []
    for i in range(nr):
        for j in range(nc):
            recs.append({"plate": plate, "well": f"{ROWS[i]}{j + 1:02d}", "row": ROWS[i], "col": j + 1,
                         "plate_format": 384 if nr == 16 else 96, "role": roles[i, j],
                         "control_readout": None, "cell_line": "LLC1",
                         "drug1": "D" if roles[i, j] == "sample" else None, "conc1": 1.0 if roles[i, j] == "sample" else 0.0,
                         "conc_unit1": "uM" if roles[i, j] == "sample" else None,
                         "drug2": None, "conc2": 0.0, "conc_unit2": None,
                         "readout": readout, "raw": values[i, j], "well_flag": ""})
    return pd.DataFrame(recs)


def _null_plate_with_edge(seed: int, edge: float) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(1000, 40, (16, 24))
    is_edge = np.zeros((16, 24), dtype=bool)
    is_edge[[0, -1], :] = True
    is_edge[:, [0, -1]] = True
    x = x - edge * (np.isin(np.arange(16), [0, 15])[:, None].astype(float)
                    + np.isin(np.arange(24), [0, 23])[None, :].astype(float))
    roles = np.full((16, 24), "sample", dtype=object)
    for j in range(24):  # scattered controls, 2 per column
        roles[(3 * j) % 16, j] = "vehicle"
        roles[(3 * j + 8) % 16, j] = "positive_control"
    x[roles == "positive_control"] = rng.normal(50, 5, (roles == "positive_control").sum())
    return _plate_table(x, roles), is_edge


def test_b_score_removes_planted_edge_effect() -> None:
    """Measured: a 200-unit edge loss (5 SD) is > 4 robust SD in raw data and < 0.3 after B-scoring."""
    df, is_edge = _null_plate_with_edge(11, edge=200.0)
    n = normalise_plates(df).table
    s = n.loc[n["role"] == "sample"].copy()
    edge = is_edge[s["row"].map(ROWS.index).to_numpy(), s["col"].to_numpy() - 1]
    robust_sd = 1.4826 * np.median(np.abs(s.loc[~edge, "raw"] - s.loc[~edge, "raw"].median()))
    raw_gap = (s.loc[edge, "raw"].median() - s.loc[~edge, "raw"].median()) / robust_sd
    b_gap = s.loc[edge, "b_score"].median() - s.loc[~edge, "b_score"].median()
    assert raw_gap < -4.0
    assert abs(b_gap) < 0.3
    # B-scores are unit-scaled: the interior's robust SD is about 1
    b_in = s.loc[~edge, "b_score"]
    assert 0.8 < 1.4826 * np.median(np.abs(b_in - b_in.median())) < 1.25
    # the corrected signal (median polish) has the edge gap removed too
    c = normalise_plates(df, correction="median_polish").table
    cs = c.loc[c["role"] == "sample"]
    gap_c = (cs.loc[edge, "pct_vehicle"].median() - cs.loc[~edge, "pct_vehicle"].median())
    gap_r = (s.loc[edge, "pct_vehicle"].median() - s.loc[~edge, "pct_vehicle"].median())
    assert gap_r < -15 and abs(gap_c) < 1.5


def test_b_score_without_edge_is_noise_only() -> None:
    df, is_edge = _null_plate_with_edge(12, edge=0.0)
    n = normalise_plates(df).table
    s = n.loc[n["role"] == "sample"]
    edge = is_edge[s["row"].map(ROWS.index).to_numpy(), s["col"].to_numpy() - 1]
    assert abs(s.loc[edge, "b_score"].median() - s.loc[~edge, "b_score"].median()) < 0.3


# --------------------------------------------------------------------------- normalisation formulas


def _tiny() -> pd.DataFrame:
    """96-well plate, two readouts, hand-picked values."""
    pm = []
    for r in "ABCDEFGH":
        for c in range(1, 13):
            role = "vehicle" if c == 1 else "positive_control" if c == 2 else "empty" if c == 12 else "sample"
            cr = ("viability" if r < "E" else "CXCL10") if role == "positive_control" else None
            pm.append({"plate": "T", "well": f"{r}{c}", "role": role, "control_readout": cr, "cell_line": "LLC1",
                       "drug1": "D1" if role == "sample" else None, "conc1": float(c) if role == "sample" else None,
                       "unit1": "uM" if role == "sample" else None,
                       "drug2": "A" if role == "sample" and r > "D" else None,
                       "conc2": 1.0 if role == "sample" and r > "D" else None,
                       "unit2": "uM" if role == "sample" and r > "D" else None})
    pm = pd.DataFrame(pm)
    reads = []
    for _, w in pm.iterrows():
        col = int(w["well"][1:])
        via = {1: 1000.0, 2: 50.0}.get(col, 500.0)
        chem = {1: 20.0, 2: (20.0 if w["well"][0] < "E" else 320.0)}.get(col, 80.0)
        reads.append({"plate": "T", "well": w["well"], "viability": via, "CXCL10": chem})
    reads = pd.DataFrame(reads)
    reads.loc[reads["well"] == "A5", "viability"] = 40.0      # 4 % viable: per-viable undefined
    reads.loc[reads["well"] == "B5", "CXCL10"] = 0.0          # below range
    reads.loc[reads["well"] == "B6", "CXCL10"] = -3.0         # background-subtracted negative
    return join_plates(read_plate_map(pm), read_reader_export(reads))


def test_normalisation_hand_computed() -> None:
    n = normalise_plates(_tiny()).table.set_index(["well", "readout"])
    v = n.loc[("C03", "viability")]
    assert v["vehicle_center"] == 1000 and v["positive_center"] == 50
    assert v["pct_vehicle"] == pytest.approx(50.0)
    assert v["fold_change"] == pytest.approx(0.5)
    assert v["log2_fc"] == pytest.approx(-1.0)
    assert v["pct_control"] == pytest.approx(100 * (500 - 50) / (1000 - 50))
    assert v["pct_positive"] == pytest.approx(100 * (500 - 1000) / (50 - 1000))
    c = n.loc[("C03", "CXCL10")]
    assert c["fold_change"] == pytest.approx(4.0) and c["log2_fc"] == pytest.approx(2.0)
    assert c["pct_positive"] == pytest.approx(100 * (80 - 20) / (320 - 20))  # 20 % of IFN-gamma induction
    assert c["rel_viability"] == pytest.approx(0.5)
    assert c["per_viable"] == pytest.approx(8.0) and c["log2_per_viable"] == pytest.approx(3.0)


def test_low_viability_and_nonpositive_signals_are_flagged_not_dropped() -> None:
    wells = _tiny()
    n = normalise_plates(wells).table.set_index(["well", "readout"])
    assert len(n) == len(wells)
    a5 = n.loc[("A05", "CXCL10")]
    assert np.isnan(a5["per_viable"]) and "low_viability" in a5["well_flag"]
    assert a5["rel_viability"] == pytest.approx(0.04)
    for w in ("B05", "B06"):
        r = n.loc[(w, "CXCL10")]
        assert np.isnan(r["log2_fc"]) and "nonpositive_signal" in r["well_flag"]
        assert np.isfinite(r["pct_vehicle"])  # the raw value is kept and still on the % scale
    # a lower min_viability makes the ratio defined
    n2 = normalise_plates(wells, min_viability=0.01).table.set_index(["well", "readout"])
    assert n2.loc[("A05", "CXCL10"), "per_viable"] == pytest.approx((80 / 20) / 0.04)


def test_plate_without_vehicle_is_flagged() -> None:
    wells = _tiny()
    wells.loc[wells["role"] == "vehicle", "role"] = "untreated"
    res = normalise_plates(wells)
    t = res.table
    assert t["pct_vehicle"].isna().all()
    assert (t.loc[t["role"] != "empty", "well_flag"].str.contains("no_vehicle")).all()
    assert not t["qc_pass"].any()
    assert res.qc.table["qc_reason"].str.contains("no vehicle wells").all()
    st_ = to_screen_table(res)
    assert st_.table.empty and len(st_.excluded) > 0


def test_mean_center_and_bad_options() -> None:
    wells = _tiny()
    wells.loc[(wells["well"] == "A01") & (wells["readout"] == "viability"), "raw"] = 700.0
    med = normalise_plates(wells).table
    mean = normalise_plates(wells, center="mean").table
    vm = med.loc[med["readout"] == "viability", "vehicle_center"].iloc[0]
    vn = mean.loc[mean["readout"] == "viability", "vehicle_center"].iloc[0]
    assert vm == 1000 and vn == pytest.approx((7 * 1000 + 700) / 8)
    with pytest.raises(InputError):
        normalise_plates(wells, correction="loess")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="missing column"):
        normalise_plates(wells.drop(columns=["raw"]))


def test_screen_table_from_tiny_plate() -> None:
    st_ = to_screen_table(normalise_plates(_tiny()))
    t = st_.table
    validate_screen(t)
    assert set(t["response_kind"]) == {"viability", "induction"}
    assert set(t["block_id"]) == {"LLC1:D1+A:viability", "LLC1:D1+A:CXCL10"}
    via = t.loc[t["readout"] == "viability"]
    # vehicle wells are the 0,0 cell, D1 alone and the combination at conc2 = 1
    assert (via.loc[(via["conc1"] == 0) & (via["conc2"] == 0), "response"] == 100).all()
    assert set(via["conc2"]) == {0.0, 1.0}
    # the excluded CXCL10 wells are listed with the reason
    ex = st_.excluded
    assert set(ex["well"]) == {"B05", "B06"}
    assert ex["reason"].str.contains("no response on this scale").all()
    # per viable cell, the 4 %-viable well has no response either
    ex2 = to_screen_table(normalise_plates(_tiny()), per_viable=True).excluded
    assert set(ex2["well"]) == {"A05", "B05", "B06"}
    assert "low_viability" in ex2.set_index("well").loc["A05", "reason"]


# --------------------------------------------------------------------------- simulated screen


@pytest.fixture(scope="module")
def sim_norm() -> tuple:  # type: ignore[type-arg]
    sim = simulate_immune_screen(7)
    wells = join_plates(read_plate_map(sim.plate_map), read_reader_export(sim.reads))
    norm = normalise_plates(wells, correction="treatment_polish", polish_scale="log", robust_qc=True)
    return sim, wells, norm


def test_failed_plate_flagged_in_output(sim_norm: tuple) -> None:  # type: ignore[type-arg]
    sim, _, norm = sim_norm
    failed = sim.params["failed_plate"]
    t = norm.table
    assert not t.loc[t["plate"] == failed, "qc_pass"].any()
    assert (t.loc[t["plate"] == failed, "qc_reason"] != "").all()
    st_ = to_screen_table(norm)
    assert failed not in set(st_.table["plate"])
    assert st_.excluded.loc[st_.excluded["plate"] == failed, "reason"].str.startswith("plate QC failed").all()
    kept = to_screen_table(norm, exclude_failed=False)
    assert failed in set(kept.table["plate"])
    assert not kept.table.loc[kept.table["plate"] == failed, "qc_pass"].any()


def test_treatment_polish_removes_simulated_edge_effect(sim_norm: tuple) -> None:  # type: ignore[type-arg]
    """Measured on the simulated screen (planted edge loss 0.15 log per outer row/col)."""
    sim, wells, norm = sim_norm
    raw = normalise_plates(wells, robust_qc=True).table
    tw = sim.truth_wells
    gaps = {}
    for name, t in (("raw", raw), ("corrected", norm.table)):
        m = t.merge(tw, on=["plate", "well", "role"])
        m = m.loc[(m["readout"] == "viability") & m["role"].isin(["sample", "vehicle"]) & ~m["dead"]
                  & m["qc_pass"] & (m["true_viability"] > 0.05)]
        err = np.log(m["fold_change"]) - np.log(m["true_viability"])
        edge = (m["edge_log_factor"] < 0).to_numpy()
        gaps[name] = (float(err[edge].median() - err[~edge].median()), float(err.std()))
    assert gaps["raw"][0] < -0.1
    assert abs(gaps["corrected"][0]) < 0.04
    assert gaps["corrected"][1] < gaps["raw"][1]  # the correction does not add noise


def test_screen_table_accounts_for_every_well(sim_norm: tuple) -> None:  # type: ignore[type-arg]
    _, _, norm = sim_norm
    st_ = to_screen_table(norm, induction_scale="pct_positive")
    t = validate_screen(st_.table)
    key = ["plate", "well", "readout"]
    src = norm.table.loc[norm.table["role"] == "sample", key]
    seen = pd.concat([t[key], st_.excluded[key]]).drop_duplicates()
    missing = src.merge(seen, on=key, how="left", indicator=True)
    assert (missing["_merge"] == "both").all()
    # every block has the vehicle cell and both monotherapies
    for _bid, b in t.groupby("block_id"):
        assert ((b["conc1"] == 0) & (b["conc2"] == 0)).any()
        assert ((b["conc1"] > 0) & (b["conc2"] == 0)).any()
        assert ((b["conc1"] == 0) & (b["conc2"] > 0)).any()
    assert (t.groupby(["block_id", "conc1", "conc2", "replicate"]).size() == 1).all()
    assert set(t.loc[t["readout"] == "CXCL10", "response_kind"]) == {"induction"}
    # percent of positive-control induction: vehicle cells centred on 0
    veh = t.loc[(t["readout"] == "CXCL10") & (t["conc1"] == 0) & (t["conc2"] == 0), "response"]
    assert abs(veh.median()) < 5


def test_screen_table_per_viable_and_block_by(sim_norm: tuple) -> None:  # type: ignore[type-arg]
    sim, _, norm = sim_norm
    a = to_screen_table(norm, per_viable=True)
    b = to_screen_table(norm, block_by=["design"])
    assert b.table["block_id"].nunique() > a.table["block_id"].nunique()
    m = [d for d in sim.params["matrix_drugs"]]
    assert any(f"{m[0]}+oxaliplatin:matrix" in x for x in b.table["block_id"])
    # per-viable responses are defined only where viability is >= 10 % of vehicle
    assert a.excluded["reason"].str.contains("low_viability").any()
    with pytest.raises(InputError, match="block_by"):
        to_screen_table(norm, block_by=["nope"])


def test_polish_keeps_readouts_and_plates_apart() -> None:
    """Regression: each plate x readout is polished on its own (no key collisions)."""
    a, _ = _null_plate_with_edge(21, edge=100.0)
    b, _ = _null_plate_with_edge(22, edge=0.0)
    b["raw"] = b["raw"] / 100.0
    b["readout"] = "CXCL10"
    c = a.copy()
    c["plate"] = "P1 x"
    n = normalise_plates(pd.concat([a, b, c], ignore_index=True), correction="median_polish").table
    for (plate, readout), g in n.groupby(["plate", "readout"]):
        s = g.loc[g["role"] == "sample"]
        assert abs(s["corrected"].median() / s["raw"].median() - 1) < 0.1, (plate, readout)
    assert len(n) == 3 * 384


# --------------------------------------------------------------------------- plots (sensitize.pl.plates)


def test_plots_return_figures(sim_norm: tuple) -> None:  # type: ignore[type-arg]
    from matplotlib.figure import Figure

    from sensitize.pl.plates import plot_plate, plot_qc, plot_viability_vs_induction

    sim, _, norm = sim_norm
    failed = sim.params["failed_plate"]
    f1 = plot_plate(norm, failed, "viability", "b_score")
    assert isinstance(f1, Figure) and "QC FAIL" in f1.axes[0].get_title()
    assert f1.axes[0].get_xlabel() == "column"
    f2 = plot_qc(norm.qc, "z_prime")
    assert isinstance(f2, Figure) and len(f2.axes) == 2
    f3 = plot_viability_vs_induction(norm)
    assert "% of vehicle" in f3.axes[0].get_xlabel()
    with pytest.raises(KeyError):
        plot_plate(norm, "nope", "viability")

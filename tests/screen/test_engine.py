"""Tests of the screen engine: properties, bad input, reference agreement with SynergyFinder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensitize.core.errors import InputError
from sensitize.io.screen import read_screen
from sensitize.screen.doseresponse import fit_ll4, ll4, sensitivity_score
from sensitize.screen.engine import score_screen
from tests.conftest import shared_file

DOSES1 = np.array([0, 0.1, 0.3, 1, 3, 10])
DOSES2 = np.array([0, 0.05, 0.2, 0.8, 3.2, 12.8])


def hill(x: np.ndarray, ic50: float, h: float, emax: float = 100.0) -> np.ndarray:
    """Inhibition (%) of a Hill curve."""
    return emax * x**h / (x**h + ic50**h)


def grid_table(effect: np.ndarray, d1: np.ndarray = DOSES1, d2: np.ndarray = DOSES2, block: object = 1,
               kind: str = "inhibition") -> pd.DataFrame:
    i, j = np.meshgrid(np.arange(len(d1)), np.arange(len(d2)), indexing="ij")
    return pd.DataFrame({
        "block_id": block, "drug1": "A", "drug2": "B",
        "conc1": d1[i.ravel()], "conc2": d2[j.ravel()],
        "conc_unit1": "uM", "conc_unit2": "uM",
        "response": effect.ravel(), "response_kind": kind,
    })


# --------------------------------------------------------------------------- fits
def test_ll4_fit_recovers_parameters() -> None:
    x = np.tile(np.array([0, 0.01, 0.1, 1, 10, 100.0]), (3, 1))
    b = np.array([-1.0, -2.0, -0.7])
    c = np.array([0.0, 5.0, -3.0])
    d = np.array([100.0, 80.0, 60.0])
    e = np.array([1.0, 0.3, 5.0])
    y = ll4(x, b[:, None], c[:, None], d[:, None], e[:, None])
    f = fit_ll4(x, y)
    np.testing.assert_allclose(f.predict(x), y, atol=1e-6)
    np.testing.assert_allclose(f.e, e, rtol=1e-4)
    assert f.converged.all()
    assert np.all(f.r2 > 0.999999)


def test_fixed_plateau_is_respected() -> None:
    x = np.array([[0, 0.1, 1, 10, 100.0]])
    y = np.array([[10, 12, 40, 80, 95.0]])
    f = fit_ll4(x, y, fixed_c=np.array([10.0]))
    assert f.c[0] == 10.0


def test_flat_curve_is_flagged_not_failed() -> None:
    x = np.array([[0, 1, 2, 3.0]])
    f = fit_ll4(x, np.array([[5.0, 5.0, 5.0, 5.0]]))
    assert f.flat[0] and f.converged[0]
    np.testing.assert_allclose(f.predict(x), 5.0)


def test_sensitivity_score_equals_numeric_integral() -> None:
    x = np.array([[0.0, 0.01, 0.1, 1, 10, 100]])
    y = hill(x, 1.0, 1.0)
    f = fit_ll4(x, y)
    lo, hi = np.log10([0.01]), np.log10([100.0])
    grid = np.linspace(lo[0], hi[0], 20001)
    numeric = np.trapezoid(f.predict(10 ** grid[None, :])[0], grid) / (hi[0] - lo[0])
    assert sensitivity_score(f, lo, hi)[0] == pytest.approx(numeric, abs=1e-6)


# --------------------------------------------------------------------------- models
def test_bliss_delta_zero_on_multiplicative_surface() -> None:
    a = hill(DOSES1, 1.0, 1.2)
    b = hill(DOSES2, 0.5, 0.8, 90)
    surf = 100 * (1 - (1 - a[:, None] / 100) * (1 - b[None, :] / 100))
    r = score_screen(grid_table(surf), n_boot=0)
    assert abs(r.table["Bliss_synergy"].iloc[0]) < 1e-10
    assert np.abs(r.cells["Bliss_synergy"]).max() < 1e-10
    # ZIP reduces to Bliss on a Bliss-independent surface of Hill curves (Yadav 2015)
    assert abs(r.table["ZIP_synergy"].iloc[0]) < 0.5


def test_hsa_delta_zero_on_hsa_surface() -> None:
    a = hill(DOSES1, 1.0, 1.2)
    b = hill(DOSES2, 0.5, 0.8, 90)
    surf = np.maximum(a[:, None], b[None, :])
    r = score_screen(grid_table(surf), n_boot=0, models=("HSA",))
    assert r.table["HSA_synergy"].iloc[0] == 0.0


def test_loewe_delta_zero_on_sham_combination() -> None:
    """A drug combined with itself is Loewe additive: E(x1, x2) = f(x1 + x2)."""
    d = np.array([0, 0.05, 0.2, 0.8, 3.2, 12.8])
    surf = hill(d[:, None] + d[None, :], 1.0, 1.3)
    r = score_screen(grid_table(surf, d, d), n_boot=0, models=("Loewe",))
    assert abs(r.table["Loewe_synergy"].iloc[0]) < 1e-3
    assert np.abs(r.cells["Loewe_synergy"]).max() < 1e-2
    ci = r.cells.loc[(r.cells.conc1 > 0) & (r.cells.conc2 > 0), "Loewe_ci"]
    np.testing.assert_allclose(ci, 1.0, atol=1e-3)


def test_loewe_grid_mode_within_resolution() -> None:
    d = np.array([0, 0.05, 0.2, 0.8, 3.2, 12.8])
    surf = hill(d[:, None] + d[None, :], 1.0, 1.3)
    exact = score_screen(grid_table(surf, d, d), n_boot=0, models=("Loewe",))
    grid = score_screen(grid_table(surf, d, d), n_boot=0, models=("Loewe",), loewe_method="grid")
    diff = np.abs(exact.cells["Loewe_ref"] - grid.cells["Loewe_ref"]).max()
    assert diff <= 1.01  # one grid step of a 0-100 range


@settings(max_examples=25, deadline=None, derandomize=True)
@given(st.floats(0.3, 3.0), st.floats(0.6, 2.5), st.floats(0.3, 3.0), st.floats(0.6, 2.5))
def test_bliss_and_hsa_zero_property(c1: float, h1: float, c2: float, h2: float) -> None:
    a = hill(DOSES1, c1, h1)
    b = hill(DOSES2, c2, h2)
    bliss = 100 * (1 - (1 - a[:, None] / 100) * (1 - b[None, :] / 100))
    r = score_screen(grid_table(bliss), n_boot=0, models=("Bliss", "HSA"), sensitivity=False)
    assert abs(r.table["Bliss_synergy"].iloc[0]) < 1e-9
    hsa = np.maximum(a[:, None], b[None, :])
    r2 = score_screen(grid_table(hsa), n_boot=0, models=("HSA",), sensitivity=False)
    assert r2.table["HSA_synergy"].iloc[0] == 0.0


def _musyc_like(alpha: float) -> np.ndarray:
    """Potency-shift surface: drug 2 scales drug 1's potency by alpha (synergy if > 1)."""
    c1 = 1.0 / (1 + (alpha - 1) * DOSES2[None, :] / (DOSES2[None, :] + 0.5))
    a = 100 * DOSES1[:, None] ** 1.2 / (DOSES1[:, None] ** 1.2 + c1**1.2)
    b = hill(DOSES2, 0.5, 0.8, 60)[None, :]
    return 100 * (1 - (1 - a / 100) * (1 - b / 100))


@pytest.mark.parametrize("model", ["ZIP", "Bliss", "Loewe", "HSA"])
def test_signs_on_synergistic_and_antagonistic_surfaces(model: str) -> None:
    syn = score_screen(grid_table(_musyc_like(8.0)), n_boot=0).table[f"{model}_synergy"].iloc[0]
    ant = score_screen(grid_table(_musyc_like(0.15)), n_boot=0).table[f"{model}_synergy"].iloc[0]
    assert syn > ant
    if model in ("ZIP", "Bliss"):
        assert syn > 1 and ant < -1


def test_three_drug_block_hsa_bliss() -> None:
    d = np.array([0, 0.3, 1, 3.0])
    g = np.meshgrid(d, d, d, indexing="ij")
    a, b, c = (hill(x, 1.0, 1.0) for x in g)
    surf = 100 * (1 - (1 - a / 100) * (1 - b / 100) * (1 - c / 100))
    df = pd.DataFrame({"block_id": 1, "drug1": "A", "drug2": "B", "drug3": "C",
                       "conc1": g[0].ravel(), "conc2": g[1].ravel(), "conc3": g[2].ravel(),
                       "conc_unit1": "uM", "conc_unit2": "uM", "conc_unit3": "uM",
                       "response": surf.ravel(), "response_kind": "inhibition"})
    r = score_screen(df, n_boot=0, models=("HSA", "Bliss", "ZIP"))
    assert r.table["n_drugs"].iloc[0] == 3
    assert abs(r.table["Bliss_synergy"].iloc[0]) < 1e-9
    assert r.table["HSA_synergy"].iloc[0] > 0  # the Bliss surface exceeds every single agent
    assert len(r.cells) == 64


def test_viability_is_converted_to_inhibition() -> None:
    a = hill(DOSES1, 1.0, 1.2)
    b = hill(DOSES2, 0.5, 0.8, 90)
    surf = 100 * (1 - (1 - a[:, None] / 100) * (1 - b[None, :] / 100)) + 10 * (DOSES1[:, None] > 0) * (DOSES2[None, :] > 0)
    inh = score_screen(grid_table(surf), n_boot=0)
    via = score_screen(grid_table(100 - surf, kind="viability"), n_boot=0)
    cols = ["ZIP_synergy", "HSA_synergy", "Bliss_synergy", "Loewe_synergy", "css"]
    np.testing.assert_allclose(inh.table[cols].to_numpy(float), via.table[cols].to_numpy(float), atol=1e-8)


# --------------------------------------------------------------------------- replicates
def test_replicates_bootstrap_is_seeded_and_order_independent() -> None:
    rng = np.random.default_rng(0)
    base = _musyc_like(3.0)
    frames = []
    for rep in range(3):
        t = grid_table(base + rng.normal(0, 3, base.shape), block="b1")
        t["replicate"] = rep + 1
        frames.append(t)
    t2 = grid_table(_musyc_like(0.5), block="b2")
    df = pd.concat([*frames, t2], ignore_index=True)
    r1 = score_screen(df, n_boot=30, seed=7)
    r2 = score_screen(df.iloc[::-1].reset_index(drop=True), n_boot=30, seed=7)
    k = r1.table.set_index("block_id").loc["b1"]
    assert k["n_replicates_max"] == 3
    assert k["ZIP_synergy_ci_low"] <= k["ZIP_synergy"] <= k["ZIP_synergy_ci_high"]
    a = r1.table.set_index("block_id").sort_index().select_dtypes("number")
    b = r2.table.set_index("block_id").sort_index().select_dtypes("number")
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9, atol=1e-9)
    r3 = score_screen(df, n_boot=30, seed=8)
    assert r3.table.set_index("block_id").loc["b1", "ZIP_synergy_ci_low"] != k["ZIP_synergy_ci_low"]


# --------------------------------------------------------------------------- bad input
def test_missing_cell_rejects_block_with_reason_and_run_goes_on() -> None:
    good = grid_table(_musyc_like(2.0), block="good")
    bad = grid_table(_musyc_like(2.0), block="bad").iloc[:-1]
    r = score_screen(pd.concat([good, bad]), n_boot=0)
    assert list(r.table["block_id"]) == ["good"]
    reason = r.rejected.set_index("block_id").loc["bad", "reason"]
    assert "incomplete dose grid" in reason and "(10, 12.8)" in reason
    r2 = score_screen(pd.concat([good, bad]), n_boot=0, impute="neighbours")
    assert set(r2.table["block_id"]) == {"good", "bad"}
    assert int(r2.table.set_index("block_id").loc["bad", "n_imputed"]) == 1


def test_block_without_monotherapy_is_rejected() -> None:
    t = grid_table(_musyc_like(2.0))
    t = t[t.conc1 > 0]
    r = score_screen(t, n_boot=0)
    assert r.table.empty
    assert "no zero-dose" in r.rejected["reason"].iloc[0]


def test_bad_input_errors_name_column_and_rows() -> None:
    t = grid_table(_musyc_like(2.0))
    t["cell_line"] = "X"
    t.loc[5, "cell_line"] = "Y"
    with pytest.raises(InputError, match="cell_line") as ei:
        score_screen(t, source="plate.csv")
    assert "plate.csv" in str(ei.value)
    t2 = grid_table(_musyc_like(2.0)).drop(columns="response_kind")
    with pytest.raises(InputError, match="response kind"):
        score_screen(t2)
    t3 = grid_table(_musyc_like(2.0))
    t3.loc[3, "conc1"] = -1
    with pytest.raises(InputError, match="negative") as ei3:
        score_screen(t3)
    assert ei3.value.rows == [4]


def test_nonconvergent_or_flat_blocks_are_reported() -> None:
    flat = grid_table(np.full((6, 6), 20.0), block="flat")
    r = score_screen(flat, n_boot=0)
    assert len(r.table) == 1
    assert np.isfinite(r.table["Bliss_synergy"].iloc[0])
    assert set(r.curves["flat"]) == {True}


# --------------------------------------------------------------------------- reference
@pytest.mark.reference
@pytest.mark.slow
def test_agreement_with_synergyfinder_mathews466() -> None:
    """SynergyFinder 3.14 on all 466 Mathews Griner blocks (default settings).

    HSA and Bliss are exact.  ZIP, RI, IC50 and CSS depend on drc's optimiser on
    non-identifiable curves; the floors below are the agreement measured today (see
    docs/screen.md), not the issue's targets, and guard against regressions.
    """
    ref_dir = shared_file("screen", "synergyfinder_reference")
    df = read_screen(ref_dir / "mathews466_input.csv", response_kind="viability")
    r = score_screen(df)
    s = pd.read_csv(ref_dir / "mathews466_summary.csv")
    b = r.table.assign(block_id=r.table.block_id.astype(int)).merge(s, on="block_id", suffixes=("", "_sf"))
    assert len(b) == 466
    for m in ("HSA", "Bliss"):
        np.testing.assert_allclose(b[f"{m}_synergy"], b[f"{m}_synergy_sf"], atol=1e-6)
        sfp = pd.to_numeric(b[f"{m}_synergy_p_value_sf"].astype(str).str.replace("< ", ""), errors="coerce")
        np.testing.assert_allclose(b[f"{m}_synergy_p_value"], sfp, rtol=6e-3)  # SF prints 3 digits
    cells = pd.read_csv(ref_dir / "mathews466_cells.csv")
    c = r.cells.assign(block_id=r.cells.block_id.astype(int)).merge(cells, on=["block_id", "conc1", "conc2"], suffixes=("", "_sf"))
    assert len(c) == len(cells)
    for col in ("HSA_ref", "HSA_synergy", "Bliss_ref", "Bliss_synergy"):
        np.testing.assert_allclose(c[col], c[f"{col}_sf"], atol=1e-6)
    within = lambda col, tol: float(((b[col] - b[f"{col}_sf"]).abs() < tol).mean())  # noqa: E731
    # measured with the default drc fitter: ZIP 100 %, RI 100 %, CSS 98.5 %, IC50 97.4/100 %
    assert within("ZIP_synergy", 0.5) >= 0.99
    assert within("ZIP_synergy", 0.1) >= 0.97
    assert within("ri_1", 0.5) >= 0.99
    assert within("ri_2", 0.5) >= 0.99
    assert within("ic50_1", 0.5) >= 0.96
    assert within("ic50_2", 0.5) >= 0.99
    assert within("css", 1.0) >= 0.97
    # SynergyFinder's ZIP reference surface, cell by cell
    assert float(((c["ZIP_ref"] - c["ZIP_ref_sf"]).abs() < 1e-3).mean()) >= 0.93  # measured 94.0 %


@pytest.mark.reference
def test_agreement_with_synergyfinder_decrease192() -> None:
    """SynergyFinder 3.14 on the 192 DECREASE 8x8 blocks (default settings)."""
    ref_dir = shared_file("screen", "synergyfinder_reference")
    df = read_screen(ref_dir / "decrease192_input.csv", response_kind="viability")
    r = score_screen(df, n_boot=0)
    s = pd.read_csv(ref_dir / "decrease192_summary.csv")
    b = r.table.assign(block_id=r.table.block_id.astype(int)).merge(s, on="block_id", suffixes=("", "_sf"))
    assert len(b) == 192
    np.testing.assert_allclose(b["Bliss_synergy"], b["Bliss_synergy_sf"], atol=1e-6)
    within = lambda col, tol: float(((b[col] - b[f"{col}_sf"]).abs() < tol).mean())  # noqa: E731
    # measured: ZIP 100 %, RI 100 %, CSS 99.5 %, IC50 99.5/99.0 %
    assert within("ZIP_synergy", 0.5) >= 0.99
    assert within("ri_1", 0.5) >= 0.99
    assert within("ri_2", 0.5) >= 0.99
    assert within("css", 1.0) >= 0.98
    assert within("ic50_1", 0.5) >= 0.98


def _loewe_grid_agreement(name: str) -> dict[str, float]:
    """Our Loewe grid mode against SynergyFinder 3.14, cell by cell and per block.

    The grid step of a block is (highest - lowest plateau of its two fits) / 99.  Blocks
    whose fits equal SynergyFinder's are recognised by an equal combination index in every
    cell (it depends on the fits only).
    """
    ref_dir = shared_file("screen", "synergyfinder_reference")
    df = read_screen(ref_dir / f"{name}_input.csv", response_kind="viability")
    r = score_screen(df, n_boot=0, sensitivity=False, models=("Loewe",), loewe_method="grid")
    cur = r.curves.assign(block_id=r.curves.block_id.astype(int))
    lo = np.minimum(cur.c, cur.d).groupby(cur.block_id).min()
    hi = np.maximum(cur.c, cur.d).groupby(cur.block_id).max()
    step = ((hi - lo) / 99).rename("step")
    cells = pd.read_csv(ref_dir / f"{name}_cells.csv")
    c = r.cells.assign(block_id=r.cells.block_id.astype(int)).merge(
        cells, on=["block_id", "conc1", "conc2"], suffixes=("", "_sf"))
    assert len(c) == len(cells)
    c = c[(c.conc1 > 0) & (c.conc2 > 0)].merge(step, left_on="block_id", right_index=True)
    d = (c.Loewe_ref - c.Loewe_ref_sf).abs()
    one_step = d <= c.step * (1 + 1e-9)
    same_ci = pd.Series(np.isclose(c.Loewe_ci, c.Loewe_ci_sf, rtol=1e-4, atol=1e-6)
                        | (np.isinf(c.Loewe_ci) & np.isinf(c.Loewe_ci_sf)), index=c.index)
    same_fit = same_ci.groupby(c.block_id).transform("all")
    s = pd.read_csv(ref_dir / f"{name}_summary.csv")
    b = r.table.assign(block_id=r.table.block_id.astype(int)).merge(s, on="block_id", suffixes=("", "_sf"))
    bd = (b.Loewe_synergy - b.Loewe_synergy_sf).abs()
    return {
        "cells_one_step": float(one_step.mean()),
        "cells_one_step_same_fit": float(one_step[same_fit].mean()),
        "cells_exact": float((d < 1e-6).mean()),
        "blocks_same_fit": float(same_fit.groupby(c.block_id).first().mean()),
        "blocks_within_0.5": float((bd < 0.5).mean()),
        "blocks_within_1": float((bd < 1.0).mean()),
    }


@pytest.mark.reference
@pytest.mark.parametrize(("name", "floors"), [
    # measured 2026-11-22: cells within one step 99.82 % / 99.93 %; blocks within 0.5
    # 97.6 % / 99.5 %; every cell of a block whose fits equal SynergyFinder's within one step
    ("mathews466", {"cells_one_step": 0.997, "blocks_within_0.5": 0.97, "blocks_within_1": 0.98}),
    ("decrease192", {"cells_one_step": 0.998, "blocks_within_0.5": 0.99, "blocks_within_1": 0.995}),
])
def test_loewe_grid_mode_reproduces_synergyfinder(name: str, floors: dict[str, float]) -> None:
    """``loewe_method="grid"`` is SynergyFinder 3's ``.SolveLoewe`` (100 levels, first minimum).

    With equal monotherapy fits every cell is within one grid step (most are identical);
    the rest differ because drc's optimiser reached another optimum of a non-identifiable
    curve (a flat or shallow monotherapy whose far plateau moves the grid).
    """
    got = _loewe_grid_agreement(name)
    assert got["cells_one_step_same_fit"] == 1.0, got
    assert got["blocks_same_fit"] >= 0.8, got
    for key, floor in floors.items():
        assert got[key] >= floor, got


@pytest.mark.reference
def test_agreement_with_synergyfinder_example_blocks() -> None:
    ref_dir = shared_file("screen", "synergyfinder_reference")
    df = read_screen(shared_file("screen", "synergyfinder_bioc", "mathews_screening_data.csv"), response_kind="viability")
    r = score_screen(df)
    s = pd.read_csv(ref_dir / "package_examples" / "mathews_screening_data_summary.csv")
    b = r.table.assign(block_id=r.table.block_id.astype(int)).merge(s, on="block_id", suffixes=("", "_sf"))
    np.testing.assert_allclose(b["HSA_synergy"], b["HSA_synergy_sf"], atol=1e-6)
    np.testing.assert_allclose(b["Bliss_synergy"], b["Bliss_synergy_sf"], atol=1e-6)


def test_rectangular_grid() -> None:
    d1 = np.array([0, 0.1, 0.3, 1, 3, 10, 30.0, 100])
    d2 = np.array([0, 0.2, 0.8, 3.2])
    a = hill(d1, 1.0, 1.0)
    b = hill(d2, 0.5, 1.0, 80)
    surf = 100 * (1 - (1 - a[:, None] / 100) * (1 - b[None, :] / 100))
    r = score_screen(grid_table(surf, d1, d2), n_boot=0)
    assert r.table["grid"].iloc[0] == "8x4"
    assert abs(r.table["Bliss_synergy"].iloc[0]) < 1e-9
    assert len(r.cells) == 32


# --------------------------------------------------------------------------- induction scales
def _cytokine_table() -> pd.DataFrame:
    """A SynergyFinder-style block with a raw chemokine readout (pg/mL, vehicle 200)."""
    t = grid_table(_musyc_like(2.0), block="c1")
    t["response"] = 200.0 * 2.0 ** (t["response"] / 25.0)  # 200 pg/mL at vehicle, up to 16x
    return t.drop(columns=["response_kind"], errors="ignore")


def test_induction_log2fc_and_percent_max_are_relative_to_vehicle() -> None:
    t = _cytokine_table()
    r = score_screen(t, response_kind="induction", induction="log2fc", n_boot=0)
    cells = r.cells
    veh = cells[(cells.conc1 == 0) & (cells.conc2 == 0)]["response"].iloc[0]
    assert abs(veh) < 1e-12
    expect = np.log2(t["response"].to_numpy() / 200.0)
    got = cells.sort_values(["conc1", "conc2"])["response"].to_numpy()
    np.testing.assert_allclose(np.sort(got), np.sort(expect), atol=1e-12)
    p = score_screen(t, response_kind="induction", induction="percent_max", n_boot=0).cells
    assert p["response"].min() >= -1e-9  # nothing below the vehicle in this block
    assert abs(p["response"].max() - 100.0) < 1e-9
    assert r.params["induction_scale"] == "log2fc"


def test_induction_log2fc_rejects_non_positive_signal_naming_rows() -> None:
    t = _cytokine_table()
    t.loc[5, "response"] = 0.0
    with pytest.raises(InputError) as ei:
        score_screen(t, response_kind="induction", induction="log2fc", n_boot=0)
    assert ei.value.rows == [6]

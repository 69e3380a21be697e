"""Tests of the seeded MuSyC synthetic screen generator."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensitize.screen.schema import validate_screen
from sensitize.screen.synthetic import (
    BATCH_BLOCKS,
    COLUMNS,
    musyc_surface,
    synthetic_params,
    synthetic_screen,
    write_synthetic_csv,
)


def _tree_weights(x1: float, x2: float, y1: float, y2: float) -> np.ndarray:
    """Steady state of the 4-state MuSyC chain by solving the linear system directly."""
    # states U, A1, A12, A2; q[i, j] = rate i -> j
    q = np.zeros((4, 4))
    q[0, 1], q[1, 0] = x1, 1.0
    q[1, 2], q[2, 1] = y2, 1.0
    q[3, 2], q[2, 3] = y1, 1.0
    q[0, 3], q[3, 0] = x2, 1.0
    gen = q - np.diag(q.sum(axis=1))
    a = np.vstack([gen.T, np.ones(4)])
    b = np.zeros(5)
    b[-1] = 1.0
    return np.linalg.lstsq(a, b, rcond=None)[0]


def test_shape_columns_and_validation() -> None:
    df = synthetic_screen(7, grid=5, replicates=3, seed=1)
    assert list(df.columns) == list(COLUMNS)
    assert len(df) == 7 * 5 * 5 * 3
    assert (df["response_kind"] == "viability").all()
    v = validate_screen(df)
    assert len(v) == len(df)


def test_grid_complete_with_zero_and_dilution_four() -> None:
    df = synthetic_screen(5, grid=6, replicates=2, seed=3)
    for _, b in df.groupby("block_id"):
        c1 = np.sort(b["conc1"].unique())
        c2 = np.sort(b["conc2"].unique())
        assert len(c1) == 6 and len(c2) == 6
        assert c1[0] == 0.0 and c2[0] == 0.0
        np.testing.assert_allclose(c1[2:] / c1[1:-1], 4.0)
        np.testing.assert_allclose(c2[2:] / c2[1:-1], 4.0)
        cells = set(zip(b["conc1"], b["conc2"], b["replicate"], strict=True))
        assert cells == set(itertools.product(c1, c2, (1, 2)))
        assert b[["drug1", "drug2", "cell_line"]].nunique().max() == 1
        assert b["drug1"].iloc[0] != b["drug2"].iloc[0]


def test_determinism_and_prefix_stability() -> None:
    a = synthetic_screen(30, seed=11)
    b = synthetic_screen(30, seed=11)
    pd.testing.assert_frame_equal(a, b)
    c = synthetic_screen(30, seed=12)
    assert not np.allclose(a["response"], c["response"])
    # block b does not depend on n_blocks
    small = synthetic_screen(10, seed=11)
    pd.testing.assert_frame_equal(small, a.iloc[: len(small)].reset_index(drop=True))


def test_noise_zero_matches_truth_and_noise_level() -> None:
    df = synthetic_screen(40, grid=6, noise=0.0, seed=5)
    p = synthetic_params(40, grid=6, seed=5).set_index("block_id")
    for bid in (1, 17, 40):
        b = df[df["block_id"] == bid]
        q = p.loc[bid]
        want = musyc_surface(
            b["conc1"].to_numpy(), b["conc2"].to_numpy(), q.E0, q.E1, q.E2, q.E3,
            q.h1, q.h2, q.C1, q.C2, q.alpha12, q.alpha21,
        )
        np.testing.assert_allclose(b["response"].to_numpy(), want, rtol=1e-12)
    # vehicle cell equals E0 = 100 with no noise
    assert np.allclose(df.loc[(df.conc1 == 0) & (df.conc2 == 0), "response"], 100.0)
    noisy = synthetic_screen(40, grid=6, noise=3.0, seed=5)
    resid = noisy["response"].to_numpy() - df["response"].to_numpy()
    assert 2.7 < resid.std() < 3.3


@settings(max_examples=40, derandomize=True, deadline=None)
@given(
    d1=st.floats(0, 100), d2=st.floats(0, 100), h1=st.floats(0.3, 3), h2=st.floats(0.3, 3),
    a12=st.floats(0.05, 20), a21=st.floats(0.05, 20),
)
def test_surface_matches_linear_steady_state(d1: float, d2: float, h1: float, h2: float, a12: float, a21: float) -> None:
    c1, c2 = 1.5, 0.7
    e = np.array([100.0, 40.0, 60.0, 10.0])  # E0, E1, E2, E3
    x1, x2 = (d1 / c1) ** h1, (d2 / c2) ** h2
    y1, y2 = (a12 * d1 / c1) ** h1, (a21 * d2 / c2) ** h2
    p = _tree_weights(x1, x2, y1, y2)  # order U, A1, A12, A2
    want = e[0] * p[0] + e[1] * p[1] + e[3] * p[2] + e[2] * p[3]
    got = musyc_surface(np.array(d1), np.array(d2), *e, h1, h2, c1, c2, a12, a21)
    assert got == pytest.approx(want, rel=1e-7, abs=1e-7)


def test_single_drug_is_hill_and_detailed_balance_closed_form() -> None:
    d = np.array([0.0, 0.1, 1.0, 10.0])
    got = musyc_surface(d, np.zeros(4), 100.0, 20.0, 50.0, 5.0, 1.3, 0.8, 1.0, 2.0, 3.0, 0.5)
    np.testing.assert_allclose(got, 100.0 + (20.0 - 100.0) * d**1.3 / (1.0 + d**1.3))
    # detailed balance alpha21^h2 == alpha12^h1: weights 1, x1, x2, x1*y2
    h1, h2, a12 = 1.5, 0.8, 4.0
    a21 = a12 ** (h1 / h2)
    d1, d2 = 0.7, 3.0
    x1, x2, y2 = d1**h1, (d2 / 2.0) ** h2, (a21 * d2 / 2.0) ** h2
    w = np.array([1.0, x1, x2, x1 * y2])
    want = (w @ np.array([100.0, 20.0, 50.0, 5.0])) / w.sum()
    assert musyc_surface(np.array(d1), np.array(d2), 100.0, 20.0, 50.0, 5.0, h1, h2, 1.0, 2.0, a12, a21) == pytest.approx(want)


def test_write_csv_chunked_equals_frame(tmp_path: Path) -> None:
    n = BATCH_BLOCKS + 10  # crosses an internal batch boundary
    path = write_synthetic_csv(tmp_path / "s.csv", n, grid=3, seed=2, chunk_blocks=1000)
    back = pd.read_csv(path)
    want = synthetic_screen(n, grid=3, seed=2)
    assert len(back) == len(want) and back["block_id"].nunique() == n
    np.testing.assert_allclose(back["response"].to_numpy(), want["response"].to_numpy(), rtol=1e-12)
    assert (back["drug1"].to_numpy() == want["drug1"].to_numpy()).all()
    assert not list(tmp_path.glob(".*tmp"))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        synthetic_screen(3, grid=2)
    with pytest.raises(ValueError):
        synthetic_screen(3, replicates=0)
    with pytest.raises(ValueError):
        synthetic_screen(3, noise=-1)
    assert len(synthetic_screen(0)) == 0

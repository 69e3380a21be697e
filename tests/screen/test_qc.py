"""Plate QC: Z'-factor, SSMD, CVs and signal window against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensitize.core.errors import InputError
from sensitize.screen.qc import (
    QCThresholds,
    cv_percent,
    mad,
    plate_qc,
    robust_ssmd,
    robust_z_prime,
    signal_window,
    ssmd,
    z_prime,
)

# --------------------------------------------------------------------------- textbook formulas


def test_z_prime_hand_computed() -> None:
    # Zhang, Chung & Oldenburg (1999): Z' = 1 - 3 (sd_p + sd_n) / |mu_p - mu_n|
    # pos: mean 12, sd 2; neg: mean 2, sd 1 -> 1 - 3 * 3 / 10 = 0.1
    assert z_prime([10, 12, 14], [1, 2, 3]) == pytest.approx(0.1, abs=1e-12)
    # a killing control below the vehicle: mean 5 (sd 5) vs 100 (sd 10) -> 1 - 45/95
    assert z_prime([0, 5, 10], [90, 100, 110]) == pytest.approx(1 - 45 / 95, abs=1e-12)


def test_ssmd_hand_computed() -> None:
    # Zhang (2007): SSMD = (mu_p - mu_n) / sqrt(sd_p^2 + sd_n^2)
    assert ssmd([10, 12, 14], [1, 2, 3]) == pytest.approx(10 / math.sqrt(5), abs=1e-12)
    assert ssmd([0, 5, 10], [90, 100, 110]) == pytest.approx(-95 / math.sqrt(125), abs=1e-12)


def test_robust_versions_hand_computed() -> None:
    pos, neg = [10, 12, 14, 100], [1, 2, 3, 50]
    # medians 13 and 2.5; raw MADs 2 and 1, scaled by 1.4826
    assert mad(pos) == pytest.approx(1.4826 * 2)
    assert robust_z_prime(pos, neg) == pytest.approx(1 - 3 * (1.4826 * 2 + 1.4826 * 1) / 10.5)
    assert robust_ssmd(pos, neg) == pytest.approx(10.5 / math.sqrt((1.4826 * 2) ** 2 + 1.4826**2))
    # the outliers wreck the classical Z' but not the robust one
    assert z_prime(pos, neg) < -1 < robust_z_prime(pos, neg)


def test_signal_window_and_cv() -> None:
    # SW = (|mu_hi - mu_lo| - 3 (sd_hi + sd_lo)) / sd_hi = (10 - 9) / 2
    assert signal_window([10, 12, 14], [1, 2, 3]) == pytest.approx(0.5)
    assert signal_window([1, 2, 3], [10, 12, 14]) == pytest.approx(0.5)
    assert cv_percent([10, 12, 14]) == pytest.approx(100 * 2 / 12)


def test_degenerate_inputs_give_nan() -> None:
    assert math.isnan(z_prime([1], [2, 3]))
    assert math.isnan(z_prime([2, 2], [2, 2]))
    assert math.isnan(ssmd([1, 1], [1, 1]))
    assert math.isnan(z_prime([np.nan, 1.0], [1, 2, 3]))  # one finite value left


_vals = st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=2, max_size=12)


@settings(max_examples=60, derandomize=True, deadline=None)
@given(_vals, _vals, st.floats(0.01, 100), st.floats(-1e3, 1e3))
def test_z_prime_affine_invariance_and_ssmd_antisymmetry(p: list[float], n: list[float], a: float, b: float) -> None:
    z = z_prime(p, n)
    z2 = z_prime([a * x + b for x in p], [a * x + b for x in n])
    if np.isfinite(z) and np.ptp(p + n) > 1e-6 * max(1.0, np.max(np.abs(p + n))):
        assert z2 == pytest.approx(z, rel=1e-6, abs=1e-6)
    s = ssmd(p, n)
    if np.isfinite(s):
        assert ssmd(n, p) == pytest.approx(-s)
    if np.isfinite(z):
        assert z <= 1.0 + 1e-12


# --------------------------------------------------------------------------- plate_qc


def _plate(name: str, readout: str, veh: list[float], pos: list[float], samples: list[float],
           control_readout: str | None = None) -> pd.DataFrame:
    recs = [("vehicle", None, v) for v in veh] + [("positive_control", control_readout, v) for v in pos]
    recs += [("sample", None, v) for v in samples]
    df = pd.DataFrame(recs, columns=["role", "control_readout", "raw"])
    df["plate"], df["readout"], df["cell_line"] = name, readout, "LLC1"
    df["well"] = [f"A{i + 1:02d}" for i in range(len(df))]
    return df


def test_plate_qc_matches_scalar_formulas() -> None:
    rng = np.random.default_rng(1)
    parts = []
    for i in range(5):
        veh = list(rng.normal(1000, 60 + 30 * i, 8))
        pos = list(rng.normal(50, 10, 6))
        parts.append(_plate(f"P{i}", "viability", veh, pos, list(rng.normal(700, 200, 20)), "viability"))
        parts.append(_plate(f"P{i}", "CXCL10", list(rng.normal(40, 5, 8)), list(rng.normal(600, 80, 6)),
                            list(rng.normal(60, 20, 20)), "CXCL10"))
    df = pd.concat(parts, ignore_index=True)
    # the CXCL10 positive controls do not count for viability and vice versa
    q = plate_qc(df).table
    assert len(q) == 10
    for _, r in q.iterrows():
        sub = df.loc[(df["plate"] == r["plate"]) & (df["readout"] == r["readout"])]
        p = sub.loc[sub["role"] == "positive_control", "raw"]
        n = sub.loc[sub["role"] == "vehicle", "raw"]
        assert r["z_prime"] == pytest.approx(z_prime(p, n))
        assert r["z_prime_robust"] == pytest.approx(robust_z_prime(p, n))
        assert r["ssmd"] == pytest.approx(ssmd(p, n))
        assert r["ssmd_robust"] == pytest.approx(robust_ssmd(p, n))
        assert r["signal_window"] == pytest.approx(signal_window(p, n))
        assert r["cv_vehicle"] == pytest.approx(cv_percent(n))
        assert r["n_vehicle"] == 8 and r["n_positive"] == 6


def test_positive_control_scoped_to_its_readout() -> None:
    v = _plate("P", "viability", [100, 101, 99, 100], [5, 6, 4], [50], "viability")
    c = _plate("P", "CXCL10", [10, 11, 9, 10], [5, 6, 4], [20], "viability")  # the killing wells, read for CXCL10
    q = plate_qc(pd.concat([v, c])).table.set_index("readout")
    assert q.loc["viability", "n_positive"] == 3
    assert q.loc["CXCL10", "n_positive"] == 0
    assert not q.loc["CXCL10", "qc_pass"]
    assert "no positive-control wells for CXCL10" in q.loc["CXCL10", "qc_reason"]


def test_thresholds_and_reasons() -> None:
    good = _plate("G", "viability", [100, 102, 98, 101, 99], [3, 4, 2, 3], [50] * 10, "viability")
    noisy = _plate("N", "viability", [100, 140, 60, 120, 80], [3, 4, 2, 3], [50] * 10, "viability")
    no_veh = _plate("X", "viability", [], [3, 4, 2, 3], [50] * 10, "viability")
    few = _plate("F", "viability", [100, 101], [3, 4], [50] * 10, "viability")
    res = plate_qc(pd.concat([good, noisy, no_veh, few]))
    t = res.table.set_index("plate")
    assert t.loc["G", "qc_pass"] and t.loc["G", "qc_reason"] == ""
    assert not t.loc["N", "qc_pass"]
    assert "Z'=" in t.loc["N", "qc_reason"] and "vehicle CV=" in t.loc["N", "qc_reason"]
    assert t.loc["X", "qc_reason"].startswith("no vehicle wells") and np.isnan(t.loc["X", "z_prime"])
    assert "only 2 vehicle well(s)" in t.loc["F", "qc_reason"]
    assert set(res.failed["plate"]) == {"N", "X", "F"}
    assert res.passed("G", "viability") and not res.passed("N", "viability")
    assert "FAIL N viability" in res.summary()
    # looser thresholds let the noisy plate through
    loose = plate_qc(noisy, thresholds={"viability": QCThresholds(z_prime_min=-1, ssmd_min=0, cv_max=100)})
    assert loose.table["qc_pass"].all()


def test_chemokine_default_is_looser() -> None:
    veh = [90.0, 100.0, 110.0] * 4  # sd ~10
    pos = [350.0, 400.0, 450.0] * 4  # sd ~50
    zp = z_prime(pos, veh)
    assert 0.3 < zp < 0.5  # fails a viability readout, passes a chemokine readout
    q = plate_qc(pd.concat([_plate("P", "viability", veh, pos, [1.0] * 5),
                            _plate("P", "CXCL10", veh, pos, [1.0] * 5)])).table.set_index("readout")
    assert not q.loc["viability", "qc_pass"] and q.loc["CXCL10", "qc_pass"]
    assert q.loc["viability", "z_prime_min"] == 0.5 and q.loc["CXCL10", "z_prime_min"] == 0.3


def test_robust_mode_tolerates_one_dead_control_well() -> None:
    veh = [1000, 1010, 990, 1005, 995, 1002, 998, 5]  # one dead well
    pos = [30, 32, 28, 31, 29, 30]
    df = _plate("P", "viability", veh, pos, [500.0] * 10)
    assert not plate_qc(df).table["qc_pass"].iloc[0]
    assert plate_qc(df, robust=True).table["qc_pass"].iloc[0]


def test_bad_well_fraction_flags_plate() -> None:
    veh = [100, 102, 98, 101, 99]
    pos = [3, 4, 2, 3]
    samples = [50.0] * 8 + [0.0, -1.0, np.nan]  # 3 of 20 wells unreadable
    q = plate_qc(_plate("P", "viability", veh, pos, samples)).table
    assert not q["qc_pass"].iloc[0] and "missing or non-positive" in q["qc_reason"].iloc[0]
    assert q["n_bad"].iloc[0] == 3


def test_missing_columns_error() -> None:
    with pytest.raises(InputError, match="plate QC"):
        plate_qc(pd.DataFrame({"plate": ["P"], "readout": ["v"]}))

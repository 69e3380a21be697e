"""Time-dependent cumulative/dynamic AUC with IPCW (Uno 2007)."""

from __future__ import annotations

import numpy as np
import pytest

from sensitize.cohort.response import auc_delong
from sensitize.cohort.timeroc import censoring_survival_left, cumulative_dynamic_auc
from sensitize.core.errors import InputError


def test_no_censoring_equals_plain_auc_of_cases_vs_controls() -> None:
    rng = np.random.default_rng(0)
    t = rng.exponential(10, 80)
    x = -t + rng.normal(0, 5, 80)
    d = np.ones(80)
    h = float(np.median(t))
    r = cumulative_dynamic_auc(t, d, x, [h]).table.iloc[0]
    auc, _ = auc_delong(x[t <= h], x[t > h])
    assert r["auc"] == pytest.approx(auc, rel=1e-12)
    assert r["n_cases"] == int((t <= h).sum())


def test_ipcw_weights_hand_computed() -> None:
    # times 1 (event), 2 (censored), 3 (event), 4 (event); horizon 3.5
    t = np.array([1.0, 2.0, 3.0, 4.0])
    d = np.array([1.0, 0.0, 1.0, 1.0])
    x = np.array([5.0, 0.0, 1.0, 2.0])
    # G(s-): 1 before 2, 1 - 1/3 = 2/3 after the censoring at 2
    np.testing.assert_allclose(censoring_survival_left(t, d, t), [1, 1, 2 / 3, 2 / 3])
    r = cumulative_dynamic_auc(t, d, x, [3.5]).table.iloc[0]
    # cases: t=1 (w=1, x=5 > 2), t=3 (w=1.5, x=1 < 2); control: t=4 (x=2)
    assert r["auc"] == pytest.approx((1 * 1 + 1.5 * 0) / (1 + 1.5))


def test_monotone_invariance_and_direction() -> None:
    rng = np.random.default_rng(1)
    t = rng.exponential(10, 60)
    d = (rng.uniform(size=60) < 0.7).astype(float)
    x = rng.normal(size=60)
    a = cumulative_dynamic_auc(t, d, x).table["auc"].to_numpy()
    b = cumulative_dynamic_auc(t, d, np.exp(x)).table["auc"].to_numpy()
    c = cumulative_dynamic_auc(t, d, -x).table["auc"].to_numpy()
    np.testing.assert_allclose(a, b)
    np.testing.assert_allclose(a, 1 - c)
    with pytest.raises(InputError):
        cumulative_dynamic_auc(t, d, np.r_[x[:-1], np.nan])

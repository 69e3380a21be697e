"""Fixtures for the results-store tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sensitize.store import ResultsStore


@pytest.fixture
def store(tmp_path: Path) -> ResultsStore:
    return ResultsStore(tmp_path / "results.duckdb", lock_timeout=0)


@pytest.fixture
def input_csv(tmp_path: Path) -> Path:
    p = tmp_path / "plate1.csv"
    p.write_text("block_id,drug1,drug2,conc1,conc2,response\n1,A,B,0,0,100\n1,A,B,1,1,40\n")
    return p


def blocks_table(seed: int, n: int = 6) -> pd.DataFrame:
    """A synergy-like result table, deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "block_id": np.arange(1, n + 1),
            "drug1": [f"D{i % 3}" for i in range(n)],
            "ZIP_synergy": rng.normal(size=n).round(6),
            "significant": rng.random(n) < 0.5,
        }
    )

"""Shared fixtures.

Reference data (real public screens, studies and cohorts) are looked up in
``$SENSITIZE_DATA`` (default ``../shared/data`` beside the checkout); tests that need them
skip with a clear reason when absent.  ``.ci/run`` sets the variable so they run in CI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    env = os.environ.get("SENSITIZE_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The reference-data folder; skips the test when it is absent."""
    p = _shared_data_dir()
    if not p.is_dir():
        pytest.skip(f"reference data not found at {p} (set SENSITIZE_DATA to the shared data folder)")
    return p


def shared_file(*parts: str) -> Path:
    """A file under the reference-data folder, or skip the test when it is absent."""
    p = _shared_data_dir().joinpath(*parts)
    if not p.exists():
        pytest.skip(f"reference file not found: {p} (set SENSITIZE_DATA to the shared data folder)")
    return p


@pytest.fixture(autouse=True, scope="session")
def _results_db_in_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """CLI runs record into the results store: keep it out of the working directory."""
    old = os.environ.get("SENSITIZE_DB")
    os.environ["SENSITIZE_DB"] = str(tmp_path_factory.mktemp("db") / "sensitize.duckdb")
    yield
    if old is None:
        os.environ.pop("SENSITIZE_DB", None)
    else:
        os.environ["SENSITIZE_DB"] = old

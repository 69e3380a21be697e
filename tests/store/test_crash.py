"""Crash safety and locking, with real separate processes.

The child process records a large run and signals (marker file) from inside the
transaction; the parent SIGKILLs it there and checks the database afterwards.  The child
blocks before the last table, so the kill always lands before ``COMMIT`` whatever the
machine's speed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from sensitize.store import ResultsStore, StoreLockedError
from tests.store.conftest import blocks_table

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL")

REPO = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import numpy as np
    import pandas as pd
    from sensitize.store import ResultsStore

    db, marker, mode = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    rng = np.random.default_rng(0)
    n = 200_000
    big = pd.DataFrame({"k": np.arange(n), "x": rng.normal(size=n), "s": np.repeat(["a", "bb", "ccc", "dddd"], n // 4)})
    tables = {"screen.blocks": pd.DataFrame({"block_id": [99], "ZIP_synergy": [9.9], "drug1": ["X"],
                                             "significant": [True], "new_column": ["only in the killed run"]})}
    tables.update({f"big.t{i}": big for i in range(6)})

    def progress(name, i, total):
        # "block": stop right after the first table; "keep_inserting": signal once two big
        # tables are written (DuckDB has then flushed uncommitted blocks to the file) and go on
        if i == (1 if mode == "block" else 3):
            marker.write_text("inside the transaction")
            if mode == "block":
                time.sleep(3600)
        if i == total - 1:
            time.sleep(3600)  # never reach COMMIT

    ResultsStore(db).record_run("big", [], {"huge": True}, tables, progress=progress)
    print("committed")
    """
)

HOLD_LOCK = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import duckdb
    con = duckdb.connect(sys.argv[1])
    Path(sys.argv[2]).write_text("locked")
    time.sleep(float(sys.argv[3]))
    con.close()
    """
)


def _spawn(code: str, *args: str) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _wait_for(marker: Path, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if proc.poll() is not None:
            _out, err = proc.communicate()
            raise AssertionError(f"child exited early ({proc.returncode}): {err.decode()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("child never reached the marker")
        time.sleep(0.01)


def _assert_consistent(store: ResultsStore, earlier: dict[int, pd.DataFrame]) -> None:
    runs = store.runs()
    assert runs["run_id"].tolist() == sorted(earlier)
    assert set(runs["kind"]) == {"screen.synergy"}
    assert store.tables()["table_name"].unique().tolist() == ["screen.blocks"]
    for rid, df in earlier.items():
        pd.testing.assert_frame_equal(store.table(rid, "screen.blocks"), df)
    # no orphan rows, no half-created table, no column added by the killed run
    orphans = store.query(
        "SELECT count(*) AS n FROM screen_blocks WHERE run_id NOT IN (SELECT run_id FROM runs)"
    )
    assert orphans["n"].item() == 0
    tabs = store.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'results'"
    )
    assert tabs["table_name"].tolist() == ["screen_blocks"]
    assert "new_column" not in store.query("SELECT * FROM screen_blocks LIMIT 0").columns
    assert (
        store.query(
            "SELECT count(*) AS n FROM run_inputs WHERE run_id NOT IN (SELECT run_id FROM runs)"
        )["n"].item()
        == 0
    )


@pytest.mark.parametrize("mode", ["block", "keep_inserting"])
def test_sigkill_during_a_run_leaves_the_database_consistent(tmp_path: Path, mode: str) -> None:
    db = tmp_path / "sensitize.duckdb"
    store = ResultsStore(db, lock_timeout=0)
    earlier = {
        store.record_run(
            "screen.synergy", [], {"seed": s}, {"screen.blocks": blocks_table(s)}
        ): blocks_table(s)
        for s in (1, 2)
    }
    marker = tmp_path / "marker"
    child = _spawn(CHILD, str(db), str(marker), mode)
    try:
        _wait_for(marker, child)
        if mode == "keep_inserting":
            time.sleep(0.1)  # kill while it is inserting the next big tables
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()  # type: ignore[union-attr]
        child.stderr.close()  # type: ignore[union-attr]
    assert child.returncode == -signal.SIGKILL
    # first open read-only (replays the write-ahead log in memory), then read-write
    _assert_consistent(store, earlier)
    last = max(earlier)
    new = store.record_run("screen.synergy", [], {}, {"screen.blocks": blocks_table(3)})
    assert new > last
    earlier[new] = blocks_table(3)
    _assert_consistent(store, earlier)


def test_locked_database_gives_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "sensitize.duckdb"
    store = ResultsStore(db, lock_timeout=0)
    store.record_run("screen.synergy", [], {}, {"screen.blocks": blocks_table(1)})
    marker = tmp_path / "locked"
    child = _spawn(HOLD_LOCK, str(db), str(marker), "60")
    try:
        _wait_for(marker, child)
        with pytest.raises(
            StoreLockedError, match=rf"in use by another process \(PID {child.pid}\)"
        ) as ei:
            store.record_run("screen.synergy", [], {}, {"screen.blocks": blocks_table(2)})
        assert ei.value.pid == child.pid and ei.value.path == str(db)
        assert "SENSITIZE_DB" in str(ei.value)
        with pytest.raises(StoreLockedError):
            store.runs()
        t0 = time.monotonic()
        with pytest.raises(StoreLockedError):
            ResultsStore(db, lock_timeout=0.5).runs()
        assert time.monotonic() - t0 >= 0.5
    finally:
        child.kill()
        child.wait()
        child.stdout.close()  # type: ignore[union-attr]
        child.stderr.close()  # type: ignore[union-attr]
    assert len(store.runs()) == 1


def test_waits_for_the_lock_to_be_released(tmp_path: Path) -> None:
    db = tmp_path / "sensitize.duckdb"
    ResultsStore(db).record_run("screen.synergy", [], {}, {})
    marker = tmp_path / "locked"
    child = _spawn(HOLD_LOCK, str(db), str(marker), "0.5")
    try:
        _wait_for(marker, child)
        rid = ResultsStore(db, lock_timeout=60).record_run(
            "screen.synergy", [], {}, {"screen.blocks": blocks_table(1)}
        )
    finally:
        child.wait(timeout=60)
        child.stdout.close()  # type: ignore[union-attr]
        child.stderr.close()  # type: ignore[union-attr]
    assert child.returncode == 0
    assert ResultsStore(db).runs()["run_id"].tolist() == [1, rid]

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from sensitize.core.errors import InputError
from sensitize.core.results import Result
from sensitize.store import ResultsStore, StoreError, UnknownRunError, sha256_file
from tests.store.conftest import blocks_table


def test_two_analyses_of_the_same_input_are_retrievable_and_comparable(
    store: ResultsStore, input_csv: Path, tmp_path: Path
) -> None:
    a = blocks_table(seed=1)
    b = a.copy()
    b.loc[2, "ZIP_synergy"] += 0.25
    r1 = store.record_run(
        "screen.synergy", [input_csv], {"model": "ZIP"}, {"screen.blocks": a}, label="ZIP v1"
    )
    # the same bytes under another name and folder: still recognised as the same input
    copy = tmp_path / "elsewhere" / "renamed.csv"
    copy.parent.mkdir()
    copy.write_bytes(input_csv.read_bytes())
    r2 = store.record_run(
        "screen.synergy", [copy], {"model": "ZIP", "seed": 2}, {"screen.blocks": b}
    )
    other = tmp_path / "other.csv"
    other.write_text("x\n1\n")
    store.record_run("screen.synergy", [other], {}, {"screen.blocks": a})

    same = store.runs(input=input_csv)
    assert same["run_id"].tolist() == [r1, r2]
    assert store.runs(input=sha256_file(input_csv))["run_id"].tolist() == [r1, r2]
    assert store.runs(input=sha256_file(input_csv).upper())["run_id"].tolist() == [r1, r2]
    r4 = store.record_run("screen.synergy", input_csv, {}, {})  # a single path
    assert store.runs(input=str(input_csv))["run_id"].tolist() == [r1, r2, r4]
    store.delete_run(r4)

    pd.testing.assert_frame_equal(store.table(r1, "screen.blocks"), a)
    pd.testing.assert_frame_equal(store.table(r2, "screen.blocks"), b)

    diff = store.compare(r1, r2, "screen.blocks", keys="block_id", only_differences=True)
    assert diff[["block_id", "column", "status"]].values.tolist() == [
        [3, "ZIP_synergy", "different"]
    ]
    assert diff["difference"].iloc[0] == pytest.approx(0.25)
    assert store.compare(r1, r1, "screen.blocks", "block_id", only_differences=True).empty

    # across runs in plain SQL
    q = store.query(
        "SELECT r.run_id, r.label, b.block_id, b.ZIP_synergy FROM screen_blocks b "
        "JOIN runs r USING (run_id) JOIN run_inputs i USING (run_id) WHERE i.sha256 = ? ORDER BY 1, 3",
        [sha256_file(input_csv)],
    )
    assert q["run_id"].tolist() == [r1] * 6 + [r2] * 6
    assert q.loc[q["run_id"] == r1, "label"].unique().tolist() == ["ZIP v1"]
    np.testing.assert_allclose(
        q["ZIP_synergy"], np.concatenate([a["ZIP_synergy"], b["ZIP_synergy"]])
    )


def test_run_metadata(store: ResultsStore, input_csv: Path) -> None:
    started = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
    params = {
        "model": "ZIP",
        "alpha": np.float64(0.05),
        "n": np.int32(3),
        "doses": np.array([0.1, 1.0]),
        "ref": Path("/x/y.csv"),
        "missing": float("nan"),
        "tags": {"b", "a"},
        "when": dt.date(2024, 1, 2),
    }
    rid = store.record_run(
        "screen.synergy",
        [input_csv],
        params,
        {"t": blocks_table(0)},
        label="lbl",
        started_at=started,
    )
    info = store.run(rid)
    assert info.kind == "screen.synergy" and info.label == "lbl"
    assert info.params == {
        "model": "ZIP",
        "alpha": 0.05,
        "n": 3,
        "doses": [0.1, 1.0],
        "ref": "/x/y.csv",
        "missing": "NaN",
        "tags": ["a", "b"],
        "when": "2024-01-02",
    }
    assert info.started_at == pd.Timestamp(started)
    assert info.recorded_at >= pd.Timestamp(started)
    for pkg in ("sensitize", "python", "numpy", "pandas", "scipy", "duckdb"):
        assert info.versions[pkg]
    assert info.versions["numpy"] == np.__version__ and info.versions["pandas"] == pd.__version__
    assert len(info.run_uuid) == 36
    assert info.inputs[["name", "sha256", "size_bytes"]].values.tolist() == [
        ["plate1.csv", sha256_file(input_csv), input_csv.stat().st_size]
    ]
    assert info.tables[["table_name", "sql_name", "n_rows", "n_columns"]].values.tolist() == [
        ["t", "t", 6, 4]
    ]
    row = store.query(
        "SELECT numpy_version, params->>'$.model' AS model FROM runs WHERE run_id = ?", [rid]
    )
    assert row.values.tolist() == [[np.__version__, "ZIP"]]
    runs = store.runs()
    assert json.loads(runs["params"].iloc[0])["alpha"] == 0.05
    assert store.runs(kind="screen.synergy")["run_id"].tolist() == [rid]
    assert store.runs(kind="invivo.tgi").empty


def test_round_trip_of_column_types(store: ResultsStore) -> None:
    df = pd.DataFrame(
        {
            "i": np.array([1, -2, 3], dtype=np.int64),
            "i32": np.array([1, 2, 3], dtype=np.int32),
            "f": [0.1, np.nan, 1e300],
            "s": ["a", None, "ü"],
            "b": [True, False, True],
            "nb": pd.array([True, None, False], dtype="boolean"),
            "ni": pd.array([1, None, 3], dtype="Int64"),
            "t": pd.to_datetime(
                ["2020-01-01 00:00:00.000000001", None, "2021-06-01"], format="ISO8601"
            ),
            "d": [dt.date(2020, 1, 1), None, dt.date(2020, 1, 3)],
            "lst": [[1, 2], [], [3]],
            "cat": pd.Categorical(["x", "y", "x"]),
            "allnull": [None, None, None],
        }
    )
    rid = store.record_run("k", [], {}, {"types": df})
    back = store.table(rid, "types")
    assert list(back.columns) == list(df.columns)
    for c in ["i", "i32", "f", "s", "b", "t"]:
        pd.testing.assert_series_equal(back[c], df[c], check_dtype=False, check_names=False)
    assert back["nb"].tolist()[0] is True or back["nb"].tolist()[0] == True  # noqa: E712
    assert back["ni"].isna().tolist() == [False, True, False]
    assert back["lst"].map(list).tolist() == [[1, 2], [], [3]]
    assert back["cat"].tolist() == ["x", "y", "x"]
    assert back["allnull"].isna().all()
    assert pd.to_datetime(back["d"]).dt.date.tolist()[0] == dt.date(2020, 1, 1)


def test_schemas_can_differ_between_runs(store: ResultsStore) -> None:
    t1 = pd.DataFrame({"block_id": [1, 2], "score": [1, 2], "note": [None, None]})
    t2 = pd.DataFrame(
        {"Block_ID": [1, 2], "score": [1.5, 2.5], "note": [0.1, 0.2], "extra": ["x", "y"]}
    )
    t3 = pd.DataFrame({"block_id": [7], "score": ["high"]})
    r1 = store.record_run("k", [], {}, {"screen.blocks": t1})
    r2 = store.record_run("k", [], {}, {"screen.blocks": t2})
    r3 = store.record_run("k", [], {}, {"screen.blocks": t3})
    # every run reads back exactly as recorded (own columns, names, order, values)
    pd.testing.assert_frame_equal(store.table(r1, "screen.blocks"), t1, check_dtype=False)
    pd.testing.assert_frame_equal(store.table(r2, "screen.blocks"), t2)
    pd.testing.assert_frame_equal(store.table(r3, "screen_blocks"), t3)
    assert store.table(r1, "screen.blocks")["score"].dtype == np.int64
    types = dict(
        store.query(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'results' AND table_name = 'screen_blocks'"
        ).values.tolist()
    )
    # int -> double -> text; a column empty so far takes the next run's type
    assert types == {
        "run_id": "BIGINT",
        "_row": "BIGINT",
        "block_id": "BIGINT",
        "score": "VARCHAR",
        "note": "DOUBLE",
        "extra": "VARCHAR",
    }
    allrows = store.query("SELECT run_id, block_id, extra FROM screen_blocks ORDER BY run_id, _row")
    assert allrows["run_id"].tolist() == [r1, r1, r2, r2, r3]
    assert allrows["extra"].isna().tolist() == [True, True, False, False, True]


def test_table_names_are_sanitised_without_collisions(store: ResultsStore) -> None:
    df = pd.DataFrame({"x": [1]})
    rid = store.record_run(
        "k", [], {}, {"screen.blocks": df, "screen_blocks": df * 2, "21 days": df * 3}
    )
    t = store.tables(rid).set_index("table_name")["sql_name"].to_dict()
    assert t == {
        "screen.blocks": "screen_blocks",
        "screen_blocks": "screen_blocks_2",
        "21 days": "t_21_days",
    }
    assert store.table(rid, "screen_blocks")["x"].tolist() == [2]  # logical name wins
    assert store.table(rid, "screen_blocks_2")["x"].tolist() == [2]
    assert store.query("SELECT x FROM t_21_days")["x"].tolist() == [3]


def test_result_objects_indexes_and_empty_tables(store: ResultsStore) -> None:
    res = Result(
        table=pd.DataFrame({"a": [1, 2]}, index=pd.Index(["s1", "s2"], name="sample")),
        params={"p": 1},
    )
    empty = pd.DataFrame({"a": pd.Series(dtype=float), "b": pd.Series(dtype=object)})
    rid = store.record_run(
        "k", [], res.params, {"res": res, "empty": empty, "nocols": pd.DataFrame(index=range(3))}
    )
    assert store.table(rid, "res").values.tolist() == [["s1", 1], ["s2", 2]]
    e = store.table(rid, "empty")
    assert list(e.columns) == ["a", "b"] and e.empty
    assert store.table(rid, "nocols").shape == (3, 0)


def test_bad_input_is_rejected_before_anything_is_written(
    store: ResultsStore, tmp_path: Path
) -> None:
    ok = {"t": pd.DataFrame({"x": [1]})}
    with pytest.raises(InputError, match="not found"):
        store.record_run("k", [tmp_path / "missing.csv"], {}, ok)
    with pytest.raises(InputError, match="reserved"):
        store.record_run("k", [], {}, {"t": pd.DataFrame({"run_id": [1]})})
    with pytest.raises(InputError, match="non-empty"):
        store.record_run("", [], {}, ok)
    with pytest.raises(InputError, match="table names"):
        store.record_run("k", [], {}, {"": pd.DataFrame({"x": [1]})})
    with pytest.raises(TypeError, match=r"params\['f'\]"):
        store.record_run("k", [], {"f": object()}, ok)
    assert store.runs().empty


def test_failure_mid_transaction_rolls_back_everything(store: ResultsStore) -> None:
    first = store.record_run("k", [], {}, {"screen.blocks": blocks_table(1)})

    def boom(name: str, i: int, n: int) -> None:
        if i == 2:
            raise RuntimeError("disk on fire")

    tables = {
        "screen.blocks": blocks_table(2).assign(new_col=1.0),
        "other": blocks_table(3),
        "third": blocks_table(4),
    }
    with pytest.raises(RuntimeError, match="disk on fire"):
        store.record_run("k", [], {}, tables, progress=boom)
    assert store.runs()["run_id"].tolist() == [first]
    assert store.tables()["table_name"].tolist() == ["screen.blocks"]
    assert store.query("SELECT count(*) AS n FROM screen_blocks")["n"].item() == 6
    assert "new_col" not in store.query("SELECT * FROM screen_blocks LIMIT 0").columns
    assert (
        store.query(
            "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'other'"
        )["n"].item()
        == 0
    )
    pd.testing.assert_frame_equal(store.table(first, "screen.blocks"), blocks_table(1))
    # the store is still usable and the next id is new
    nxt = store.record_run("k", [], {}, tables)
    assert nxt > first and store.runs()["run_id"].tolist() == [first, nxt]


def test_unknown_runs_and_tables(store: ResultsStore) -> None:
    with pytest.raises(StoreError, match="no results database"):
        store.table(1, "x")
    rid = store.record_run("k", [], {}, {"a": pd.DataFrame({"x": [1]})})
    with pytest.raises(UnknownRunError, match="no run 99"):
        store.run(99)
    with pytest.raises(UnknownRunError, match="no table 'b'; it has: a"):
        store.table(rid, "b")
    with pytest.raises(UnknownRunError):
        store.delete_run(99)
    with pytest.raises(UnknownRunError):
        store.export_parquet(store.path.parent / "x", run_id=99)


def test_query_is_read_only_and_errors_are_clean(store: ResultsStore) -> None:
    store.record_run("k", [], {}, {"a": pd.DataFrame({"x": [1]})})
    with pytest.raises(StoreError, match="read-only"):
        store.query("DELETE FROM runs")
    with pytest.raises(StoreError, match="query failed"):
        store.query("SELECT * FROM no_such_table")
    assert len(store.runs()) == 1


def test_delete_run(store: ResultsStore) -> None:
    r1 = store.record_run("k", [], {}, {"a": pd.DataFrame({"x": [1, 2]})})
    r2 = store.record_run("k", [], {}, {"a": pd.DataFrame({"x": [3]})})
    store.delete_run(r1)
    assert store.runs()["run_id"].tolist() == [r2]
    assert store.query("SELECT run_id, x FROM a").values.tolist() == [[r2, 3]]
    assert store.query("SELECT count(*) FROM run_inputs WHERE run_id = ?", [r1]).iloc[0, 0] == 0
    r3 = store.record_run("k", [], {}, {"a": pd.DataFrame({"x": [4]})})
    assert r3 > r2  # ids are not reused


def test_export_parquet(store: ResultsStore, input_csv: Path, tmp_path: Path) -> None:
    r1 = store.record_run("k", [input_csv], {"m": 1}, {"screen.blocks": blocks_table(1)})
    r2 = store.record_run(
        "k",
        [input_csv],
        {"m": 2},
        {"screen.blocks": blocks_table(2).assign(extra="e"), "b": pd.DataFrame({"y": [1]})},
    )
    out = tmp_path / "export"
    paths = store.export_parquet(out)
    names = sorted(p.relative_to(out).as_posix() for p in paths)
    assert names == [
        "results/b.parquet",
        "results/screen_blocks.parquet",
        "run_inputs.parquet",
        "run_tables.parquet",
        "runs.parquet",
    ]
    runs = pd.read_parquet(out / "runs.parquet")
    assert runs["run_id"].tolist() == [r1, r2] and json.loads(runs["params"].iloc[1]) == {"m": 2}
    blocks = pd.read_parquet(out / "results" / "screen_blocks.parquet")
    assert blocks["run_id"].tolist() == [r1] * 6 + [r2] * 6
    assert blocks["extra"].isna().sum() == 6
    one = tmp_path / "one"
    store.export_parquet(one, run_id=r1)
    b1 = pd.read_parquet(one / "results" / "screen_blocks.parquet")
    pd.testing.assert_frame_equal(b1.drop(columns="run_id"), blocks_table(1))
    assert not (one / "results" / "b.parquet").exists()
    assert pd.read_parquet(one / "run_inputs.parquet")["sha256"].tolist() == [
        sha256_file(input_csv)
    ]
    assert not list(out.rglob("*.tmp"))


def test_default_path_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SENSITIZE_DB", raising=False)
    assert ResultsStore().path == tmp_path / "sensitize.duckdb"
    monkeypatch.setenv("SENSITIZE_DB", str(tmp_path / "env.duckdb"))
    s = ResultsStore()
    assert s.path == tmp_path / "env.duckdb"
    assert s.runs().empty and not s.path.exists()  # reading creates nothing
    s.record_run("k", [], {}, {})
    assert s.path.exists() and len(s.runs()) == 1


def test_refuses_files_that_are_not_a_results_store(tmp_path: Path) -> None:
    text = tmp_path / "data.csv"
    text.write_text("a,b\n1,2\n")
    with pytest.raises(StoreError, match="not a DuckDB database"):
        ResultsStore(text).record_run("k", [], {}, {})
    assert text.read_text() == "a,b\n1,2\n"
    other = tmp_path / "other.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE t (x INTEGER)")
    con.close()
    with pytest.raises(StoreError, match="not a sensitize results store"):
        ResultsStore(other).record_run("k", [], {}, {})
    with pytest.raises(StoreError, match="not a sensitize results store"):
        ResultsStore(other).runs()
    with pytest.raises(StoreError, match="folder"):
        ResultsStore(tmp_path).runs()


@pytest.mark.parametrize("new_name", ["results.duckdb", "main.duckdb", "it's.duckdb"])
def test_file_can_be_renamed_to_awkward_names(tmp_path: Path, new_name: str) -> None:
    first = ResultsStore(tmp_path / "a.duckdb")
    r1 = first.record_run("k", [], {}, {"screen.blocks": blocks_table(1)})
    (tmp_path / "a.duckdb").rename(tmp_path / new_name)
    s = ResultsStore(tmp_path / new_name)
    r2 = s.record_run("k", [], {}, {"screen.blocks": blocks_table(2).assign(extra=1)})
    pd.testing.assert_frame_equal(s.table(r1, "screen.blocks"), blocks_table(1))
    assert s.query("SELECT count(*) AS n FROM screen_blocks")["n"].item() == 12
    s.delete_run(r2)
    assert s.runs()["run_id"].tolist() == [r1]

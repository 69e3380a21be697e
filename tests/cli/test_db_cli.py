from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest

from sensitize.cli.main import main
from sensitize.store import ResultsStore, sha256_file


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "runs.duckdb"
    inp = tmp_path / "plate.csv"
    inp.write_text("block_id,response\n1,50\n")
    store = ResultsStore(path)
    a = pd.DataFrame(
        {"block_id": [1, 2, 3], "ZIP_synergy": [1.0, 2.0, 3.0], "drug": ["A", "B", "C"]}
    )
    b = a.assign(ZIP_synergy=[1.0, 2.5, 3.0])
    store.record_run("screen.synergy", [inp], {"model": "ZIP"}, {"screen.blocks": a}, label="first")
    store.record_run("screen.synergy", [inp], {"model": "ZIP", "seed": 2}, {"screen.blocks": b})
    store.record_run(
        "invivo.tgi", [], {}, {"invivo.tgi": pd.DataFrame({"arm": ["ctrl"], "tgi": [0.0]})}
    )
    return path


def test_runs(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "runs", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "screen.synergy" in out and "invivo.tgi" in out and "first" in out
    assert main(["db", "runs", "--db", str(db), "--kind", "invivo.tgi", "--format", "csv"]) == 0
    df = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert df["run_id"].tolist() == [3]
    inp = db.parent / "plate.csv"
    assert main(["db", "runs", "--db", str(db), "--input", str(inp), "--format", "json"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == [1, 2]


def test_runs_uses_environment_and_handles_missing_database(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SENSITIZE_DB", str(db))
    assert main(["db", "runs", "--format", "csv"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 4
    monkeypatch.delenv("SENSITIZE_DB")
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path / "empty")
    assert main(["db", "runs"]) == 0
    assert "no runs recorded" in capsys.readouterr().out
    assert not (tmp_path / "empty" / "sensitize.duckdb").exists()
    assert main(["db", "query", "SELECT 1"]) == 2
    assert "no results database" in capsys.readouterr().err


def test_query_to_terminal_and_files(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = "SELECT run_id, block_id, ZIP_synergy FROM screen_blocks ORDER BY run_id, block_id"
    assert main(["db", "query", sql, "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "ZIP_synergy" in out and "2.5" in out
    assert main(["db", "query", sql, "--db", str(db), "--max-rows", "2"]) == 0
    assert "4 more rows" in capsys.readouterr().out
    csv = tmp_path / "q.csv"
    assert main(["db", "query", sql, "--db", str(db), "-o", str(csv)]) == 0
    df = pd.read_csv(csv)
    assert df.shape == (6, 3) and df["ZIP_synergy"].tolist() == [1.0, 2.0, 3.0, 1.0, 2.5, 3.0]
    pq = tmp_path / "q.parquet"
    assert main(["db", "query", sql, "--db", str(db), "-o", str(pq)]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(pq), df, check_dtype=False)
    tsv = tmp_path / "q.tsv"
    assert main(["db", "query", sql, "--db", str(db), "-o", str(tsv)]) == 0
    assert pd.read_csv(tsv, sep="\t").shape == (6, 3)


def test_query_errors_are_one_line(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "query", "SELEC nonsense", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sensitize: error: query failed") and "Traceback" not in err
    assert main(["db", "query", "DROP TABLE runs", "--db", str(db)]) == 2
    assert "read-only" in capsys.readouterr().err
    assert len(ResultsStore(db).runs()) == 3


def test_show(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "show", "1", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "kind:        screen.synergy" in out
    assert sha256_file(db.parent / "plate.csv") in out
    assert "screen.blocks  (SQL: screen_blocks; 3 rows x 3 columns)" in out
    assert '"model": "ZIP"' in out
    assert main(["db", "show", "2", "--db", str(db), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["params"] == {"model": "ZIP", "seed": 2} and doc["inputs"][0]["name"] == "plate.csv"
    assert (
        main(["db", "show", "2", "--db", str(db), "--table", "screen.blocks", "--format", "csv"])
        == 0
    )
    assert capsys.readouterr().out.splitlines()[2] == "2,2.5,B"
    assert main(["db", "show", "42", "--db", str(db)]) == 2
    assert "no run 42" in capsys.readouterr().err


def test_compare(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "db",
                "compare",
                "1",
                "2",
                "--table",
                "screen.blocks",
                "--keys",
                "block_id",
                "--db",
                str(db),
                "--format",
                "csv",
            ]
        )
        == 0
    )
    df = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert df[["block_id", "column", "a", "b", "status"]].values.tolist() == [
        [2, "ZIP_synergy", 2.0, 2.5, "different"]
    ]
    assert (
        main(
            [
                "db",
                "compare",
                "1",
                "2",
                "--table",
                "screen.blocks",
                "--keys",
                "block_id",
                "--db",
                str(db),
                "--atol",
                "1",
            ]
        )
        == 0
    )
    assert "agree" in capsys.readouterr().out
    out = tmp_path / "cmp.csv"
    assert (
        main(
            [
                "db",
                "compare",
                "1",
                "2",
                "--table",
                "screen.blocks",
                "--keys",
                "block_id",
                "--all",
                "-o",
                str(out),
                "--db",
                str(db),
            ]
        )
        == 0
    )
    assert len(pd.read_csv(out)) == 6
    assert (
        main(
            [
                "db",
                "compare",
                "1",
                "2",
                "--table",
                "screen.blocks",
                "--keys",
                "nope",
                "--db",
                str(db),
            ]
        )
        == 2
    )
    assert "key column not found" in capsys.readouterr().err


def test_export_and_delete(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "export"
    assert main(["db", "export", str(out), "--db", str(db)]) == 0
    printed = capsys.readouterr().out.split()
    assert str(out / "results" / "screen_blocks.parquet") in printed
    assert pd.read_parquet(out / "results" / "screen_blocks.parquet")["run_id"].tolist() == [
        1,
        1,
        1,
        2,
        2,
        2,
    ]
    one = tmp_path / "one"
    assert main(["db", "export", str(one), "--run", "3", "--db", str(db)]) == 0
    assert sorted(p.name for p in (one / "results").iterdir()) == ["invivo_tgi.parquet"]
    assert main(["db", "delete", "1", "--db", str(db)]) == 2
    assert "--yes" in capsys.readouterr().err
    assert len(ResultsStore(db).runs()) == 3
    assert main(["db", "delete", "1", "--yes", "--db", str(db)]) == 0
    assert ResultsStore(db).runs()["run_id"].tolist() == [2, 3]


def test_help_lists_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["db", "--help"])
    out = capsys.readouterr().out
    for cmd in ("runs", "query", "show", "compare", "export", "delete"):
        assert cmd in out

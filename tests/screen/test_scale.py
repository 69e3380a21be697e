"""Streaming, resumable and distributed scoring give the same numbers as in-memory scoring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sensitize.io.screen import read_screen
from sensitize.screen.engine import score_screen
from sensitize.screen.scale import score_file


def _screen(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    d1 = np.array([0, 0.1, 0.3, 1, 3, 10.0])
    d2 = np.array([0, 0.05, 0.2, 0.8, 3.2, 12.8])
    i, j = np.meshgrid(np.arange(6), np.arange(6), indexing="ij")
    frames = []
    for b in range(n):
        c1, c2 = rng.uniform(0.2, 3, 2)
        a = 100 * d1**1.1 / (d1**1.1 + c1)
        bb = 90 * d2 / (d2 + c2)
        surf = 100 * (1 - (1 - a[:, None] / 100) * (1 - bb[None, :] / 100)) + rng.normal(0, 4, (6, 6))
        frames.append(pd.DataFrame({"block_id": f"blk{b:03d}", "drug1": f"D{b % 7}", "drug2": "anchor",
                                    "conc1": d1[i.ravel()], "conc2": d2[j.ravel()], "conc_unit": "uM",
                                    "response": 100 - surf.ravel()}))
    return pd.concat(frames, ignore_index=True)


def _num(df: pd.DataFrame) -> pd.DataFrame:
    out = df.assign(block_id=df["block_id"].astype(str)).sort_values("block_id").set_index("block_id")
    return out.select_dtypes("number").sort_index(axis=1)


@pytest.fixture(scope="module")
def screen_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("scr") / "screen.csv"
    _screen(24).to_csv(p, index=False)
    return p


def test_serial_processes_and_memory_agree(screen_csv: Path, tmp_path: Path) -> None:
    mem = score_screen(read_screen(screen_csv, response_kind="viability"))
    ser = score_file(screen_csv, tmp_path / "s", response_kind="viability", chunk_blocks=5, progress=False)
    pro = score_file(screen_csv, tmp_path / "p", response_kind="viability", chunk_blocks=7, backend="processes",
                     workers=2, progress=False)
    pd.testing.assert_frame_equal(_num(ser.table), _num(mem.table), check_exact=True, check_dtype=False)
    pd.testing.assert_frame_equal(_num(pro.table), _num(mem.table), check_exact=True, check_dtype=False)
    cells = pd.read_parquet(tmp_path / "s" / "cells.parquet")
    assert len(cells) == 24 * 36
    assert (tmp_path / "s" / "blocks.csv").exists()


@pytest.mark.slow
def test_dask_local_cluster_agrees(screen_csv: Path, tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    mem = score_screen(read_screen(screen_csv, response_kind="viability"))
    dk = score_file(screen_csv, tmp_path / "d", response_kind="viability", chunk_blocks=6, backend="dask",
                    workers=2, progress=False)
    pd.testing.assert_frame_equal(_num(dk.table), _num(mem.table), check_exact=True, check_dtype=False)


def test_interrupted_run_resumes_without_recomputing(screen_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    with pytest.raises(KeyboardInterrupt):
        score_file(screen_csv, out, response_kind="viability", chunk_blocks=5, progress=False, _stop_after=2)
    parts = sorted((out / "parts").glob("part-*.blocks.parquet"))
    assert len(parts) == 2
    mtimes = {p: p.stat().st_mtime_ns for p in parts}
    res = score_file(screen_csv, out, response_kind="viability", chunk_blocks=5, progress=False)
    assert len(res.table) == 24
    for p, t in mtimes.items():
        assert p.stat().st_mtime_ns == t  # finished chunks were not recomputed
    full = score_file(screen_csv, tmp_path / "f", response_kind="viability", chunk_blocks=5, progress=False)
    pd.testing.assert_frame_equal(_num(res.table), _num(full.table), check_exact=True, check_dtype=False)


def test_non_contiguous_blocks_are_an_error(tmp_path: Path) -> None:
    df = _screen(3)
    df = pd.concat([df.iloc[:10], df.iloc[40:], df.iloc[10:40]])
    p = tmp_path / "x.csv"
    df.to_csv(p, index=False)
    from sensitize.core.errors import InputError

    with pytest.raises(InputError, match="not contiguous"):
        score_file(p, tmp_path / "o", response_kind="viability", chunk_blocks=1, progress=False)


def test_parts_with_different_columns_lose_nothing(tmp_path: Path) -> None:
    """A first chunk whose blocks are all rejected, and a later chunk with replicates (CI
    columns) must give the same blocks and columns as in-memory scoring."""
    df = _screen(6)
    bad = pd.concat([g.iloc[:-1] for _, g in df[df.block_id.isin(["blk000", "blk001"])].groupby("block_id")])
    rep = df[df.block_id == "blk004"]
    reps = pd.concat([rep, rep.assign(response=rep.response + 1.0)]).sort_values(["conc1", "conc2"], kind="stable")
    full = pd.concat([bad, df[df.block_id.isin(["blk002", "blk003"])], reps], ignore_index=True)
    p = tmp_path / "mixed.csv"
    full.to_csv(p, index=False)
    res = score_file(p, tmp_path / "o", response_kind="viability", chunk_blocks=2, progress=False, n_boot=10)
    mem = score_screen(full, response_kind="viability", n_boot=10)
    assert set(res.table.columns) == set(mem.table.columns)
    pd.testing.assert_frame_equal(_num(res.table), _num(mem.table), check_exact=True, check_dtype=False)
    csv = pd.read_csv(tmp_path / "o" / "blocks.csv")
    assert len(csv) == 3 and "ZIP_synergy_ci_low" in csv.columns
    assert set(pd.read_csv(tmp_path / "o" / "rejected.csv")["block_id"]) == {"blk000", "blk001"}


def test_preformatted_csv_parts_equal_formatting_at_the_end(tmp_path: Path) -> None:
    """Workers format their parts' CSV text; the concatenated files are byte for byte what
    formatting the unified parts at the end gives, also when the parts' columns differ."""
    from sensitize.screen.scale import _concat_parts

    df = _screen(5)
    rep = df[df.block_id == "blk004"]
    reps = pd.concat([rep, rep.assign(response=rep.response + 1.0)]).sort_values(["conc1", "conc2"], kind="stable")
    full = pd.concat([df[df.block_id != "blk004"], reps], ignore_index=True)
    p = tmp_path / "mixed.csv"
    full.to_csv(p, index=False)
    out = tmp_path / "o"
    score_file(p, out, response_kind="viability", chunk_blocks=2, progress=False, n_boot=10)
    parts = out / "parts"
    assert sorted(parts.glob("part-*.cells.csv"))  # the workers' text is kept with the parts
    fast = {n: (out / f"{n}.csv").read_bytes() for n in ("blocks", "cells", "curves", "rejected")}
    for f in parts.glob("part-*.csv"):
        f.unlink()
    _concat_parts(parts, out, len(list(parts.glob("part-*.blocks.parquet"))))
    for name, text in fast.items():
        assert (out / f"{name}.csv").read_bytes() == text, name
    assert "ZIP_synergy_ci_low" in pd.read_csv(out / "blocks.csv").columns


def test_parquet_only_run_writes_no_csv_and_the_same_tables(screen_csv: Path, tmp_path: Path) -> None:
    full = tmp_path / "full"
    score_file(screen_csv, full, response_kind="viability", chunk_blocks=5, progress=False)
    out = tmp_path / "pq"
    out.mkdir()
    (out / "cells.csv").write_text("stale,from,an,earlier,run\n")
    res = score_file(screen_csv, out, response_kind="viability", chunk_blocks=5, progress=False, csv=False)
    assert not list(out.glob("*.csv")) and not list((out / "parts").glob("*.csv"))  # the stale CSV is gone too
    assert res.params["csv"] is False
    for name in ("blocks", "cells", "curves", "rejected"):
        pd.testing.assert_frame_equal(pd.read_parquet(out / f"{name}.parquet"), pd.read_parquet(full / f"{name}.parquet"))


def test_run_resumed_with_csv_formats_the_parts_written_without(screen_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    with pytest.raises(KeyboardInterrupt):
        score_file(screen_csv, out, response_kind="viability", chunk_blocks=5, progress=False, csv=False,
                   _stop_after=2)
    score_file(screen_csv, out, response_kind="viability", chunk_blocks=5, progress=False)
    full = tmp_path / "f"
    score_file(screen_csv, full, response_kind="viability", chunk_blocks=5, progress=False)
    for name in ("blocks", "cells", "curves", "rejected"):
        assert (out / f"{name}.csv").read_bytes() == (full / f"{name}.csv").read_bytes()


def test_output_folder_holding_the_input_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "cells.csv"
    _screen(2).to_csv(p, index=False)
    before = p.read_bytes()
    with pytest.raises(ValueError, match="overwrite the input"):
        score_file(p, tmp_path, response_kind="viability", progress=False)
    assert p.read_bytes() == before


@pytest.mark.parametrize("batch_rows", [5, 36, 37, 1000])
def test_chunks_hold_whole_blocks_across_read_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      batch_rows: int) -> None:
    """Blocks that straddle the reader's batches stay whole, each chunk has ``chunk_blocks``
    blocks in file order, and no row is lost or repeated."""
    import sensitize.screen.scale as sc

    df = _screen(11)
    p = tmp_path / "s.csv"
    df.to_csv(p, index=False)
    orig = sc._raw_batches
    monkeypatch.setattr(sc, "_raw_batches", lambda path: orig(path, rows=batch_rows))
    chunks = list(sc.iter_block_chunks(p, 4, response_kind="viability"))
    assert [i for i, _ in chunks] == [0, 1, 2]
    ids = [list(pd.unique(c["block_id"])) for _, c in chunks]
    assert ids == [[f"blk{b:03d}" for b in range(k, min(k + 4, 11))] for k in (0, 4, 8)]
    assert all((c.groupby("block_id").size() == 36).all() for _, c in chunks)
    whole = read_screen(p, response_kind="viability")
    got = pd.concat([c for _, c in chunks], ignore_index=True)
    pd.testing.assert_series_equal(got["response"], whole["response"], check_exact=True)


def test_non_contiguous_block_across_read_batches_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sensitize.screen.scale as sc
    from sensitize.core.errors import InputError

    df = _screen(3)
    df = pd.concat([df.iloc[:30], df.iloc[36:72], df.iloc[30:36], df.iloc[72:]])  # blk000's last rows after blk001
    p = tmp_path / "x.csv"
    df.to_csv(p, index=False)
    orig = sc._raw_batches
    monkeypatch.setattr(sc, "_raw_batches", lambda path: orig(path, rows=8))
    with pytest.raises(InputError, match="not contiguous") as ei:
        list(sc.iter_block_chunks(p, 2, response_kind="viability"))
    assert "x.csv" in str(ei.value) and "67" in str(ei.value)  # file row of blk000's late rows

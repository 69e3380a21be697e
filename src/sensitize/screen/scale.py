"""Score screens larger than memory: streaming in chunks of blocks, resumable, on Dask.

The input is read in chunks of whole blocks (rows of a block must be contiguous in the
file, as in every screen export we know; a block that reappears later is an error).
Each chunk is scored by the same vectorised engine as :func:`score_screen` and its
tables are written atomically to ``OUTDIR/parts/``; a manifest records finished chunks,
so an interrupted run resumes from the last finished chunk without recomputing it.  At
the end the parts are concatenated (streamed) into ``blocks``, ``cells``, ``curves`` and
``rejected`` as CSV and Parquet.

Backends: ``serial``; ``processes`` (a local process pool); ``dask`` (a
``distributed`` cluster at ``scheduler``, or a ``LocalCluster``).  Every block's numbers
depend only on the block (bootstrap streams are seeded per block), so all backends and
chunk sizes give identical results.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sensitize.core.errors import InputError
from sensitize.core.output import (
    atomic_write_bytes,
    atomic_write_parquet,
    atomic_write_text,
    ensure_not_input,
)
from sensitize.io._text import sniff_delimiter
from sensitize.io.screen import canonicalise_long_frame, read_screen
from sensitize.screen.engine import ScreenResult, score_screen

TABLES = ("blocks", "cells", "curves", "rejected")
_LONG_FORMATS = {"synergyfinder_table", "drugcomb_template", "auto"}


def _is_streamable(path: Path, fmt: str) -> bool:
    name = path.name.lower()
    if fmt not in _LONG_FORMATS:
        return False
    return name.endswith((".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".parquet", ".pq"))


def _raw_batches(path: Path, rows: int = 200_000) -> Iterator[pd.DataFrame]:
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        pf = pq.ParquetFile(path)
        for batch in pf.iter_batches(batch_size=rows):
            yield batch.to_pandas()
        return
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", errors="replace") as fh:
        head = fh.read(65536)
    # exact float parsing, so a streamed value equals the one the other readers see
    reader = pd.read_csv(path, sep=sniff_delimiter(head), engine="c", float_precision="round_trip",
                         chunksize=rows, encoding="utf-8-sig")
    yield from reader


def _block_column(df: pd.DataFrame) -> str:
    for c in df.columns:
        if str(c).strip().lower() in ("block_id", "pairindex", "blockid", "block"):
            return str(c)
    raise InputError("no block_id column found for streaming", column="block_id")


def iter_block_chunks(
    path: Path,
    chunk_blocks: int,
    *,
    response_kind: str | None,
    fmt: str = "auto",
) -> Iterator[tuple[int, pd.DataFrame]]:
    """Yield ``(chunk_index, canonical table)`` with ``chunk_blocks`` whole blocks each."""
    if not _is_streamable(path, fmt):
        df = read_screen(path, format=fmt, response_kind=response_kind)
        unique_ids = pd.unique(df["block_id"])
        for i in range(0, len(unique_ids), chunk_blocks):
            sel = set(unique_ids[i : i + chunk_blocks])
            yield i // chunk_blocks, df[df["block_id"].isin(sel)].reset_index(drop=True)
        return
    seen: set[Any] = set()
    pending: list[pd.DataFrame] = []
    pending_blocks: list[Any] = []
    row0 = 1
    pending_first_row = 1
    chunk_i = 0
    bcol: str | None = None

    def flush(frames: list[pd.DataFrame], first_row: int) -> pd.DataFrame:
        raw = pd.concat(frames, ignore_index=True)
        return canonicalise_long_frame(raw, source=path.name, response_kind=response_kind, first_row=first_row)

    for raw in _raw_batches(path):
        if bcol is None:
            bcol = _block_column(raw)
        raw = raw.reset_index(drop=True)
        ids = raw[bcol]
        # first row of each run of equal block ids in this batch
        starts = np.flatnonzero(ids.ne(ids.shift()).to_numpy())
        start_ids = ids.iloc[starts].tolist()
        cut = 0  # rows of this batch before ``cut`` are already in ``pending``
        for s, bid in zip(starts.tolist(), start_ids):
            if pending_blocks and pending_blocks[-1] == bid:
                continue  # the block goes on from the previous batch
            if bid in seen:
                raise InputError(
                    f"rows of block {bid!r} are not contiguous; sort the file by block_id "
                    "or score it without streaming",
                    file=path.name, column=bcol, rows=[row0 + s],
                )
            if len(pending_blocks) >= chunk_blocks:
                if s > cut:
                    pending.append(raw.iloc[cut:s])
                yield chunk_i, flush(pending, pending_first_row)
                chunk_i += 1
                pending, pending_blocks = [], []
                pending_first_row = row0 + s
                cut = s
            seen.add(bid)
            pending_blocks.append(bid)
        if len(raw) > cut:
            pending.append(raw.iloc[cut:])
        row0 += len(raw)
    if pending:
        yield chunk_i, flush(pending, pending_first_row)


def _part_csv(t: pa.Table, header: bool) -> bytes:
    """CSV text of one part as the final file has it (one formatting for every path)."""
    return t.to_pandas().to_csv(index=False, header=header, lineterminator="\n").encode("utf-8")


def _score_chunk(i: int, df: pd.DataFrame, opts: dict[str, Any], source: str,
                 single_threaded: bool = False, csv: bool = True
                 ) -> tuple[int, dict[str, pd.DataFrame], int, dict[str, bytes]]:
    """Score one chunk; also format its CSV text here (unless ``csv`` is False), so that
    workers (in parallel) rather than the final concatenation (serial) pay for it."""
    if single_threaded:  # a worker of a pool or cluster: the workers are the parallelism
        _single_threaded_worker()
    res = score_screen(df, source=source, **opts)
    tables = {name: parquet_safe(t) for name, t in
              (("blocks", res.table), ("cells", res.cells), ("curves", res.curves), ("rejected", res.rejected))}
    csvs = ({name: _part_csv(pa.Table.from_pandas(t, preserve_index=False), True) for name, t in tables.items()}
            if csv else {})
    return i, tables, len(res.table) + len(res.rejected), csvs


def _fingerprint(path: Path, opts: dict[str, Any], chunk_blocks: int) -> str:
    st = path.stat()
    h = hashlib.sha256()
    h.update(json.dumps({"size": st.st_size, "mtime": int(st.st_mtime), "name": path.name,
                         "opts": {k: (list(v) if isinstance(v, tuple) else v) for k, v in opts.items()},
                         "chunk_blocks": chunk_blocks}, sort_keys=True).encode())
    return h.hexdigest()


class _Progress:
    def __init__(self, total: int | None, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled
        self.done = 0
        self.t0 = time.time()
        self.last = 0.0

    def update(self, n: int, final: bool = False) -> None:
        self.done += n
        now = time.time()
        if not self.enabled or (now - self.last < 1.0 and not final):
            return
        self.last = now
        rate = self.done / max(now - self.t0, 1e-9)
        msg = f"\r{self.done}"
        if self.total:
            left = max(self.total - self.done, 0)
            eta = left / rate if rate > 0 else float("inf")
            msg += f"/{self.total} blocks ({100 * self.done / self.total:.0f}%), {rate:.0f} blocks/s, ETA {eta:.0f}s"
        else:
            msg += f" blocks, {rate:.0f} blocks/s"
        print(msg, end="\n" if final else "", file=sys.stderr, flush=True)


def _count_blocks(path: Path, fmt: str) -> int | None:
    if not _is_streamable(path, fmt):
        return None
    try:
        n = 0
        last = object()
        for raw in _raw_batches(path, rows=1_000_000):
            col = _block_column(raw)
            ids = raw[col]
            change = ids.ne(ids.shift())
            n += int(change.sum()) - (1 if len(ids) and ids.iloc[0] == last else 0)
            last = ids.iloc[-1] if len(ids) else last
        return n
    except Exception:  # the count is only for the progress display
        return None


def parquet_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Copy with object columns as pandas strings, so mixed-type columns write to Parquet."""
    obj = [c for c in df.columns if df[c].dtype == object]
    return df.astype(dict.fromkeys(obj, "string")) if obj else df


def _write_part(parts: Path, i: int, tables: dict[str, pd.DataFrame], csvs: dict[str, bytes]) -> None:
    """Write one chunk's tables (already :func:`parquet_safe`) and their CSV text, if any."""
    for name, t in tables.items():
        # the CSV first: a part counts as written when its Parquet file exists
        if name in csvs:
            atomic_write_bytes(parts / f"part-{i:06d}.{name}.csv", csvs[name])
        atomic_write_parquet(parts / f"part-{i:06d}.{name}.parquet", t)


def _unified_schema(files: list[Path]) -> pa.Schema:
    """Union of the parts' columns (first-appearance order), types promoted to a common one.

    Parts differ: a chunk with replicated blocks adds CI columns, a chunk of 3-drug blocks
    adds ``drug3``, a chunk whose blocks were all rejected has an empty table.
    """
    schemas = [pq.read_schema(f) for f in files]
    schemas = [sc for sc in schemas if len(sc.names)]
    if not schemas:
        return pa.schema([])
    return pa.unify_schemas(schemas, promote_options="permissive")


def _conform(t: pa.Table, schema: pa.Schema) -> pa.Table:
    """Add the columns ``t`` lacks as nulls and cast it to ``schema`` (raises on conflict)."""
    cols = [t.column(f.name) if f.name in t.column_names else pa.nulls(t.num_rows, f.type) for f in schema]
    return pa.Table.from_arrays(cols, schema=schema.remove_metadata()).cast(schema.remove_metadata())


def _concat_parts(parts: Path, outdir: Path, n_chunks: int, csv: bool = True) -> None:
    """Stream parts into OUTDIR/{name}.parquet and (``csv``) .csv, atomically, no column or
    row lost.  Without ``csv`` a CSV left by an earlier run of the folder is removed, so
    that no file disagrees with the Parquet."""
    for name in TABLES:
        files = [parts / f"part-{i:06d}.{name}.parquet" for i in range(n_chunks)]
        files = [f for f in files if f.exists()]
        schema = _unified_schema(files).remove_metadata()
        csv_tmp = outdir / f".{name}.csv.tmp"
        pq_tmp = outdir / f".{name}.parquet.tmp"
        if not csv:
            with pq.ParquetWriter(pq_tmp, schema) as writer:
                for f in files:
                    writer.write_table(_conform(pq.read_table(f), schema))
            os.replace(pq_tmp, outdir / f"{name}.parquet")
            (outdir / f"{name}.csv").unlink(missing_ok=True)
            continue
        with open(csv_tmp, "wb") as fh, pq.ParquetWriter(pq_tmp, schema) as writer:
            if not len(schema.names):
                fh.write(b"\n")
            for k, f in enumerate(files):
                t = _conform(pq.read_table(f), schema)
                writer.write_table(t)
                pre = f.with_name(f.name[: -len(".parquet")] + ".csv")
                if pre.exists() and pq.read_schema(f).remove_metadata().equals(schema):
                    # the part already has the columns and types of the whole: its own
                    # formatted text is what formatting it here would give
                    with open(pre, "rb") as src:
                        if k > 0:
                            src.readline()  # its header
                        shutil.copyfileobj(src, fh, 1 << 20)
                else:
                    fh.write(_part_csv(t, header=k == 0))
        os.replace(csv_tmp, outdir / f"{name}.csv")
        os.replace(pq_tmp, outdir / f"{name}.parquet")


def _single_threaded_worker() -> None:
    """Worker initialiser: one fitting thread per process (no oversubscription)."""
    try:
        import numba

        numba.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass


def score_file(
    path: str | Path,
    outdir: str | Path,
    *,
    response_kind: str | None = None,
    fmt: str = "auto",
    backend: str = "serial",
    scheduler: str | None = None,
    chunk_blocks: int = 2000,
    workers: int = 2,
    progress: bool = True,
    max_in_flight: int | None = None,
    csv: bool = True,
    _stop_after: int | None = None,
    **opts: Any,
) -> ScreenResult:
    """Score a screen file chunk by chunk, resumably, on one of several backends.

    Parameters
    ----------
    path, outdir
        Input file and output folder.
    response_kind, fmt
        As for :func:`sensitize.io.screen.read_screen`.
    backend
        ``serial``, ``processes`` or ``dask``.
    scheduler
        Address of a Dask scheduler; a ``LocalCluster`` with ``workers`` workers when None.
    chunk_blocks
        Blocks per chunk (bounds memory; 2000 keeps a 2-worker run of 6x6 blocks near 1.5 GiB).
    workers
        Processes (``processes``) or LocalCluster workers (``dask``).
    progress
        Print blocks done, blocks/s and the estimated time left to stderr.
    max_in_flight
        Chunks submitted but not yet written (default ``2 * workers``); bounds memory.
    csv
        Also write ``blocks/cells/curves/rejected.csv`` (default).  ``False`` writes Parquet
        only, which saves formatting text for tens of millions of cells on large runs.
    opts
        Scoring options of :func:`score_screen`.

    Returns
    -------
    ScreenResult
        With the block table (and rejected blocks) read back; cells and curves stay on
        disk (``OUTDIR/cells.parquet``) to bound memory.
    """
    path = Path(path)
    outdir = Path(outdir)
    if backend not in ("serial", "processes", "dask"):
        raise ValueError("backend must be 'serial', 'processes' or 'dask'")
    ensure_not_input([outdir / f"{n}.{ext}" for n in TABLES for ext in ("csv", "parquet")]
                     + [outdir / "params.json"], [path])
    outdir.mkdir(parents=True, exist_ok=True)
    parts = outdir / "parts"
    parts.mkdir(exist_ok=True)
    fp = _fingerprint(path, {**opts, "response_kind": response_kind, "fmt": fmt}, chunk_blocks)
    manifest_path = parts / "manifest.json"
    done: set[int] = set()
    if manifest_path.exists():
        man = json.loads(manifest_path.read_text())
        if man.get("fingerprint") == fp:
            done = set(man.get("done", []))
        else:
            for f in parts.glob("part-*.parquet"):
                f.unlink()
    manifest: dict[str, Any] = {"fingerprint": fp, "input": str(path), "done": sorted(done), "complete": False}
    atomic_write_text(manifest_path, json.dumps(manifest))

    def mark(i: int) -> None:
        done.add(i)
        manifest["done"] = sorted(done)
        atomic_write_text(manifest_path, json.dumps(manifest))

    total = _count_blocks(path, fmt) if progress else None
    prog = _Progress(total, progress)
    n_chunks = 0
    source = path.name
    chunks = iter_block_chunks(path, chunk_blocks, response_kind=response_kind, fmt=fmt)
    limit = max_in_flight or max(2 * workers, 2)

    def todo() -> Iterator[tuple[int, pd.DataFrame]]:
        nonlocal n_chunks
        for i, df in chunks:
            n_chunks = i + 1
            if i in done:
                prog.update(int(df["block_id"].nunique()) if "block_id" in df else 0)
                continue
            if _stop_after is not None and len(done) >= _stop_after:
                raise KeyboardInterrupt("stopped for testing")
            yield i, df

    if backend == "serial":
        for i, df in todo():
            _, tables, nb, csvs = _score_chunk(i, df, opts, source, csv=csv)
            _write_part(parts, i, tables, csvs)
            mark(i)
            prog.update(nb)
    else:
        submit: Callable[..., Any]
        client = None
        cluster = None
        pool = None
        if backend == "processes":
            # spawn (not fork): the compiled fit kernel's thread pool is not fork-safe; each
            # worker fits single-threaded, the processes give the parallelism
            pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_single_threaded_worker)
            submit = pool.submit
        else:
            from distributed import Client, LocalCluster

            if scheduler:
                client = Client(scheduler)
            else:
                cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
                client = Client(cluster)
            submit = client.submit
        try:
            inflight: dict[Any, int] = {}

            def drain(block: bool) -> None:
                if not inflight:
                    return
                if backend == "processes":
                    finished, _ = wait(list(inflight), return_when=FIRST_COMPLETED) if block else (
                        [f for f in inflight if f.done()], None)
                else:
                    from distributed import wait as dwait

                    finished = dwait(list(inflight), return_when="FIRST_COMPLETED").done if block else [f for f in inflight if f.done()]
                for fut in list(finished):
                    inflight.pop(fut)
                    i, tables, nb, csvs = fut.result()
                    _write_part(parts, i, tables, csvs)
                    mark(i)
                    prog.update(nb)

            for i, df in todo():
                while len(inflight) >= limit:
                    drain(True)
                fut: Any
                if client is not None:
                    fut = client.submit(_score_chunk, i, df, opts, source, True, csv, pure=False)
                else:
                    fut = submit(_score_chunk, i, df, opts, source, False, csv)
                inflight[fut] = i
                drain(False)
            while inflight:
                drain(True)
        finally:
            if pool is not None:
                pool.shutdown()
            if client is not None:
                client.close()
            if cluster is not None:
                cluster.close()
    prog.update(0, final=True)
    _concat_parts(parts, outdir, n_chunks, csv=csv)
    manifest["complete"] = True
    manifest["n_chunks"] = n_chunks
    atomic_write_text(manifest_path, json.dumps(manifest))
    params = {**{k: (list(v) if isinstance(v, tuple) else v) for k, v in opts.items()},
              "input": str(path), "backend": backend, "chunk_blocks": chunk_blocks, "n_chunks": n_chunks,
              "response_kind": response_kind, "csv": csv}
    atomic_write_text(outdir / "params.json", json.dumps(params, indent=2, default=str))
    blocks = pd.read_parquet(outdir / "blocks.parquet")
    rejected = pd.read_parquet(outdir / "rejected.parquet")
    return ScreenResult(table=blocks, params=params, rejected=rejected)

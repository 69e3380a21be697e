"""The embedded results store: every analysis run in one DuckDB file.

Each call to :meth:`ResultsStore.record_run` writes one run — its inputs' SHA-256
checksums, its parameters, the software versions and its result tables — inside a single
DuckDB transaction.  DuckDB transactions are atomic and durable (write-ahead log, commit
marker written last), so a run is either entirely present or absent: a process killed while
recording leaves the database as it was before the run started.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import importlib.metadata
import json
import math
import os
import platform
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

import sensitize
from sensitize.core.errors import InputError
from sensitize.core.output import atomic_write_parquet
from sensitize.core.results import Result
from sensitize.store.compare import compare_frames
from sensitize.store.errors import StoreError, StoreLockedError, UnknownRunError
from sensitize.store.hashing import sha256_path
from sensitize.store.schema import (
    DDL,
    NULL_TYPE,
    RESULTS_SCHEMA,
    SCHEMA_VERSION,
    frame_to_arrow,
    quote_ident,
    unique_sql_name,
    widen_type,
)

DEFAULT_DB_NAME = "sensitize.duckdb"
ENV_VAR = "SENSITIZE_DB"
_VERSIONED_PACKAGES = (
    "numpy",
    "pandas",
    "scipy",
    "pyarrow",
    "duckdb",
    "statsmodels",
    "lifelines",
    "scikit-learn",
)
_INCOMING = "_sensitize_incoming"
_SHA_RE = re.compile(r"^[0-9a-fA-F]{64}$")

ProgressCallback = Callable[[str, int, int], None]


def default_db_path() -> Path:
    """``$SENSITIZE_DB`` if set, else ``sensitize.duckdb`` in the working directory."""
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else Path.cwd() / DEFAULT_DB_NAME


def collect_versions() -> dict[str, str]:
    """Versions of Python, sensitize and the numerical libraries, plus the platform string."""
    return dict(_versions())


@functools.cache
def _versions() -> dict[str, str]:
    out = {
        "sensitize": sensitize.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    for pkg in _VERSIONED_PACKAGES:
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def to_jsonable(obj: Any, where: str = "params") -> Any:
    """Convert parameters to JSON-compatible values.

    NumPy scalars/arrays become numbers/lists, paths and dates strings (ISO 8601), tuples
    and sets lists (sets sorted), enums their value, dataclasses dicts; non-finite floats
    become the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (JSON has no NaN).

    Raises
    ------
    TypeError
        For a value with no JSON form, naming where it is (``params['x'][2]``).
    """
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item(), where)
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        if math.isfinite(obj):
            return float(obj)
        return "NaN" if math.isnan(obj) else ("Infinity" if obj > 0 else "-Infinity")
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v, f"{where}[{k!r}]") for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist(), where)
    if isinstance(obj, set | frozenset):
        return [to_jsonable(v, f"{where}[*]") for v in sorted(obj, key=repr)]
    if isinstance(obj, list | tuple):
        return [to_jsonable(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, dt.datetime | dt.date | dt.time | pd.Timestamp):
        return obj.isoformat()
    if isinstance(obj, dt.timedelta | pd.Timedelta):
        return pd.Timedelta(obj).isoformat()
    if isinstance(obj, enum.Enum):
        return to_jsonable(obj.value, where)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj), where)
    raise TypeError(f"{where}: value of type {type(obj).__name__} cannot be stored as JSON")


@dataclass
class RunInfo:
    """Everything recorded about one run (without its result tables).

    Attributes
    ----------
    run_id, run_uuid, kind, label
        Identity of the run (``kind`` names the analysis, e.g. ``"screen.synergy"``).
    started_at, recorded_at
        When the analysis started (if given) and when the run was committed (UTC).
    versions, params
        Software versions and analysis parameters.
    inputs
        One row per input: ``position``, ``path``, ``name``, ``sha256``, ``size_bytes``.
    tables
        One row per result table: ``table_name``, ``sql_name``, ``n_rows``, ``n_columns``.
    """

    run_id: int
    run_uuid: str
    kind: str
    label: str | None
    started_at: pd.Timestamp | None
    recorded_at: pd.Timestamp
    versions: dict[str, str]
    params: dict[str, Any]
    inputs: pd.DataFrame
    tables: pd.DataFrame


class ResultsStore:
    """An embedded DuckDB database holding every analysis run, queryable across runs.

    Parameters
    ----------
    path
        The database file; default ``$SENSITIZE_DB`` or ``sensitize.duckdb`` in the current
        working directory (resolved when the store object is created).  Created on the
        first recorded run.
    lock_timeout
        Seconds to wait, polling, while another process holds the database before raising
        :class:`StoreLockedError`.  DuckDB lets one process write a database file at a
        time; several may read it while nobody writes.

    Notes
    -----
    A connection is opened for each operation and closed after it, so the lock is held only
    while a run is being written (or a query is running); other processes can use the file
    in between.  Reads use read-only connections.  See ``docs/store.md`` for the layout.
    """

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, lock_timeout: float = 10.0
    ) -> None:
        self.path = Path(path).absolute() if path is not None else default_db_path().absolute()
        self.lock_timeout = float(lock_timeout)

    def __repr__(self) -> str:
        return f"ResultsStore({str(self.path)!r})"

    # --- connections ------------------------------------------------------------------------

    @contextmanager
    def _connect(self, *, write: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        if not write and not self.path.exists():
            raise StoreError(
                f"no results database at {self.path} (no run recorded yet; set --db or {ENV_VAR})"
            )
        if self.path.is_dir():
            raise StoreError(f"results database path {self.path} is a folder, not a file")
        if self.path.exists():
            with open(self.path, "rb") as fh:
                header = fh.read(12)
            if header and header[8:12] != b"DUCK":
                raise StoreError(
                    f"{self.path} is not a DuckDB database file (refusing to use it as results database)"
                )
        elif write:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + max(self.lock_timeout, 0.0)
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=not write)
                break
            except duckdb.Error as exc:
                msg = str(exc)
                if "Could not set lock" in msg or "Conflicting lock" in msg:
                    if time.monotonic() < deadline:
                        time.sleep(min(0.05, max(deadline - time.monotonic(), 0.0)))
                        continue
                    m = re.search(r"PID (\d+)", msg)
                    pid = int(m.group(1)) if m else None
                    who = f" (PID {pid})" if pid is not None else ""
                    raise StoreLockedError(
                        f"results database {self.path} is in use by another process{who}: DuckDB allows "
                        f"one writing process at a time. Wait for it to finish, or use another database "
                        f"(--db PATH or {ENV_VAR}).",
                        path=str(self.path),
                        pid=pid,
                    ) from exc
                if "different configuration" in msg:
                    raise StoreError(
                        f"results database {self.path} is already open in this process with another "
                        "mode (read-only vs read-write); close the other connection first"
                    ) from exc
                raise StoreError(f"cannot open results database {self.path}: {msg}") from exc
        try:
            self._check_schema(con, initialise=write)
            cat = quote_ident(_catalog(con)).replace("'", "''")
            con.execute(f"SET search_path = '{cat}.main,{cat}.{RESULTS_SCHEMA}'")
            yield con
        finally:
            con.close()

    def _check_schema(self, con: duckdb.DuckDBPyConnection, *, initialise: bool) -> None:
        tables = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_catalog = current_database() AND table_schema = 'main'"
            ).fetchall()
        }
        if "store_info" not in tables:
            if tables or not initialise:
                raise StoreError(
                    f"{self.path} is a DuckDB database but not a sensitize results store"
                )
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(DDL)
                con.execute(
                    f"CREATE SCHEMA IF NOT EXISTS {quote_ident(_catalog(con))}.{RESULTS_SCHEMA}"
                )
                con.executemany(
                    "INSERT INTO store_info VALUES (?, ?)",
                    [
                        ["schema_version", str(SCHEMA_VERSION)],
                        ["created_by", f"sensitize {sensitize.__version__}"],
                    ],
                )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            return
        row = con.execute("SELECT value FROM store_info WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row else 0
        if version != SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} uses results-store schema version {version}; this sensitize "
                f"({sensitize.__version__}) reads version {SCHEMA_VERSION}"
            )

    # --- writing ----------------------------------------------------------------------------

    def record_run(
        self,
        kind: str,
        inputs: Sequence[str | os.PathLike[str]],
        params: Mapping[str, Any],
        tables: Mapping[str, pd.DataFrame | Result],
        *,
        label: str | None = None,
        started_at: dt.datetime | None = None,
        progress: ProgressCallback | None = None,
    ) -> int:
        """Record one analysis run atomically and return its ``run_id``.

        Parameters
        ----------
        kind
            The analysis, e.g. ``"screen.synergy"`` or ``"invivo.tgi"``.
        inputs
            The input files (or folders) the analysis read (a single path is accepted too);
            their SHA-256 checksums, sizes and absolute paths are stored (see :func:`sensitize.store.hashing.sha256_path`).
        params
            Analysis parameters, stored as JSON (see :func:`to_jsonable`).
        tables
            Result tables by logical name (``"screen.blocks"``); a :class:`Result` stands
            for its ``.table``.  Each becomes rows of SQL table ``results.<sanitised name>``
            shared by all runs (columns added and types widened as needed).
        label
            Free text to recognise the run by.
        started_at
            When the analysis started (time-zone aware, or naive meaning UTC).
        progress
            Called as ``progress(table_name, i, n)`` after the ``i``-th of ``n`` tables has
            been written (inside the transaction).  An exception it raises aborts the run.

        Returns
        -------
        int
            The new run's id (ids increase; they are not reused after :meth:`delete_run`).

        Raises
        ------
        InputError
            Missing input file, empty ``kind``, bad table or column names.
        StoreLockedError
            Another process holds the database past ``lock_timeout``.
        StoreError
            DuckDB refused the write; nothing of the run is stored.

        Notes
        -----
        Everything is validated and converted before the transaction starts; the run row,
        its inputs and every table are then written between ``BEGIN TRANSACTION`` and
        ``COMMIT``.  Any exception (or a killed process) before ``COMMIT`` rolls the whole
        run back.
        """
        if not isinstance(kind, str) or not kind.strip():
            raise InputError("the run kind must be a non-empty string (e.g. 'screen.synergy')")
        if isinstance(inputs, str | os.PathLike):
            inputs = [inputs]
        params_json = json.dumps(to_jsonable(dict(params)), sort_keys=True, allow_nan=False)
        input_rows = []
        for pos, p in enumerate(inputs):
            digest, size = sha256_path(p)
            ap = Path(p).absolute()
            input_rows.append([pos, str(ap), ap.name, digest, size])
        prepared: list[tuple[str, pa.Table, int]] = []
        for name, obj in tables.items():
            if not isinstance(name, str) or not name.strip():
                raise InputError(f"result table names must be non-empty strings, got {name!r}")
            df = obj.table if isinstance(obj, Result) else obj
            prepared.append((name, frame_to_arrow(df, name), len(df)))
        versions = collect_versions()
        started = _utc(started_at) if started_at is not None else None
        with self._connect(write=True) as con:
            con.execute("BEGIN TRANSACTION")
            try:
                row = con.execute("SELECT nextval('run_id_seq')").fetchone()
                assert row is not None
                run_id = int(row[0])
                con.execute(
                    "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        run_id,
                        str(uuid.uuid4()),
                        kind,
                        label,
                        started,
                        dt.datetime.now(dt.UTC),
                        versions["sensitize"],
                        versions["python"],
                        versions.get("numpy"),
                        versions.get("pandas"),
                        versions.get("scipy"),
                        json.dumps(versions, sort_keys=True),
                        params_json,
                        len(input_rows),
                        len(prepared),
                    ],
                )
                if input_rows:
                    con.executemany(
                        "INSERT INTO run_inputs VALUES (?, ?, ?, ?, ?, ?)",
                        [[run_id, *r] for r in input_rows],
                    )
                for i, (name, at, n_rows) in enumerate(prepared, start=1):
                    _insert_table(con, run_id, name, at, n_rows)
                    if progress is not None:
                        progress(name, i, len(prepared))
                con.execute("COMMIT")
            except BaseException as exc:
                try:
                    con.execute("ROLLBACK")
                except duckdb.Error:
                    pass
                if isinstance(exc, duckdb.Error):
                    raise StoreError(f"could not record the run in {self.path}: {exc}") from exc
                raise
        return run_id

    def delete_run(self, run_id: int) -> None:
        """Delete a run and all its rows, atomically.

        Raises
        ------
        UnknownRunError
            No such run.
        """
        with self._connect(write=True) as con:
            con.execute("BEGIN TRANSACTION")
            try:
                self._require_run(con, run_id)
                for (sql_name,) in con.execute(
                    "SELECT sql_name FROM run_tables WHERE run_id = ?", [run_id]
                ).fetchall():
                    con.execute(
                        f"DELETE FROM {_res(con, sql_name)} WHERE run_id = ?",
                        [run_id],
                    )
                for t in ("run_tables", "run_inputs", "runs"):
                    con.execute(f"DELETE FROM {t} WHERE run_id = ?", [run_id])
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    # --- reading ----------------------------------------------------------------------------

    def runs(
        self, *, kind: str | None = None, input: str | os.PathLike[str] | None = None
    ) -> pd.DataFrame:
        """The recorded runs, one row each, ordered by ``run_id``.

        Parameters
        ----------
        kind
            Only runs of this kind.
        input
            Only runs that read this input: a file/folder path (checksummed now) or a
            64-hex-digit SHA-256 — finds every analysis of the same data, wherever the file
            lived when it was analysed.

        Returns
        -------
        pandas.DataFrame
            ``run_id``, ``kind``, ``label``, ``recorded_at``, ``started_at``, ``n_inputs``,
            ``n_tables``, ``sensitize_version``, ``params`` (JSON text).  Empty when the
            database does not exist yet.
        """
        cols = "run_id, kind, label, recorded_at, started_at, n_inputs, n_tables, sensitize_version, params::VARCHAR AS params"
        where: list[str] = []
        args: list[Any] = []
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        if input is not None:
            s = os.fspath(input)
            digest = s.lower() if _SHA_RE.match(s) and not Path(s).exists() else sha256_path(s)[0]
            where.append("run_id IN (SELECT run_id FROM run_inputs WHERE sha256 = ?)")
            args.append(digest)
        sql = (
            f"SELECT {cols} FROM runs"
            + (f" WHERE {' AND '.join(where)}" if where else "")
            + " ORDER BY run_id"
        )
        if not self.path.exists():
            names = [c.split(" AS ")[-1].strip() for c in cols.split(",")]
            return pd.DataFrame({n: pd.Series(dtype=object) for n in names})
        with self._connect(write=False) as con:
            return con.execute(sql, args).df()

    def run(self, run_id: int) -> RunInfo:
        """Everything recorded about one run (see :class:`RunInfo`)."""
        with self._connect(write=False) as con:
            self._require_run(con, run_id)
            r = con.execute(
                "SELECT run_id, run_uuid, kind, label, started_at, recorded_at, versions::VARCHAR, params::VARCHAR "
                "FROM runs WHERE run_id = ?",
                [run_id],
            ).fetchone()
            assert r is not None
            inputs = con.execute(
                "SELECT position, path, name, sha256, size_bytes FROM run_inputs WHERE run_id = ? ORDER BY position",
                [run_id],
            ).df()
            tables = con.execute(
                "SELECT table_name, sql_name, n_rows, n_columns FROM run_tables WHERE run_id = ? ORDER BY table_name",
                [run_id],
            ).df()
        return RunInfo(
            run_id=int(r[0]),
            run_uuid=str(r[1]),
            kind=r[2],
            label=r[3],
            started_at=pd.Timestamp(r[4]) if r[4] is not None else None,
            recorded_at=pd.Timestamp(r[5]),
            versions=json.loads(r[6]) if r[6] else {},
            params=json.loads(r[7]) if r[7] else {},
            inputs=inputs,
            tables=tables,
        )

    def tables(self, run_id: int | None = None) -> pd.DataFrame:
        """Result tables stored: ``run_id``, ``table_name``, ``sql_name``, ``n_rows``, ``n_columns``."""
        sql = "SELECT run_id, table_name, sql_name, n_rows, n_columns FROM run_tables"
        args: list[Any] = []
        if run_id is not None:
            sql += " WHERE run_id = ?"
            args.append(run_id)
        with self._connect(write=False) as con:
            if run_id is not None:
                self._require_run(con, run_id)
            return con.execute(sql + " ORDER BY run_id, table_name", args).df()

    def table(self, run_id: int, name: str) -> pd.DataFrame:
        """One run's result table, as recorded: its own columns, in order, with their types.

        Parameters
        ----------
        run_id
            The run.
        name
            The logical table name (``"screen.blocks"``) or its SQL name (``screen_blocks``).
        """
        with self._connect(write=False) as con:
            sql_name, columns, n_rows = self._run_table(con, run_id, name)
            if not columns:
                return pd.DataFrame(index=pd.RangeIndex(n_rows))
            select = ", ".join(
                f"CAST({quote_ident(c['column'])} AS {c['type']}) AS {quote_ident(c['name'])}"
                for c in columns
            )
            return con.execute(
                f"SELECT {select} FROM {_res(con, sql_name)} WHERE run_id = ? ORDER BY _row",
                [run_id],
            ).df()

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        """Run an SQL query (read-only) across all runs and return the result.

        Result tables are found by their SQL name without schema prefix (the connection's
        search path is ``main, results``): e.g.
        ``SELECT r.label, b.* FROM screen_blocks b JOIN runs r USING (run_id)``.

        Raises
        ------
        StoreError
            Invalid SQL, unknown table/column, or an attempt to modify the database.
        """
        with self._connect(write=False) as con:
            try:
                return con.execute(sql, list(params) if params is not None else None).df()
            except duckdb.Error as exc:
                raise StoreError(f"query failed: {exc}") from exc

    def compare(
        self,
        run_a: int,
        run_b: int,
        table: str,
        keys: str | Sequence[str],
        columns: Sequence[str] | None = None,
        *,
        atol: float = 0.0,
        rtol: float = 0.0,
        only_differences: bool = False,
    ) -> pd.DataFrame:
        """Compare a result table between two runs, matching rows on ``keys``.

        Returns the long table of :func:`sensitize.store.compare.compare_frames`: key
        columns, ``column``, ``a`` (value in ``run_a``), ``b`` (value in ``run_b``),
        ``difference`` (``b - a``, numeric columns) and ``status`` (``equal``,
        ``different``, ``only_in_a``, ``only_in_b``).
        """
        ta = self.table(run_a, table)
        tb = self.table(run_b, table)
        return compare_frames(
            ta,
            tb,
            keys,
            columns,
            atol=atol,
            rtol=rtol,
            only_differences=only_differences,
            names=(f"run {run_a} table {table}", f"run {run_b} table {table}"),
        )

    def export_parquet(
        self, outdir: str | os.PathLike[str], run_id: int | None = None
    ) -> list[Path]:
        """Export the store (or one run) to Parquet files, written atomically.

        Layout: ``runs.parquet``, ``run_inputs.parquet``, ``run_tables.parquet`` and
        ``results/<sql_name>.parquet`` (one per result table, ``run_id`` column first).
        With ``run_id``, only that run's rows and, per table, only its own columns (with
        their recorded types) are written.  JSON columns are written as text.

        Returns
        -------
        list of Path
            The files written.
        """
        out = Path(outdir)
        written: list[Path] = []
        run_filter = " WHERE run_id = ?" if run_id is not None else ""
        args: list[Any] = [run_id] if run_id is not None else []
        with self._connect(write=False) as con:
            if run_id is not None:
                self._require_run(con, run_id)
            meta = {
                "runs": "SELECT * REPLACE (versions::VARCHAR AS versions, params::VARCHAR AS params) FROM runs",
                "run_inputs": "SELECT * FROM run_inputs",
                "run_tables": "SELECT * REPLACE (columns::VARCHAR AS columns) FROM run_tables",
            }
            frames: dict[Path, pd.DataFrame] = {}
            for name, sql in meta.items():
                frames[out / f"{name}.parquet"] = con.execute(
                    sql + run_filter + " ORDER BY ALL", args
                ).df()
            listing = con.execute(
                "SELECT DISTINCT table_name, sql_name FROM run_tables"
                + run_filter
                + " ORDER BY sql_name",
                args,
            ).fetchall()
            if run_id is None:
                for _, sql_name in listing:
                    frames[out / "results" / f"{sql_name}.parquet"] = con.execute(
                        f"SELECT * FROM {_res(con, sql_name)} ORDER BY run_id, _row"
                    ).df()
        if run_id is not None:
            for table_name, sql_name in listing:
                df = self.table(run_id, table_name)
                df.insert(0, "run_id", np.full(len(df), run_id, dtype=np.int64))
                frames[out / "results" / f"{sql_name}.parquet"] = df
        for path, df in frames.items():
            atomic_write_parquet(path, df)
            written.append(path)
        return written

    # --- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _require_run(con: duckdb.DuckDBPyConnection, run_id: int) -> None:
        if con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchone() is None:
            raise UnknownRunError(f"no run {run_id} in the results database")

    def _run_table(
        self, con: duckdb.DuckDBPyConnection, run_id: int, name: str
    ) -> tuple[str, list[dict[str, str]], int]:
        q = "SELECT sql_name, columns::VARCHAR, n_rows FROM run_tables WHERE run_id = ? AND {} = ?"
        row = con.execute(q.format("table_name"), [run_id, name]).fetchone()
        if row is None:
            row = con.execute(q.format("sql_name"), [run_id, name]).fetchone()
        if row is None:
            self._require_run(con, run_id)
            have = [
                r[0]
                for r in con.execute(
                    "SELECT table_name FROM run_tables WHERE run_id = ? ORDER BY 1", [run_id]
                ).fetchall()
            ]
            raise UnknownRunError(
                f"run {run_id} has no table {name!r}; it has: {', '.join(have) or 'none'}"
            )
        return str(row[0]), json.loads(row[1]), int(row[2])


def _catalog(con: duckdb.DuckDBPyConnection) -> str:
    """Name of the database's catalog (DuckDB derives it from the file name)."""
    row = con.execute("SELECT current_database()").fetchone()
    assert row is not None
    return str(row[0])


def _res(con: duckdb.DuckDBPyConnection, sql_name: str) -> str:
    """Fully qualified name of a result table: unambiguous even when the database file is
    called ``results.duckdb`` (catalog ``results``)."""
    return f"{quote_ident(_catalog(con))}.{RESULTS_SCHEMA}.{quote_ident(sql_name)}"


def _utc(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


def _insert_table(
    con: duckdb.DuckDBPyConnection, run_id: int, name: str, at: pa.Table, n: int
) -> None:
    """Append one run's table to ``results.<sql_name>``, adding/widening columns as needed."""
    row = con.execute("SELECT sql_name FROM result_tables WHERE table_name = ?", [name]).fetchone()
    if row is None:
        taken = [r[0] for r in con.execute("SELECT sql_name FROM result_tables").fetchall()]
        sql_name = unique_sql_name(name, taken)
        con.execute("INSERT INTO result_tables VALUES (?, ?)", [name, sql_name])
        con.execute(
            f"CREATE TABLE {_res(con, sql_name)} (run_id BIGINT NOT NULL, _row BIGINT NOT NULL)"
        )
    else:
        sql_name = str(row[0])
    target = _res(con, sql_name)
    existing = {
        str(c).lower(): (str(c), str(t))
        for c, t in con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_catalog = current_database() AND table_schema = ? AND table_name = ?",
            [RESULTS_SCHEMA, sql_name],
        ).fetchall()
    }
    at = pa.Table.from_arrays(
        [*at.columns, pa.array(np.arange(n, dtype=np.int64))], names=[*at.column_names, "_row"]
    )
    con.register(_INCOMING, at)
    try:
        incoming = [(str(r[0]), str(r[1])) for r in con.execute(f"DESCRIBE {_INCOMING}").fetchall()]
        recorded: list[dict[str, str]] = []
        select: list[str] = []
        dest: list[str] = []
        for col, new_type in incoming:
            if col == "_row":
                continue
            if col.lower() in existing:
                stored, old_type = existing[col.lower()]
                want = widen_type(old_type, new_type)
                if old_type != new_type and new_type != NULL_TYPE:
                    # a column that holds no value yet (all runs so far had it empty) takes
                    # the new type as is rather than a widened one
                    empty = con.execute(
                        f"SELECT count({quote_ident(stored)}) = 0 FROM {target}"
                    ).fetchone()
                    if empty is not None and empty[0]:
                        want = new_type
                if want != old_type:
                    con.execute(
                        f"ALTER TABLE {target} ALTER COLUMN {quote_ident(stored)} TYPE {want}"
                    )
                    existing[col.lower()] = (stored, want)
                col_type = want
            else:
                stored = col
                col_type = "VARCHAR" if new_type == NULL_TYPE else new_type
                con.execute(f"ALTER TABLE {target} ADD COLUMN {quote_ident(stored)} {col_type}")
                existing[col.lower()] = (stored, col_type)
            recorded.append(
                {
                    "name": col,
                    "column": stored,
                    "type": "VARCHAR" if new_type == NULL_TYPE else new_type,
                }
            )
            select.append(f"CAST({quote_ident(col)} AS {col_type})")
            dest.append(quote_ident(stored))
        cols_sql = ", ".join(["run_id", "_row", *dest])
        sel_sql = ", ".join([str(int(run_id)), "_row", *select])
        con.execute(f"INSERT INTO {target} ({cols_sql}) SELECT {sel_sql} FROM {_INCOMING}")
    finally:
        con.unregister(_INCOMING)
    con.execute(
        "INSERT INTO run_tables VALUES (?, ?, ?, ?, ?, ?)",
        [run_id, name, sql_name, n, len(recorded), json.dumps(recorded)],
    )

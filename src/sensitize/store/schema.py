"""Database layout of the results store, table-name sanitising and column-type widening.

Layout (schema version 1)
-------------------------
Schema ``main`` holds the run catalogue:

``store_info(key, value)``
    ``schema_version`` and the sensitize version that created the file.
``runs``
    One row per recorded run: ``run_id`` (from sequence ``run_id_seq``), ``run_uuid``,
    ``kind``, ``label``, ``started_at``, ``recorded_at``, the versions of sensitize, Python,
    NumPy, pandas and SciPy (plus a ``versions`` JSON object with more), ``params`` (JSON),
    ``n_inputs``, ``n_tables``.
``run_inputs``
    One row per input file of a run: ``run_id``, ``position``, ``path``, ``name``,
    ``sha256``, ``size_bytes``.
``result_tables``
    Maps each logical table name (``"screen.blocks"``) to its SQL name (``screen_blocks``).
``run_tables``
    One row per (run, table): ``n_rows``, ``n_columns`` and ``columns`` (JSON list of
    ``{"name", "type"}`` as stored for that run).

Schema ``results`` holds one table per logical table name, shared by all runs:
``run_id``, ``_row`` (0-based row position within the run) and the union of the columns
every run stored (``NULL`` where a run had no such column).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd
import pyarrow as pa

from sensitize.core.errors import InputError

SCHEMA_VERSION = 1
RESULTS_SCHEMA = "results"
RESERVED_COLUMNS = ("run_id", "_row")

DDL = """
CREATE TABLE IF NOT EXISTS store_info (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE SEQUENCE IF NOT EXISTS run_id_seq START 1;
CREATE TABLE IF NOT EXISTS runs (
    run_id BIGINT PRIMARY KEY,
    run_uuid VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    label VARCHAR,
    started_at TIMESTAMPTZ,
    recorded_at TIMESTAMPTZ NOT NULL,
    sensitize_version VARCHAR,
    python_version VARCHAR,
    numpy_version VARCHAR,
    pandas_version VARCHAR,
    scipy_version VARCHAR,
    versions JSON,
    params JSON,
    n_inputs INTEGER NOT NULL,
    n_tables INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS run_inputs (
    run_id BIGINT NOT NULL,
    position INTEGER NOT NULL,
    path VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    size_bytes BIGINT,
    PRIMARY KEY (run_id, position)
);
CREATE TABLE IF NOT EXISTS result_tables (
    table_name VARCHAR PRIMARY KEY,
    sql_name VARCHAR NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS run_tables (
    run_id BIGINT NOT NULL,
    table_name VARCHAR NOT NULL,
    sql_name VARCHAR NOT NULL,
    n_rows BIGINT NOT NULL,
    n_columns INTEGER NOT NULL,
    columns JSON NOT NULL,
    PRIMARY KEY (run_id, table_name)
);

"""

METADATA_TABLES = ("runs", "run_inputs", "run_tables", "result_tables", "store_info")


def quote_ident(name: str) -> str:
    """Quote an SQL identifier for DuckDB (double quotes, inner quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def sanitize_table_name(name: str) -> str:
    """Turn a logical table name into a plain SQL identifier.

    Runs of characters other than ASCII letters, digits and ``_`` become one ``_``; the
    result is lower-cased, stripped of leading/trailing ``_``, prefixed with ``t_`` when it
    would start with a digit, and is ``t`` when nothing is left.  ``"screen.blocks"`` -> ``screen_blocks``.
    """
    s = re.sub(r"[^0-9A-Za-z_]+", "_", name).strip("_").lower()
    if not s:
        return "t"
    return "t_" + s if s[0].isdigit() else s


def unique_sql_name(name: str, taken: Iterable[str]) -> str:
    """``sanitize_table_name(name)``, suffixed ``_2``, ``_3``, ... to avoid names in ``taken``."""
    base = sanitize_table_name(name)
    used = {t.lower() for t in taken}
    cand, k = base, 1
    while cand in used:
        k += 1
        cand = f"{base}_{k}"
    return cand


# --- column types -------------------------------------------------------------------------

_INT_RANK = {
    "TINYINT": 1,
    "UTINYINT": 1,
    "SMALLINT": 2,
    "USMALLINT": 2,
    "INTEGER": 3,
    "UINTEGER": 3,
    "BIGINT": 4,
    "UBIGINT": 5,
    "HUGEINT": 5,
}
_FLOATS = {"FLOAT", "DOUBLE"}
_TEMPORAL = {"DATE", "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS"}
NULL_TYPE = '"NULL"'


def _is_numeric(t: str) -> bool:
    return t in _INT_RANK or t in _FLOATS or t.startswith("DECIMAL")


def widen_type(old: str, new: str) -> str:
    """The column type able to hold values of both DuckDB types ``old`` and ``new``.

    Rules: equal types are kept; integers widen to ``BIGINT`` (``HUGEINT`` when an unsigned
    64-bit or 128-bit integer is involved); any other mix of numeric types gives ``DOUBLE``;
    dates/timestamps without time zone give ``TIMESTAMP`` (``TIMESTAMP_NS`` when one of them
    has nanosecond precision, as pandas datetimes do); every other mix gives
    ``VARCHAR`` (every DuckDB value casts to text, and casts back to its recorded type when
    a run's table is read).  The operation is commutative.
    """
    if old == new:
        return old
    if old == NULL_TYPE:
        return new
    if new == NULL_TYPE:
        return old
    if old in _INT_RANK and new in _INT_RANK:
        return "HUGEINT" if max(_INT_RANK[old], _INT_RANK[new]) >= 5 else "BIGINT"
    if _is_numeric(old) and _is_numeric(new):
        return "DOUBLE"
    if old in _TEMPORAL and new in _TEMPORAL:
        return "TIMESTAMP_NS" if "TIMESTAMP_NS" in (old, new) else "TIMESTAMP"
    return "VARCHAR"


# --- DataFrame -> Arrow ---------------------------------------------------------------------


def frame_to_arrow(df: pd.DataFrame, table_name: str) -> pa.Table:
    """Convert a result table to Arrow for insertion, validating its column names.

    A default ``RangeIndex`` is dropped; any other index is stored as column(s) (an unnamed
    index becomes column ``index``).  Categorical columns are stored as their values.
    Object columns Arrow cannot type (e.g. mixing text and numbers) are stored as text,
    missing values staying ``NULL``.

    Raises
    ------
    InputError
        Empty, duplicated (case-insensitively: SQL identifiers ignore case) or reserved
        (``run_id``, ``_row``) column names.
    """
    if not isinstance(df, pd.DataFrame):
        raise InputError(
            f"result table must be a pandas DataFrame, got {type(df).__name__}", file=table_name
        )
    if not (
        isinstance(df.index, pd.RangeIndex) and df.index.name is None and df.index.names == [None]
    ):
        df = df.reset_index()
    if isinstance(df.columns, pd.MultiIndex):
        df = df.copy()
        df.columns = ["_".join(str(p) for p in c if str(p) != "") for c in df.columns]
    names = [str(c) for c in df.columns]
    if any(n == "" for n in names):
        raise InputError("empty column name", file=table_name)
    seen: dict[str, str] = {}
    for n in names:
        if n.lower() in seen:
            raise InputError(
                "duplicate column name (column names are compared ignoring case in SQL)",
                file=table_name,
                column=[seen[n.lower()], n],
            )
        seen[n.lower()] = n
    bad = [n for n in names if n.lower() in RESERVED_COLUMNS]
    if bad:
        raise InputError(
            f"column name reserved by the results store ({', '.join(RESERVED_COLUMNS)}); rename it",
            file=table_name,
            column=bad,
        )
    arrays: list[pa.Array | pa.ChunkedArray] = []
    for i in range(df.shape[1]):
        col = df.iloc[:, i]
        try:
            arr = pa.array(col, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            text = col.map(lambda v: None if _is_missing(v) else str(v))
            arr = pa.array(text.astype(object), type=pa.string(), from_pandas=True)
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, names=names)


def _is_missing(v: object) -> bool:
    try:
        return bool(pd.isna(v))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False

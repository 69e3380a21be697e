"""Results store: every analysis run in an embedded DuckDB database.

>>> from sensitize.store import ResultsStore
>>> store = ResultsStore()                      # ./sensitize.duckdb or $SENSITIZE_DB
>>> run_id = store.record_run("screen.synergy", ["plate1.csv"], {"model": "ZIP"},
...                           {"screen.blocks": blocks})          # doctest: +SKIP
>>> store.query("SELECT run_id, block_id, zip_synergy FROM screen_blocks")  # doctest: +SKIP

See ``docs/store.md``.
"""

from sensitize.store.compare import compare_frames
from sensitize.store.errors import StoreError, StoreLockedError, UnknownRunError
from sensitize.store.hashing import sha256_file, sha256_path
from sensitize.store.schema import sanitize_table_name
from sensitize.store.store import (
    DEFAULT_DB_NAME,
    ENV_VAR,
    ResultsStore,
    RunInfo,
    collect_versions,
    default_db_path,
)

__all__ = [
    "DEFAULT_DB_NAME",
    "ENV_VAR",
    "ResultsStore",
    "RunInfo",
    "StoreError",
    "StoreLockedError",
    "UnknownRunError",
    "collect_versions",
    "compare_frames",
    "default_db_path",
    "sanitize_table_name",
    "sha256_file",
    "sha256_path",
]

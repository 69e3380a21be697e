"""Recording CLI analysis runs in the results store (``--db`` / ``--no-db``)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from sensitize.store import DEFAULT_DB_NAME, ENV_VAR, ResultsStore


def add_db_args(p: argparse.ArgumentParser) -> None:
    """Add ``--db FILE`` and ``--no-db`` to an analysis command."""
    p.add_argument("--db", default=None,
                   help=f"results database to record this run in (default: ${ENV_VAR} or ./{DEFAULT_DB_NAME})")
    p.add_argument("--no-db", action="store_true", help="do not record this run in the results database")


def record(args: argparse.Namespace, kind: str, inputs: Sequence[str | os.PathLike[str]],
           params: Mapping[str, Any], tables: Mapping[str, Any], *, quiet: bool = False) -> int | None:
    """Record one run atomically in the results store unless ``--no-db``; returns its run id."""
    if getattr(args, "no_db", False):
        return None
    from sensitize.report import cli_settings

    store = ResultsStore(getattr(args, "db", None))  # None: $SENSITIZE_DB or ./sensitize.duckdb
    clean = {k: v for k, v in tables.items() if isinstance(v, pd.DataFrame) and not v.empty}
    settings = {"cli": cli_settings(args), "analysis": dict(params)}
    run_id = store.record_run(kind, list(inputs), settings, clean,
                              label=(" ".join(["sensitize", *sys.argv[1:]]) or kind)[:300])
    if not quiet:
        print(f"recorded as run {run_id} in {store.path} (sensitize db runs --db {store.path})")
    return run_id

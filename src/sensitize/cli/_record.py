"""Recording CLI analysis runs in the results store (``--db`` / ``--no-db``)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

DEFAULT_DB = "sensitize.duckdb"


def default_db() -> str:
    """The results database: ``$SENSITIZE_DB`` or ``sensitize.duckdb`` in the working directory."""
    return os.environ.get("SENSITIZE_DB") or DEFAULT_DB


def add_db_args(p: argparse.ArgumentParser) -> None:
    """Add ``--db FILE`` and ``--no-db`` to an analysis command."""
    p.add_argument("--db", default=None,
                   help=f"results database to record this run in (default: $SENSITIZE_DB or ./{DEFAULT_DB})")
    p.add_argument("--no-db", action="store_true", help="do not record this run in the results database")


def record(args: argparse.Namespace, kind: str, inputs: Sequence[str | os.PathLike[str]],
           params: Mapping[str, Any], tables: Mapping[str, Any], *, quiet: bool = False) -> int | None:
    """Record one run atomically in the results store unless ``--no-db``; returns its run id."""
    if getattr(args, "no_db", False):
        return None
    from sensitize.report import cli_settings
    from sensitize.store import ResultsStore

    db = Path(getattr(args, "db", None) or default_db())
    clean = {k: v for k, v in tables.items() if isinstance(v, pd.DataFrame) and not v.empty}
    settings = {"cli": cli_settings(args), "analysis": dict(params)}
    run_id = ResultsStore(db).record_run(kind, list(inputs), settings, clean,
                                         label=(" ".join(["sensitize", *sys.argv[1:]]) or kind)[:300])
    if not quiet:
        print(f"recorded as run {run_id} in {db} (sensitize db runs --db {db})")
    return run_id

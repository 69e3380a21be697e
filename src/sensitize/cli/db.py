"""``sensitize db``: list, query, show, compare, export and delete recorded runs.

The database is ``--db PATH``, else ``$SENSITIZE_DB``, else ``sensitize.duckdb`` in the
working directory (see ``docs/store.md``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from sensitize.core.output import atomic_write_csv, atomic_write_parquet, atomic_write_text
from sensitize.store import ENV_VAR, ResultsStore, StoreError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``db`` command and its sub-commands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db",
        metavar="PATH",
        default=None,
        help=f"results database (default: ${ENV_VAR} or ./sensitize.duckdb)",
    )
    common.add_argument(
        "--wait",
        metavar="SECONDS",
        type=float,
        default=10.0,
        help="how long to wait while another process holds the database (default 10)",
    )
    out = argparse.ArgumentParser(add_help=False)
    out.add_argument(
        "-o", "--output", metavar="FILE", help="write the table to FILE (.csv, .tsv or .parquet)"
    )
    out.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        help="how to print to the terminal (default: aligned table)",
    )
    out.add_argument(
        "--max-rows",
        type=int,
        default=100,
        metavar="N",
        help="rows printed in table format (0: all; default 100)",
    )

    p = subparsers.add_parser(
        "db",
        help="the results database: list, query, compare and export recorded runs",
        description="Query the embedded results database in which analyses record their runs.",
    )
    sub = p.add_subparsers(dest="db_command", metavar="SUBCOMMAND", required=True)

    q = sub.add_parser("runs", parents=[common, out], help="list recorded runs")
    q.add_argument("--kind", help="only runs of this analysis kind")
    q.add_argument("--input", metavar="FILE", help="only runs that read this file (or SHA-256)")
    q.set_defaults(func=_cmd(_runs))

    q = sub.add_parser("query", parents=[common, out], help="run a read-only SQL query across runs")
    q.add_argument("sql", help='SQL, e.g. "SELECT run_id, count(*) FROM screen_blocks GROUP BY 1"')
    q.set_defaults(func=_cmd(_query))

    q = sub.add_parser("show", parents=[common, out], help="show one run (or one of its tables)")
    q.add_argument("run_id", type=int)
    q.add_argument("--table", metavar="NAME", help="print this result table of the run")
    q.set_defaults(func=_cmd(_show))

    q = sub.add_parser(
        "compare", parents=[common, out], help="compare a result table between two runs"
    )
    q.add_argument("run_a", type=int)
    q.add_argument("run_b", type=int)
    q.add_argument("--table", required=True, metavar="NAME", help="result table to compare")
    q.add_argument(
        "--keys", required=True, nargs="+", metavar="COL", help="column(s) identifying a row"
    )
    q.add_argument("--columns", nargs="+", metavar="COL", help="columns to compare (default: all)")
    q.add_argument(
        "--atol", type=float, default=0.0, help="absolute tolerance for numbers (default 0)"
    )
    q.add_argument(
        "--rtol", type=float, default=0.0, help="relative tolerance for numbers (default 0)"
    )
    q.add_argument("--all", action="store_true", help="also list equal values")
    q.set_defaults(func=_cmd(_compare))

    q = sub.add_parser("export", parents=[common], help="export runs and result tables to Parquet")
    q.add_argument("outdir", help="output folder")
    q.add_argument("--run", type=int, metavar="ID", help="only this run")
    q.set_defaults(func=_cmd(_export))

    q = sub.add_parser("delete", parents=[common], help="delete a run")
    q.add_argument("run_id", type=int)
    q.add_argument("--yes", action="store_true", help="confirm the deletion")
    q.set_defaults(func=_cmd(_delete))


def _cmd(
    fn: Callable[[ResultsStore, argparse.Namespace], int],
) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        store = ResultsStore(args.db, lock_timeout=args.wait)
        try:
            return fn(store, args)
        except StoreError as exc:
            print(f"sensitize: error: {exc}", file=sys.stderr)
            return 2

    return run


def _emit(df: pd.DataFrame, args: argparse.Namespace) -> None:
    if args.output:
        path = Path(args.output)
        if path.suffix.lower() == ".parquet":
            atomic_write_parquet(path, df)
        else:
            sep = "\t" if path.suffix.lower() == ".tsv" else ","
            if sep == ",":
                atomic_write_csv(path, df)
            else:
                atomic_write_text(path, df.to_csv(sep=sep, index=False))
        print(f"wrote {len(df)} rows to {path}", file=sys.stderr)
        return
    if args.format == "csv":
        sys.stdout.write(df.to_csv(index=False))
    elif args.format == "json":
        sys.stdout.write(df.to_json(orient="records", date_format="iso", indent=1) + "\n")
    else:
        n = args.max_rows if args.max_rows > 0 else len(df)
        if df.shape[1] == 0:
            print(f"({len(df)} rows, no columns)")
            return
        print(df.head(n).to_string(index=False))
        if len(df) > n:
            print(f"... {len(df) - n} more rows (use --max-rows 0, --format csv or -o FILE)")


def _runs(store: ResultsStore, args: argparse.Namespace) -> int:
    df = store.runs(kind=args.kind, input=args.input)
    if df.empty and not args.output and args.format == "table":
        print(f"no runs recorded in {store.path}")
        return 0
    _emit(df, args)
    return 0


def _query(store: ResultsStore, args: argparse.Namespace) -> int:
    _emit(store.query(args.sql), args)
    return 0


def _show(store: ResultsStore, args: argparse.Namespace) -> int:
    if args.table:
        _emit(store.table(args.run_id, args.table), args)
        return 0
    info = store.run(args.run_id)
    if args.format == "json":
        doc = {
            "run_id": info.run_id,
            "run_uuid": info.run_uuid,
            "kind": info.kind,
            "label": info.label,
            "started_at": None if info.started_at is None else info.started_at.isoformat(),
            "recorded_at": info.recorded_at.isoformat(),
            "versions": info.versions,
            "params": info.params,
            "inputs": json.loads(info.inputs.to_json(orient="records")),
            "tables": json.loads(info.tables.to_json(orient="records")),
        }
        print(json.dumps(doc, indent=2))
        return 0
    print(f"run {info.run_id}  ({info.run_uuid})")
    print(f"kind:        {info.kind}")
    if info.label:
        print(f"label:       {info.label}")
    if info.started_at is not None:
        print(f"started:     {info.started_at.isoformat()}")
    print(f"recorded:    {info.recorded_at.isoformat()}")
    print(
        "versions:    " + ", ".join(f"{k} {v}" for k, v in info.versions.items() if k != "platform")
    )
    if "platform" in info.versions:
        print(f"platform:    {info.versions['platform']}")
    print("params:")
    for line in json.dumps(info.params, indent=2, sort_keys=True).splitlines():
        print(f"  {line}")
    print("inputs:")
    if info.inputs.empty:
        print("  (none)")
    for r in info.inputs.itertuples(index=False):
        print(f"  {r.sha256}  {r.size_bytes:>12} B  {r.path}")
    print("tables:")
    if info.tables.empty:
        print("  (none)")
    for t in info.tables.itertuples(index=False):
        print(f"  {t.table_name}  (SQL: {t.sql_name}; {t.n_rows} rows x {t.n_columns} columns)")
    return 0


def _compare(store: ResultsStore, args: argparse.Namespace) -> int:
    df = store.compare(
        args.run_a,
        args.run_b,
        args.table,
        args.keys,
        args.columns,
        atol=args.atol,
        rtol=args.rtol,
        only_differences=not args.all,
    )
    if df.empty and not args.output and args.format == "table":
        print(f"runs {args.run_a} and {args.run_b} agree on table {args.table!r}")
        return 0
    _emit(df, args)
    return 0


def _export(store: ResultsStore, args: argparse.Namespace) -> int:
    paths = store.export_parquet(args.outdir, run_id=args.run)
    for p in paths:
        print(p)
    return 0


def _delete(store: ResultsStore, args: argparse.Namespace) -> int:
    if not args.yes:
        print(
            f"sensitize: error: deleting run {args.run_id} cannot be undone; add --yes to confirm",
            file=sys.stderr,
        )
        return 2
    store.delete_run(args.run_id)
    print(f"deleted run {args.run_id} from {store.path}")
    return 0

"""``sensitize screen``: score drug-combination screens."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

from sensitize.cli._record import add_db_args
from sensitize.core.output import (
    atomic_write_csv,
    atomic_write_parquet,
    atomic_write_text,
    ensure_not_input,
)
from sensitize.io.screen import read_screen
from sensitize.screen.engine import MODELS, ScreenResult, score_screen
from sensitize.screen.scale import parquet_safe, score_file

#: columns of blocks.csv in order (others follow)
_BLOCK_FIRST = [
    "block_id", "readout", "drug1", "drug2", "drug3", "drug4", "cell_line",
    "ZIP_synergy", "HSA_synergy", "Bliss_synergy", "Loewe_synergy",
    "ZIP_synergy_p_value", "HSA_synergy_p_value", "Bliss_synergy_p_value", "Loewe_synergy_p_value",
    "ic50_1", "ic50_2", "ri_1", "ri_2", "css1_ic502", "css2_ic501", "css", "S_sum", "S_mean", "S_max",
]


def _order(df: pd.DataFrame, first: list[str]) -> pd.DataFrame:
    cols = [c for c in first if c in df.columns] + [c for c in df.columns if c not in first]
    return df[cols]


def write_screen_result(res: ScreenResult, outdir: Path, inputs: list[Path] | None = None,
                        csv: bool = True) -> dict[str, Path]:
    """Write blocks/cells/curves/rejected as Parquet and (``csv``) CSV plus params.json,
    atomically; without ``csv`` a CSV left by an earlier run of the folder is removed."""
    outdir.mkdir(parents=True, exist_ok=True)
    tables = {
        "blocks": _order(res.table, _BLOCK_FIRST),
        "cells": res.cells,
        "curves": res.curves,
        "rejected": res.rejected,
    }
    paths: dict[str, Path] = {}
    targets = [outdir / f"{n}.csv" for n in tables] + [outdir / f"{n}.parquet" for n in tables]
    if inputs:
        ensure_not_input(targets, inputs)
    for name, t in tables.items():
        pq_path = atomic_write_parquet(outdir / f"{name}.parquet", parquet_safe(t))
        if csv:
            paths[name] = atomic_write_csv(outdir / f"{name}.csv", t)
        else:
            (outdir / f"{name}.csv").unlink(missing_ok=True)
            paths[name] = pq_path
    atomic_write_text(outdir / "params.json", json.dumps(res.params, indent=2, default=str))
    return paths


def summary_text(res: ScreenResult, top: int = 10, by: str = "ZIP_synergy") -> str:
    """A ranked plain-text summary of the most synergistic blocks."""
    if res.table.empty:
        return "no block could be scored"
    if by not in res.table.columns:
        by = next(c for c in res.table.columns if c.endswith("_synergy"))
    cols = [c for c in ["block_id", "readout", "drug1", "drug2", "cell_line", by, f"{by}_p_value", "HSA_synergy", "Bliss_synergy", "Loewe_synergy", "css"] if c in res.table.columns]
    cols = list(dict.fromkeys(cols))
    t = res.ranked(by).head(top)[cols]
    with pd.option_context("display.max_columns", 20, "display.width", 160, "display.float_format", "{:.3g}".format):
        body = t.to_string(index=False)
    lines = [f"{len(res.table)} block(s) scored, {len(res.rejected)} rejected; top {min(top, len(t))} by {by}:", body]
    nflag = int(res.table.get("flag", pd.Series(dtype=bool)).sum())
    if nflag:
        lines.append(f"{nflag} block(s) flagged (see the 'reason' column of blocks.csv)")
    if len(res.rejected):
        lines.append("rejected blocks (see rejected.csv): " + "; ".join(
            f"{r.block_id}: {r.reason}" for r in res.rejected.head(3).itertuples()))
    return "\n".join(lines)


def _cmd_score(args: argparse.Namespace) -> int:
    inp = Path(args.input)
    if not inp.exists():
        raise FileNotFoundError(2, "No such file", str(inp))
    outdir = Path(args.output)
    models = tuple(args.models.split(",")) if args.models else MODELS
    t0 = time.time()
    opts: dict[str, Any] = dict(
        models=models,
        correct_baseline=args.baseline,
        loewe_method=args.loewe_method,
        impute=args.impute,
        n_boot=args.n_boot,
        seed=args.seed,
        fitter=args.fitter,
        induction=args.induction_scale,
    )
    if args.backend != "memory" or args.chunk_blocks:
        res = score_file(
            inp, outdir,
            response_kind=args.response_kind, fmt=args.format,
            backend=args.backend if args.backend != "memory" else "serial",
            scheduler=args.scheduler, chunk_blocks=args.chunk_blocks or 2000,
            workers=args.workers, progress=not args.quiet, csv=not args.no_csv, **opts,
        )
    else:
        df = read_screen(inp, format=args.format, response_kind=args.response_kind)
        if not args.quiet:
            print(f"read {len(df)} rows from {inp} (format: {df.attrs.get('format', '?')})", file=sys.stderr)
        res = score_screen(df, response_kind=args.response_kind, source=inp.name, **opts)
        res.params["input"] = str(inp)
        res.params["format"] = df.attrs.get("format")
        write_screen_result(res, outdir, [inp], csv=not args.no_csv)
    if not args.quiet:
        print(summary_text(res, top=args.top))
        what = "blocks, cells, curves .parquet" if args.no_csv else "blocks.csv, cells.csv, curves.csv (+ .parquet)"
        print(f"wrote {outdir}/{what} in {time.time() - t0:.1f}s")
    from sensitize.cli._record import record

    record(args, "screen.synergy", [inp], res.params,
           {"screen.blocks": res.table, "screen.curves": res.curves, "screen.rejected": res.rejected},
           quiet=args.quiet)
    if not args.no_report:
        from sensitize.report import cli_settings, write_report_files

        paths = write_report_files(res, outdir, inputs=[inp], settings=cli_settings(args), top=args.top)
        if not args.quiet:
            print(f"wrote {paths['html']} and {paths['pdf']}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``sensitize screen``."""
    p = sub.add_parser("screen", help="drug-combination screens")
    ssub = p.add_subparsers(dest="screen_command", metavar="SUBCOMMAND")
    s = ssub.add_parser(
        "score",
        help="synergy (ZIP, HSA, Bliss, Loewe) and sensitivity (RI, CSS, S) for every block",
        description="Score every block of a combination screen and write blocks.csv and cells.csv.",
    )
    s.add_argument("input", help="screen file (SynergyFinder/DrugComb/NCATS/O'Neil/ALMANAC/CSV/TSV/Excel/Parquet)")
    s.add_argument("-o", "--output", required=True, help="output folder")
    s.add_argument("--response-kind", choices=["viability", "inhibition", "induction"], default=None,
                   help="what the response column measures (required unless the format states it)")
    s.add_argument("--format", default="auto", help="input format (default: detect)")
    s.add_argument("--models", default=None, help="comma-separated subset of ZIP,HSA,Bliss,Loewe")
    s.add_argument("--baseline", choices=["non", "part", "all"], default="non", help="SynergyFinder baseline correction")
    s.add_argument("--loewe-method", choices=["exact", "grid"], default="exact",
                   help="exact: solve the Loewe equation; grid: SynergyFinder 3's 100-level grid "
                        "(reproduces its Loewe columns)")
    s.add_argument("--induction-scale", choices=["as_is", "log2fc", "percent_max"], default="as_is",
                   help="for --response-kind induction: rescale raw signals (e.g. CXCL10 pg/mL) per block "
                        "against the vehicle cell (default as_is: already 0 = vehicle)")
    s.add_argument("--fitter", choices=["drc", "lm"], default="drc",
                   help="curve fitter: drc (SynergyFinder 3.x / drc emulation, default) or lm "
                        "(multi-start Levenberg-Marquardt least squares)")
    s.add_argument("--impute", choices=["none", "neighbours"], default="none",
                   help="missing grid cells: reject the block (none) or fill from neighbours")
    s.add_argument("--n-boot", type=int, default=100, help="bootstrap iterations for replicated blocks")
    s.add_argument("--seed", type=int, default=123)
    s.add_argument("--backend", choices=["memory", "serial", "processes", "dask"], default="memory",
                   help="memory: read all at once; serial/processes/dask: stream in chunks of blocks")
    s.add_argument("--scheduler", default=None, help="Dask scheduler address (default: a LocalCluster)")
    s.add_argument("--workers", type=int, default=2, help="workers for the processes/dask backends")
    s.add_argument("--chunk-blocks", type=int, default=0, help="blocks per chunk when streaming (default 2000)")
    s.add_argument("--no-csv", action="store_true",
                   help="write the tables as Parquet only (saves formatting text on large runs)")
    s.add_argument("--top", type=int, default=10, help="rows in the printed ranking")
    s.add_argument("--no-report", action="store_true", help="do not write report.html and report.pdf")
    add_db_args(s)
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(func=_cmd_score)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])

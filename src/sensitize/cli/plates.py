"""``sensitize plates``: read plate maps + reader exports, QC, normalise, write the screen table.

* ``sensitize plates process MAP READS [READS ...] -o OUTDIR``
* ``sensitize plates demo -o OUTDIR [--seed N]`` (the synthetic demo screen)
* ``sensitize plates rank MAP READS [READS ...] -o OUTDIR`` (rank immune-activating combinations)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pandas as pd

from sensitize.cli._record import add_db_args
from sensitize.core.output import atomic_write_csv, atomic_write_text, ensure_not_input


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``plates`` command and its sub-commands."""
    p = subparsers.add_parser("plates", help="plate maps, reader exports, plate QC and normalisation")
    sub = p.add_subparsers(dest="plates_command", metavar="SUBCOMMAND")
    a = sub.add_parser("process", help="join map and reads, QC every plate, normalise, write the screen table")
    a.add_argument("plate_map", help="plate map (CSV/TSV/XLSX; long layout or plate-shaped blocks)")
    a.add_argument("reads", nargs="+", help="reader export(s) (long or plate-shaped)")
    a.add_argument("-o", "--outdir", required=True, help="output folder")
    a.add_argument("--viability", default="viability", help="name of the viability readout (default viability)")
    a.add_argument("--correction", default="none", choices=["none", "median_polish", "treatment_polish"],
                   help="positional correction before normalising (default none)")
    a.add_argument("--polish-scale", default="raw", choices=["raw", "log"], help="median polish scale")
    a.add_argument("--robust-qc", action="store_true", help="judge QC on robust Z'/SSMD/CV (median, MAD)")
    a.add_argument("--induction-scale", default="log2_fc", choices=["log2_fc", "pct_positive"],
                   help="scale of chemokine responses in the screen table (default log2_fc)")
    a.add_argument("--viability-scale", default="pct_vehicle", choices=["pct_vehicle", "pct_control"])
    a.add_argument("--per-viable", action="store_true", help="chemokine per viable cell")
    a.add_argument("--keep-failed", action="store_true", help="keep plates failing QC (marked qc_pass=False)")
    a.add_argument("--block-by", nargs="*", default=[], help="map columns that split blocks (e.g. design)")
    a.add_argument("--unread", default="error", choices=["error", "flag"],
                   help="map wells without a reading: error (default) or keep flagged")
    a.add_argument("--unmapped", default="error", choices=["error", "empty"],
                   help="readings for wells absent from the map: error (default) or keep as empty")
    a.add_argument("--no-report", action="store_true", help="do not write report.html and report.pdf")
    add_db_args(a)
    a.set_defaults(func=_process)
    d = sub.add_parser("demo", help="write the synthetic demo screen (plate map, reader export, truth)")
    d.add_argument("-o", "--outdir", required=True, help="output folder")
    d.add_argument("--seed", type=int, default=None, help="seed (default: the bundled demo's)")
    d.set_defaults(func=_demo)
    r = sub.add_parser("rank", help="rank combinations for chemokine-induction synergy with a viability window "
                                    "(writes ranked.csv, anchored.csv)")
    r.add_argument("plate_map", help="plate map (CSV/TSV/XLSX)")
    r.add_argument("reads", nargs="+", help="reader export(s)")
    r.add_argument("-o", "--outdir", required=True, help="output folder")
    r.add_argument("--viability", default="viability", help="viability readout (default viability)")
    r.add_argument("--induction", default="CXCL10", help="chemokine readout (default CXCL10)")
    r.add_argument("--correction", default="treatment_polish", choices=["none", "median_polish", "treatment_polish"],
                   help="positional correction (default treatment_polish)")
    r.add_argument("--polish-scale", default="log", choices=["raw", "log"], help="median polish scale (default log)")
    r.add_argument("--robust-qc", action="store_true", help="judge QC on robust Z'/SSMD/CV")
    r.add_argument("--block-by", nargs="*", default=["design"], help="map columns that split blocks (default design)")
    r.add_argument("--alpha", type=float, default=0.1, help="Benjamini-Hochberg FDR level (default 0.1)")
    r.add_argument("--min-effect", type=float, default=0.0, help="minimum induction synergy of a hit (log2)")
    r.add_argument("--min-viability", type=float, default=0.3, help="minimum viability window of a hit (fraction)")
    r.add_argument("--top-doses", type=int, default=2, help="top library doses in the test contrast (0 = all)")
    r.add_argument("--variance", default="pooled", choices=["pooled", "welch"], help="error model of the test")
    r.add_argument("--no-report", action="store_true", help="do not write report.html and report.pdf")
    add_db_args(r)
    r.set_defaults(func=_rank)

    def _help(args: argparse.Namespace) -> int:
        p.print_help()
        return 2

    p.set_defaults(func=_help)


def _process(args: argparse.Namespace) -> int:
    from sensitize.io.plates import read_plates
    from sensitize.screen.plates import normalise_plates, to_screen_table

    out = Path(args.outdir)
    names = ["wells_normalised.csv", "plate_qc.csv", "screen_table.csv", "excluded_wells.csv", "qc_report.txt",
             "params.json"]
    ensure_not_input([out / n for n in names], [args.plate_map, *args.reads])
    wells = read_plates(args.plate_map, args.reads, unread=args.unread, unmapped=args.unmapped)
    norm = normalise_plates(wells, viability=args.viability, correction=args.correction,
                            polish_scale=args.polish_scale, robust_qc=args.robust_qc)
    st = to_screen_table(norm, viability_scale=args.viability_scale, induction_scale=args.induction_scale,
                         per_viable=args.per_viable, exclude_failed=not args.keep_failed, block_by=args.block_by)
    atomic_write_csv(out / "wells_normalised.csv", norm.table)
    atomic_write_csv(out / "plate_qc.csv", norm.qc.table)
    atomic_write_csv(out / "screen_table.csv", st.table)
    atomic_write_csv(out / "excluded_wells.csv", st.excluded)
    atomic_write_text(out / "qc_report.txt", norm.qc.summary() + "\n")
    atomic_write_text(out / "params.json", json.dumps(st.params, indent=2, default=str) + "\n")
    n_fail = int((~norm.qc.table["qc_pass"]).sum())
    print(f"{len(norm.qc.table)} plate x readout(s), {n_fail} failing QC; "
          f"{len(st.table)} screen rows in {st.table['block_id'].nunique() if len(st.table) else 0} blocks, "
          f"{len(st.excluded)} well x readout(s) excluded (see excluded_wells.csv); written to {out}")
    if n_fail:
        for _, r in norm.qc.failed.iterrows():
            print(f"  QC FAIL {r['plate']} {r['readout']}: {r['qc_reason']}")
    _report(args, norm, [args.plate_map, *args.reads], out, screen_table=st)
    return 0


def _report(args: argparse.Namespace, analysis: object, inputs: list[str], out: Path, **context: Any) -> None:
    """Record the run (unless ``--no-db``) and write report.html and report.pdf unless ``--no-report``."""
    from sensitize.cli._record import record

    tables: dict[str, pd.DataFrame] = {}
    for k, v in context.items():
        t = v if isinstance(v, pd.DataFrame) else getattr(v, "table", None)
        if isinstance(t, pd.DataFrame):
            tables[f"plates.{k}"] = t
    table = getattr(analysis, "table", None)
    if isinstance(table, pd.DataFrame):
        tables[f"plates.{type(analysis).__name__.lower()}"] = table
    record(args, f"plates.{getattr(args, 'plates_command', None) or 'run'}",
           inputs, dict(getattr(analysis, "params", {}) or {}), tables)
    if getattr(args, "no_report", False):
        return
    from sensitize.report import cli_settings, write_report_files

    paths = write_report_files(analysis, out, inputs=inputs, settings=cli_settings(args), **context)
    print(f"wrote {paths['html']} and {paths['pdf']}")


def _demo(args: argparse.Namespace) -> int:
    from sensitize.screen.simulate import DEMO_SEED, write_demo

    paths = write_demo(args.outdir, seed=DEMO_SEED if args.seed is None else args.seed)
    print(f"demo screen written: {', '.join(p.name for p in paths.values())} in {args.outdir}")
    return 0


def _rank(args: argparse.Namespace) -> int:
    from sensitize.io.plates import read_plates
    from sensitize.screen.anchored import score_anchored
    from sensitize.screen.immune import rank_combinations
    from sensitize.screen.plates import normalise_plates, to_screen_table

    out = Path(args.outdir)
    names = ["ranked.csv", "anchored.csv", "line_correlation.csv", "screen_table.csv", "params.json"]
    ensure_not_input([out / n for n in names], [args.plate_map, *args.reads])
    wells = read_plates(args.plate_map, args.reads)
    norm = normalise_plates(wells, viability=args.viability, correction=args.correction,
                            polish_scale=args.polish_scale, robust_qc=args.robust_qc)
    st = to_screen_table(norm, induction_scale="log2_fc", block_by=args.block_by)
    ranking = rank_combinations(st, viability_readout=args.viability, induction_readout=args.induction,
                                alpha=args.alpha, min_effect=args.min_effect, min_viability=args.min_viability,
                                top_doses=args.top_doses or None, variance=args.variance, source=args.plate_map)
    anch = score_anchored(st, source=args.plate_map)
    atomic_write_csv(out / "ranked.csv", ranking.table)
    atomic_write_csv(out / "anchored.csv", anch.table)
    atomic_write_csv(out / "line_correlation.csv", ranking.line_correlation)
    atomic_write_csv(out / "screen_table.csv", st.table)
    params = {"ranking": ranking.params, "anchored": anch.params, "screen": st.params}
    atomic_write_text(out / "params.json", json.dumps(params, indent=2, default=str) + "\n")
    n_fail = int((~norm.qc.table["qc_pass"]).sum())
    print(f"{len(ranking.table)} combination(s) ranked, {int(ranking.table['hit'].sum())} hit(s) "
          f"(BH q < {args.alpha}); {n_fail} plate x readout(s) failing QC excluded; written to {out}")
    _report(args, ranking, [args.plate_map, *args.reads], out, norm=norm, qc=norm.qc, screen_table=st,
            anchored=anch)
    return 0

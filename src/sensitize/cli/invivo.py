"""``sensitize invivo analyze INPUT -o OUTDIR``: a complete tumour-growth study analysis."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

from sensitize.cli._record import add_db_args
from sensitize.core.output import (
    atomic_write_bytes,
    atomic_write_csv,
    atomic_write_text,
    ensure_not_input,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``invivo`` command and its ``analyze`` sub-command."""
    p = subparsers.add_parser("invivo", help="in vivo tumour-growth studies")
    sub = p.add_subparsers(dest="invivo_command", metavar="SUBCOMMAND")
    a = sub.add_parser("analyze", help="growth, response, synergy and survival of a study")
    a.add_argument("input", help="CSV/TSV/XLSX sheet (long, wide, TumGrowth or caliper layout)")
    a.add_argument("-o", "--outdir", required=True, help="output folder")
    a.add_argument("--control", help="control arm (detected when unambiguous)")
    a.add_argument("--drug-a", dest="drug_a", help="first single-agent arm")
    a.add_argument("--drug-b", dest="drug_b", help="second single-agent arm")
    a.add_argument("--combination", help="combination arm")
    a.add_argument("--layout", default="auto", choices=["auto", "long", "wide", "tumgrowth", "days_as_rows"])
    a.add_argument("--measure", help="TumGrowth measure used as volume (default V)")
    a.add_argument("--volume-formula", default="L*W^2/2", help="caliper formula (default L*W^2/2)")
    a.add_argument("--time-start", type=float, help="treatment start day (default: first day)")
    a.add_argument("--endpoint", type=float, help="endpoint volume for time-to-endpoint (mm³)")
    a.add_argument("--tgi-day", type=float, help="day for TGI, T/C and cross-sectional tests")
    a.add_argument("--n-boot", type=int, default=1000, help="bootstrap draws (default 1000)")
    a.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    a.add_argument("--no-plots", action="store_true", help="write tables only")
    a.add_argument("--no-report", action="store_true", help="do not write report.html and report.pdf")
    add_db_args(a)
    a.set_defaults(func=_analyze)

    def _help(args: argparse.Namespace) -> int:
        p.print_help()
        return 2

    p.set_defaults(func=_help)


def _analyze(args: argparse.Namespace) -> int:
    from sensitize.invivo.study import analyze
    from sensitize.io.invivo import read_invivo

    df = read_invivo(args.input, layout=args.layout, measure=args.measure, volume_formula=args.volume_formula)
    res = analyze(df, control=args.control, drug_a=args.drug_a, drug_b=args.drug_b, combination=args.combination,
                  time_start=args.time_start, endpoint=args.endpoint, tgi_day=args.tgi_day, n_boot=args.n_boot,
                  seed=args.seed)
    out = Path(args.outdir)
    tables = res.tables()
    ensure_not_input([out / f"{k}.csv" for k in tables], [args.input])
    for name, table in tables.items():
        atomic_write_csv(out / f"{name}.csv", table)
    arms = res.arms
    notes = res.notes + [str(n) for n in df.attrs.get("notes", [])]
    summary = {
        "input": str(args.input),
        "groups": res.study.groups,
        "control": res.study.control,
        "arms": None if arms is None else {"control": arms.control, "drug_a": arms.drug_a, "drug_b": arms.drug_b,
                                           "combination": arms.combination, "drug_c": arms.drug_c},
        "time_start": res.study.time_start,
        "detection_limit": res.study.detection_limit,
        "notes": notes,
        "flags": res.study.flags.flags.to_dict("records"),
        "sd_ranef": None if res.study.growth_rates is None else res.study.growth_rates.sd_ranef,
        "sd_resid": None if res.study.growth_rates is None else res.study.growth_rates.sd_resid,
    }
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, default=str))
    if not args.no_plots:
        _plots(res, out)
    print(f"in vivo analysis of {args.input}: {len(res.study.groups)} groups, "
          f"{res.study.data['animal'].nunique()} animals -> {out}")
    for n in notes:
        print(f"  note: {n}")
    from sensitize.cli._record import record

    record(args, "invivo.study", [args.input], summary,
           {f"invivo.{k}": v for k, v in res.tables().items()})
    if not args.no_report:
        from sensitize.report import cli_settings, write_report_files

        paths = write_report_files(res, out, inputs=[args.input], settings=cli_settings(args))
        print(f"wrote {paths['html']} and {paths['pdf']}")
    return 0


def _plots(res: object, out: Path) -> None:
    import matplotlib.pyplot as plt

    from sensitize.invivo.study import InvivoAnalysis
    from sensitize.pl import invivo as pl

    assert isinstance(res, InvivoAnalysis)
    figs = {"growth_curves": pl.growth_curves(res.study), "waterfall": pl.waterfall(res.response)}
    if res.synergy is not None and len(res.synergy.table):
        figs["synergy_over_time"] = pl.synergy_over_time(res.synergy)
    if res.survival is not None and len(res.survival.km):
        figs["kaplan_meier"] = pl.kaplan_meier(res.survival, res.study.groups)
    for name, fig in figs.items():
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=120)
        plt.close(fig)
        atomic_write_bytes(out / f"{name}.png", buf.getvalue())

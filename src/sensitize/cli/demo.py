"""``sensitize demo``: run the main analyses on bundled example data."""

from __future__ import annotations

import argparse
from pathlib import Path

from sensitize.core.data import bundled


def _cmd_demo(args: argparse.Namespace) -> int:
    from sensitize.cli.main import main as cli

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    steps: list[tuple[str, list[str]]] = [
        ("screen: SynergyFinder example (Mathews Griner 2014, % viability)",
         ["screen", "score", str(bundled("examples", "mathews_screening_data.csv")),
          "-o", str(out / "screen_mathews"), "--response-kind", "viability"]),
        ("screen: O'Neil 2016 example with 4 replicates (% inhibition, seeded bootstrap)",
         ["screen", "score", str(bundled("examples", "ONEIL_screening_data.csv")),
          "-o", str(out / "screen_oneil"), "--response-kind", "inhibition"]),
        ("plates: synthetic immune-activation screen (viability + CXCL10), QC and normalisation",
         ["plates", "process", str(bundled("demo_screen", "plate_map.csv")),
          str(bundled("demo_screen", "reader_export.csv")), "-o", str(out / "immune_screen")]),
        ("plates: rank combinations for CXCL10-induction synergy with a viability window",
         ["plates", "rank", str(bundled("demo_screen", "plate_map.csv")),
          str(bundled("demo_screen", "reader_export.csv")), "-o", str(out / "immune_ranking")]),
    ]
    db = ["--db", str(out / "sensitize.duckdb")]  # the demo's runs go to its own results store
    for title, argv in steps:
        print(f"\n== {title}")
        rc = cli(argv + db)
        if rc != 0:
            return rc
    # in vivo: a simulated syngeneic study
    print("\n== invivo: simulated syngeneic study (vehicle, chemo, targeted, combination)")
    import pandas as pd

    from sensitize.invivo.simulate import simulate_study

    study = simulate_study(seed=1)
    p = out / "invivo_study.csv"
    pd.DataFrame(study).to_csv(p, index=False)
    rc = cli(["invivo", "analyze", str(p), "-o", str(out / "invivo"), *db])
    if rc != 0:
        return rc
    index = _write_index(out)
    print(f"\nDemo outputs in {out}/ -- open {index} for the reports")
    return rc


def _write_index(out: Path) -> Path:
    """A small self-contained index.html linking every report the demo wrote."""
    import html

    from sensitize.core.output import atomic_write_text

    items = []
    for rep in sorted(out.glob("*/report.html")):
        name = rep.parent.name
        pdf = rep.with_suffix(".pdf")
        link = f'<li><a href="{html.escape(name)}/report.html">{html.escape(name)}</a>'
        if pdf.exists():
            link += f' (<a href="{html.escape(name)}/report.pdf">PDF</a>)'
        items.append(link + "</li>")
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>sensitize demo</title></head>"
            "<body style='font-family:sans-serif;max-width:50em;margin:2em auto'>"
            "<h1>sensitize demo reports</h1><ul>" + "".join(items) + "</ul>"
            "<p>Every analysis folder also holds its tables (CSV/Parquet). Start the web app with "
            "<code>sensitize app</code>.</p></body></html>")
    return atomic_write_text(out / "index.html", page)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``sensitize demo``."""
    p = sub.add_parser("demo", help="run the main analyses on bundled example data")
    p.add_argument("-o", "--output", default="sensitize-demo", help="output folder (default: sensitize-demo)")
    p.set_defaults(func=_cmd_demo)

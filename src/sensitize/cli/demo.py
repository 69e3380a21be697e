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
    ]
    for title, argv in steps:
        print(f"\n== {title}")
        rc = cli(argv)
        if rc != 0:
            return rc
    # in vivo: a simulated syngeneic study
    print("\n== invivo: simulated syngeneic study (vehicle, chemo, targeted, combination)")
    import pandas as pd

    from sensitize.invivo.simulate import simulate_study

    study = simulate_study(seed=1)
    p = out / "invivo_study.csv"
    pd.DataFrame(study).to_csv(p, index=False)
    rc = cli(["invivo", "analyze", str(p), "-o", str(out / "invivo")])
    print(f"\nDemo outputs in {out}/")
    return rc


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``sensitize demo``."""
    p = sub.add_parser("demo", help="run the main analyses on bundled example data")
    p.add_argument("-o", "--output", default="sensitize-demo", help="output folder (default: sensitize-demo)")
    p.set_defaults(func=_cmd_demo)

"""``sensitize cohort``: biomarkers and signatures against response and survival.

Sub-commands: ``analyze`` (tables + plots), ``signatures`` (list the built-in
signatures), ``simulate`` (write a seeded synthetic cohort with known truth).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sensitize.cli._record import add_db_args
from sensitize.core.errors import InputError
from sensitize.core.output import (
    atomic_write_bytes,
    atomic_write_csv,
    atomic_write_text,
    ensure_not_input,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``cohort`` command and its sub-commands."""
    p = subparsers.add_parser("cohort", help="patient cohorts: signatures, response and survival biomarkers",
                              description=__doc__)
    sub = p.add_subparsers(dest="cohort_command", metavar="SUBCOMMAND")
    a = sub.add_parser(
        "analyze",
        help="analyse biomarkers/signatures against response and survival",
        description="Join expression (genes x samples) and a clinical table, score signatures, and "
        "test every biomarker against response (AUC, DeLong CI, Mann-Whitney, logistic) and "
        "survival (Cox per unit/SD, Kaplan-Meier, log-rank, maximally selected cut-point with "
        "a corrected p-value).",
    )
    a.add_argument("--expression", "-e", required=True, help="expression matrix (CSV/TSV[.gz], Parquet, .h5ad)")
    a.add_argument("--clinical", "-c", help="clinical table (CSV/TSV, Parquet, Excel); optional for .h5ad")
    a.add_argument("--biomarker", "-b", action="append", default=[],
                   help="gene symbol or numeric clinical column (repeatable)")
    a.add_argument("--signature", "-s", action="append", default=[],
                   help="built-in signature (repeatable; 'all' for every one; see `sensitize cohort signatures`)")
    a.add_argument("--gene-sets", help="GMT file of user gene sets to score")
    a.add_argument("--gene-set-method", default="mean", choices=["mean", "zscore", "singscore", "ssgsea"])
    a.add_argument("-o", "--outdir", required=True, help="output folder")
    a.add_argument("--name", help="cohort name (default: from the file)")
    a.add_argument("--sample-col", help="clinical column with the sample IDs (default: detected)")
    a.add_argument("--gene-col", help="expression column with gene IDs (default: detected)")
    for ep in ("os", "pfs"):
        a.add_argument(f"--{ep}-time", help=f"{ep.upper()} time column (default: detected)")
        a.add_argument(f"--{ep}-event", help=f"{ep.upper()} event column (default: detected)")
    a.add_argument("--endpoint", nargs=3, action="append", default=[], metavar=("NAME", "TIME", "EVENT"),
                   help="another endpoint by its time and event columns (repeatable)")
    a.add_argument("--event-coding", action="append", default=[], metavar="ENDPOINT=event|censor",
                   help="'censor' if the event column is a censoring flag (1 = censored)")
    a.add_argument("--time-unit", help="unit of all survival times (days, weeks, months, years)")
    a.add_argument("--no-detect-endpoints", action="store_true",
                   help="use only the endpoints named on the command line")
    a.add_argument("--response-col", help="response column (default: detected)")
    a.add_argument("--response-rule", default="orr", choices=["orr", "cb", "label"],
                   help="responders: orr = CR/PR vs SD/PD; cb = CR/PR/SD vs PD; label = binary labels only")
    a.add_argument("--responder-label", action="append", default=[], help="explicit responder label(s)")
    a.add_argument("--nonresponder-label", action="append", default=[], help="explicit non-responder label(s)")
    a.add_argument("--strict-response", action="store_true",
                   help="error (instead of flagging) on response labels outside the rule")
    a.add_argument("--duplicates", default="mean", choices=["mean", "max_mean", "first", "error"],
                   help="policy for duplicated gene symbols")
    a.add_argument("--scale", default="auto", choices=["auto", "as-is", "log2p1"],
                   help="expression scale handling (auto: counts/linear -> log2(x+1), log2(x+0.001) -> log2(x+1))")
    a.add_argument("--unit", help="input expression unit, e.g. TPM, FPKM, counts, log2 microarray")
    a.add_argument("--strict-samples", action="store_true", help="error when sample IDs do not match one-to-one")
    a.add_argument("--covariate", action="append", default=[], help="clinical covariate to adjust for (repeatable)")
    a.add_argument("--minprop", type=float, default=0.1)
    a.add_argument("--maxprop", type=float, default=0.9)
    a.add_argument("--permutations", type=int, default=1000, help="permutations for the cut-point p (0 = none)")
    a.add_argument("--seed", type=int, default=0, help="seed of the permutation p-value")
    a.add_argument("--auc-times", type=float, nargs="+", help="horizons of the time-dependent AUC")
    a.add_argument("--no-plots", action="store_true")
    a.add_argument("--no-report", action="store_true", help="do not write report.html and report.pdf")
    add_db_args(a)
    a.set_defaults(func=_analyze)

    s = sub.add_parser("signatures", help="list the built-in signatures")
    s.add_argument("-o", "--output", help="write the table as CSV")
    s.set_defaults(func=_signatures)

    m = sub.add_parser("simulate", help="write a seeded synthetic cohort with known truth")
    m.add_argument("-o", "--outdir", required=True)
    m.add_argument("--n-samples", type=int, default=120)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--survival-model", default="linear", choices=["linear", "threshold"])
    m.set_defaults(func=_simulate)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer | np.floating):
        return o.item()
    if isinstance(o, np.ndarray | pd.Index):
        return list(o)
    return str(o)


def _analyze(args: argparse.Namespace) -> int:
    from sensitize.cohort.analyze import analyze_cohort
    from sensitize.cohort.signatures import BUILTIN, read_gmt
    from sensitize.io.cohort import read_cohort

    outdir = Path(args.outdir)
    inputs = [args.expression] + ([args.clinical] if args.clinical else [])
    ensure_not_input([outdir / "survival.csv", outdir / "response.csv"], inputs)
    endpoints: dict[str, tuple[str, str]] = {}
    for ep in ("os", "pfs"):
        t, e = getattr(args, f"{ep}_time"), getattr(args, f"{ep}_event")
        if bool(t) != bool(e):
            raise InputError(f"give both --{ep}-time and --{ep}-event")
        if t:
            endpoints[ep] = (t, e)
    for name, t, e in args.endpoint:
        endpoints[name.lower()] = (t, e)
    coding: dict[str, str] = {}
    for item in args.event_coding:
        if "=" not in item:
            raise InputError(f"--event-coding expects ENDPOINT=event|censor, got {item!r}")
        k, v = item.split("=", 1)
        coding[k.strip().lower()] = v.strip().lower()
    cohort = read_cohort(
        args.expression, args.clinical, gene_col=args.gene_col, name=args.name,
        sample_col=args.sample_col, endpoints=endpoints, event_coding=coding,
        time_unit=args.time_unit, detect=not args.no_detect_endpoints,
        response_col=args.response_col, response_rule=args.response_rule,
        responder_labels=args.responder_label or None,
        nonresponder_labels=args.nonresponder_label or None,
        on_unknown_response="error" if args.strict_response else "flag",
        duplicates=args.duplicates, scale=args.scale, unit=args.unit,
        strict_samples=args.strict_samples,
    )
    sigs: list[str] = []
    for s in args.signature:
        sigs.extend(list(BUILTIN) if s.lower() == "all" else [s])
    gene_sets = read_gmt(args.gene_sets) if args.gene_sets else None
    res = analyze_cohort(
        cohort, args.biomarker, sigs, gene_sets, gene_set_method=args.gene_set_method,
        covariates=args.covariate, minprop=args.minprop, maxprop=args.maxprop,
        n_perm=args.permutations, seed=args.seed, auc_times=args.auc_times,
    )
    outdir.mkdir(parents=True, exist_ok=True)
    atomic_write_csv(outdir / "survival.csv", res.table)
    resp_cols = ["biomarker", "kind", "n_responders", "n_nonresponders", "AUC", "AUC_lower95",
                 "AUC_upper95", "p"]
    resp = res.response
    if len(resp):
        resp = resp[resp_cols + [c for c in resp.columns if c not in resp_cols]]
    else:
        resp = pd.DataFrame(columns=resp_cols)
    atomic_write_csv(outdir / "response.csv", resp)
    if res.scores is not None:
        atomic_write_csv(outdir / "signature_scores.csv", res.scores.table.reset_index())
        atomic_write_csv(outdir / "signature_coverage.csv", res.scores.coverage)
    scans = [ms.table.assign(biomarker=b, endpoint=ep) for (b, ep), ms in res.maxstat.items()]
    if scans:
        atomic_write_csv(outdir / "cutpoint_scan.csv", pd.concat(scans, ignore_index=True))
    kms = [km.summary.assign(biomarker=b, endpoint=ep, split=sp, logrank_p=km.logrank_p)
           for (b, ep, sp), km in res.km.items()]
    if kms:
        atomic_write_csv(outdir / "km_groups.csv", pd.concat(kms, ignore_index=True))
    tauc = [r.table.assign(biomarker=b, endpoint=ep) for (b, ep), r in res.time_auc.items()]
    if tauc:
        atomic_write_csv(outdir / "time_auc.csv", pd.concat(tauc, ignore_index=True))
    atomic_write_text(outdir / "params.json", json.dumps(res.params, indent=1, default=_json_default))
    n_plots = 0 if args.no_plots else _plots(res, cohort, outdir)
    _print_summary(cohort, res, outdir, n_plots)
    from sensitize.cli._record import record

    record(args, "cohort.biomarkers", inputs, res.params, {"cohort.association": res.table})
    if not args.no_report:
        from sensitize.report import cli_settings, write_report_files

        paths = write_report_files(res, outdir, inputs=inputs, settings=cli_settings(args), cohort=cohort)
        print(f"wrote {paths['html']} and {paths['pdf']}")
    return 0


def _plots(res: Any, cohort: Any, outdir: Path) -> int:
    import io

    import matplotlib.pyplot as plt

    from sensitize.pl.cohort import (
        plot_forest,
        plot_km,
        plot_maxstat,
        plot_roc,
        plot_scores_by_response,
        plot_time_auc,
    )

    pdir = outdir / "plots"
    n = 0

    def save(fig: Any, name: str) -> None:
        nonlocal n
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        plt.close(fig)
        atomic_write_bytes(pdir / name, buf.getvalue())
        n += 1

    for (b, ep, split), km in res.km.items():
        unit = cohort.endpoints[ep].unit
        if split == "maxstat":
            ms = res.maxstat[(b, ep)]
            lab = (f"cut {ms.cutpoint:.3g}: corrected p = {ms.p_lau92:.2g} (Lau92)"
                   + (f", perm p = {ms.p_perm:.2g}" if np.isfinite(ms.p_perm) else ""))
            save(plot_km(km, title=f"{b} ({ep.upper()}), maximally selected cut", time_unit=unit,
                         p_label=lab), f"km_{_safe(b)}_{ep}_cutpoint.png")
        else:
            save(plot_km(km, title=f"{b} ({ep.upper()}), {split} split", time_unit=unit),
                 f"km_{_safe(b)}_{ep}_{split}.png")
    for (b, ep), ms in res.maxstat.items():
        if len(ms.table):
            save(plot_maxstat(ms, b, cohort.unit), f"cutpoint_scan_{_safe(b)}_{ep}.png")
    for ep in sorted({ep for _, ep in res.maxstat}):
        sub = res.table[res.table["endpoint"] == ep]
        if sub["HR_per_SD"].notna().any():
            save(plot_forest(sub, title=f"{cohort.name}: {ep.upper()}"), f"forest_{ep}.png")
        ta = {b: r for (b, e), r in res.time_auc.items() if e == ep}
        if ta:
            save(plot_time_auc(ta, cohort.endpoints[ep].unit), f"time_auc_{ep}.png")
    rr = res.response_result
    if rr is not None and rr.roc:
        save(plot_roc(rr, title=f"{cohort.name}: responders vs non-responders"), "roc.png")
        save(plot_scores_by_response(rr, unit=cohort.unit), "scores_by_response.png")
    return n


def _print_summary(cohort: Any, res: Any, outdir: Path, n_plots: int) -> None:
    rep = cohort.report
    s = rep["samples"]
    print(f"cohort {cohort.name}: {s['n_matched']} samples analysed "
          f"(expression {s['n_expression']}, clinical {s['n_clinical']}); sample IDs from "
          f"{rep['sample_col']!r}")
    if s["only_in_expression"]:
        print(f"  WARNING {len(s['only_in_expression'])} expression samples without clinical data "
              f"(not analysed): {', '.join(s['only_in_expression'][:10])}")
    if s["only_in_clinical"]:
        print(f"  WARNING {len(s['only_in_clinical'])} clinical samples without expression "
              f"(not analysed): {', '.join(s['only_in_clinical'][:10])}")
    print(f"  expression: {rep['scale']['note']}; analysed as {cohort.unit}")
    dup = rep["duplicated_genes"]
    if dup["n"]:
        print(f"  WARNING {dup['n']} duplicated gene symbols resolved by '{dup['policy']}'")
    for ep, d in rep.get("endpoints", {}).items():
        print(f"  endpoint {ep}: time {d['time_col']!r} ({d['unit']}), event {d['event_col']!r} "
              f"(coding: {d['event_coding']}); n={d['n']}, events={d['events']}, "
              f"missing={d['n_missing']}")
        for note in d["notes"]:
            print(f"    note: {note}")
    if not rep.get("endpoints"):
        print("  no survival endpoint found (name them with --os-time/--os-event or --endpoint)")
    r = rep.get("response", {})
    if r.get("column"):
        print(f"  response: {r['why']}; rule {r['rule']!r}: {r['n_responders']} R, "
              f"{r['n_nonresponders']} NR, {r['n_missing']} not evaluable")
        if r["labels_outside_rule"]:
            print(f"  WARNING labels outside the rule (excluded): "
                  f"{', '.join(f'{k} (n={len(v)})' for k, v in r['labels_outside_rule'].items())}")
    else:
        print("  no response column found (name it with --response-col)")
    if res.scores is not None:
        for _, row in res.scores.coverage.iterrows():
            if row["flag"]:
                print(f"  WARNING signature {row['signature']}: {row['flag']} "
                      f"({row['n_found']}/{row['n_genes']} genes; missing {row['missing']})")
    if len(res.response):
        print("response (AUC, DeLong 95% CI, Mann-Whitney p):")
        for _, row in res.response.iterrows():
            print(f"  {row['biomarker']}: AUC {row['AUC']:.3f} ({row['AUC_lower95']:.3f}-"
                  f"{row['AUC_upper95']:.3f}), p = {row['p']:.3g}, "
                  f"{row['n_responders']} R / {row['n_nonresponders']} NR")
    if len(res.table):
        print("survival (Cox per SD; cut-point p corrected for the search, Lausen-Schumacher 1992):")
        for _, row in res.table.iterrows():
            if pd.isna(row["HR"]):
                print(f"  {row['biomarker']} {row['endpoint']}: not analysed ({row['warnings']})")
                continue
            print(f"  {row['biomarker']} {row['endpoint']}: HR/SD {row['HR_per_SD']:.2f} "
                  f"({row['HR_per_SD_lower95']:.2f}-{row['HR_per_SD_upper95']:.2f}), Wald p = "
                  f"{row['wald_p']:.3g}; cut {row['cutpoint']:.3g}: corrected p = "
                  f"{row['p_corrected']:.3g}, permutation p = {row['p_perm']:.3g}")
    print(f"wrote {outdir}/survival.csv, response.csv and {n_plots} plots")


def _signatures(args: argparse.Namespace) -> int:
    from sensitize.cohort.signatures import list_signatures

    tab = list_signatures()
    if args.output:
        atomic_write_csv(args.output, tab)
    for _, r in tab.iterrows():
        print(f"{r['name']:<18} {r['method']:<12} {r['n_genes']:>3} genes  {r['citation']}")
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from sensitize.cohort.simulate import simulate_cohort

    sim = simulate_cohort(args.n_samples, seed=args.seed, survival_model=args.survival_model)
    out = Path(args.outdir)
    atomic_write_csv(out / "expression.csv", sim.expression.reset_index())
    atomic_write_csv(out / "clinical.csv", sim.clinical)
    truth = {k: v for k, v in sim.truth.items() if k != "latent"}
    atomic_write_text(out / "truth.json", json.dumps(truth, indent=1, default=_json_default))
    atomic_write_csv(out / "latent.csv", sim.truth["latent"].rename_axis("sample").reset_index())
    print(f"wrote {out}/expression.csv ({sim.expression.shape[0]} genes x "
          f"{sim.expression.shape[1]} samples, log2(TPM+1)), clinical.csv, truth.json")
    return 0

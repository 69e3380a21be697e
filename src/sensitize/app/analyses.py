"""The analyses the web app runs, one runner per kind of upload.

Each runner reads the uploaded file(s) with the project's readers, runs the same analysis
as the command line (:mod:`sensitize.cli.screen`, ``invivo``, ``cohort``), writes every
result table as CSV into the job folder, builds the report (when
:mod:`sensitize.report` is available) and optionally records the run in the DuckDB
results store.  Progress is reported through :meth:`Job.set_stage`.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sensitize.app.jobs import Job, MappingField, MappingRequest, NeedsMapping, Outcome, Runner
from sensitize.app.uploads import file_columns
from sensitize.core.errors import InputError
from sensitize.core.output import atomic_write_csv

log = logging.getLogger("sensitize.app")

#: Canonical screen columns offered on the mapping form: (name, label, required, hints).
SCREEN_FIELDS: list[tuple[str, str, bool, tuple[str, ...]]] = [
    ("block_id", "Block / combination id (empty: the whole file is one block)", False,
     ("block", "pair", "combination", "combo", "id")),
    ("drug1", "Drug 1 name", True, ("drug1", "druga", "drug_a", "row_drug", "drugrow", "agent1", "agenta", "compound1", "compounda", "drug")),
    ("drug2", "Drug 2 name", True, ("drug2", "drugb", "drug_b", "col_drug", "drugcol", "agent2", "agentb", "compound2", "compoundb")),
    ("conc1", "Drug 1 concentration", True, ("conc1", "dose1", "conca", "dosea", "concr", "conc_row", "conc")),
    ("conc2", "Drug 2 concentration", True, ("conc2", "dose2", "concb", "doseb", "concc", "conc_col")),
    ("response", "Response", True, ("response", "viability", "inhibition", "value", "signal", "effect", "growth")),
    ("conc_unit", "Concentration unit column (or choose a unit below)", False, ("unit",)),
    ("cell_line", "Cell line", False, ("cell", "cellline", "cell_line", "sample", "model")),
    ("replicate", "Replicate", False, ("rep", "replicate")),
]

#: Canonical in vivo columns offered on the mapping form.
INVIVO_FIELDS: list[tuple[str, str, bool, tuple[str, ...]]] = [
    ("animal", "Animal / mouse id", True, ("animal", "mouse", "mice", "subject", "id")),
    ("group", "Group / treatment arm", True, ("group", "treat", "arm", "cohort", "drug")),
    ("day", "Day (time since start)", True, ("day", "time", "date", "tp")),
    ("volume", "Tumour volume (mm³)", True, ("vol", "size", "tumou", "tumo", "tv", "bli")),
]

CONC_UNITS = ("pM", "nM", "uM", "mM", "M")
RESPONSE_KINDS = ("viability", "inhibition", "induction")


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", s.lower())


def guess_columns(columns: list[str], spec: list[tuple[str, str, bool, tuple[str, ...]]]) -> list[MappingField]:
    """Mapping fields with a best guess for each (each file column used at most once)."""
    used: set[str] = set()
    out: list[MappingField] = []
    for name, label, required, hints in spec:
        guess = None
        for h in hints:
            hn = _norm(h)
            cand = [c for c in columns if c not in used and (_norm(c) == hn or (len(hn) > 2 and hn in _norm(c)))]
            if cand:
                guess = cand[0]
                break
        if guess is not None:
            used.add(guess)
        out.append(MappingField(name=name, label=label, required=required, guess=guess))
    return out


def _is_column_problem(exc: InputError) -> bool:
    r = exc.reason.lower()
    return ("cannot tell the format" in r or "missing required column" in r
            or re.search(r"\bno (animal|group|day|volume|time) column found", r) is not None
            or "names column(s)" in r)


def _mapping_request(job: Job, exc: InputError, spec: list[tuple[str, str, bool, tuple[str, ...]]]) -> NeedsMapping:
    path = job.inputs["file"]
    try:
        cols = file_columns(path)
    except Exception as e:  # the file cannot even be tabulated: report the original error
        log.info("job %s: cannot list columns: %s", job.id, e)
        raise exc from None
    if not cols:
        raise exc
    fields = guess_columns(cols, spec)
    prev = job.options.get("mapping") or {}
    for f in fields:
        if prev.get(f.name) in cols:
            f.guess = prev[f.name]
    return NeedsMapping(MappingRequest(reason=str(exc), columns=cols, fields=fields))


def _write_tables(job: Job, tables: Mapping[str, pd.DataFrame]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for name, t in tables.items():
        out[name] = atomic_write_csv(job.dir / f"{name}.csv", t)
    return out


def _build_report(job: Job, analysis: Any, outcome: Outcome, title: str) -> None:
    """Build the HTML report with :mod:`sensitize.report`; a note when unavailable."""
    if not job.options.get("report", True):
        outcome.report_note = "report not built (skipped on the upload form)"
        return
    job.set_stage("writing report", 0.9)
    try:
        from sensitize.report import build_report  # type: ignore[attr-defined]
    except ImportError:
        outcome.report_note = "report unavailable: the report module (sensitize.report) is not installed"
        return
    try:
        settings = {k: v for k, v in job.options.items() if k not in ("mapping", "report") and v not in (None, "")}
        if job.options.get("mapping"):
            settings["column mapping"] = {k: v for k, v in job.options["mapping"].items() if v}
        rep = build_report(analysis, title=title, inputs=tuple(str(p) for p in job.inputs.values()),
                           settings=settings)
        outcome.files["report.html"] = rep.write_html(job.dir / "report.html") or job.dir / "report.html"
        outcome.report = rep
    except Exception as exc:
        log.exception("job %s: report failed", job.id)
        outcome.report_note = f"report unavailable: it could not be built ({type(exc).__name__}: {str(exc)[:200]})"


def _record(job: Job, db: Path | None, kind: str, params: Mapping[str, Any],
            tables: Mapping[str, pd.DataFrame], outcome: Outcome) -> None:
    if db is None:
        return
    job.set_stage("recording the run in the results database", 0.95)
    try:
        from sensitize.store import ResultsStore

        started = dt.datetime.fromtimestamp(job.created, tz=dt.UTC)
        outcome.run_id = ResultsStore(db).record_run(
            kind, list(job.inputs.values()), params, dict(tables),
            label=f"web app: {', '.join(job.names.values())}", started_at=started)
        outcome.notes.append(f"recorded as run {outcome.run_id} in {db}")
    except Exception as exc:
        log.exception("job %s: recording in %s failed", job.id, db)
        outcome.notes.append(f"not recorded in the results database: {type(exc).__name__}: {str(exc)[:200]}")


# ---------------------------------------------------------------------------------------
# screens
# ---------------------------------------------------------------------------------------


def read_screen_upload(job: Job) -> pd.DataFrame:
    """Read the uploaded screen, with the user's column mapping when there is one."""
    from sensitize.io.screen import read_screen

    path = job.inputs["file"]
    rk = job.options.get("response_kind") or None
    mapping = {k: v for k, v in (job.options.get("mapping") or {}).items() if v}
    try:
        if mapping:
            constants: dict[str, Any] = {}
            unit = job.options.get("conc_unit")
            if unit and "conc_unit" not in mapping:
                constants["conc_unit"] = unit
            return read_screen(path, format="table", mapping=mapping, constants=constants or None,
                               response_kind=rk)
        return read_screen(path, format="auto", response_kind=rk)
    except InputError as exc:
        if _is_column_problem(exc):
            raise _mapping_request(job, exc, SCREEN_FIELDS) from None
        raise


def run_screen(job: Job, db: Path | None = None) -> Outcome:
    """Score every block of the uploaded screen (ZIP, HSA, Bliss, Loewe, sensitivity)."""
    from sensitize.cli.screen import write_screen_result
    from sensitize.screen.engine import score_screen

    job.set_stage("reading the file", 0.05)
    df = read_screen_upload(job)
    n_blocks = int(df.groupby(["block_id", "readout"], sort=False).ngroups)
    job.set_stage(f"validating {len(df)} rows", 0.15)
    job.set_stage(f"fitting {n_blocks} block(s): dose-response curves and synergy models", 0.2)
    res = score_screen(df, source=job.names["file"], n_boot=int(job.options.get("n_boot", 100)),
                       seed=int(job.options.get("seed", 123)))
    res.params["input"] = job.names["file"]
    res.params["format"] = df.attrs.get("format")
    job.set_stage("writing tables", 0.8)
    paths = write_screen_result(res, job.dir)
    notes = [str(n) for n in df.attrs.get("notes", [])] + [str(n) for n in res.params.get("notes", [])]
    summary = [f"{len(df)} rows read from {job.names['file']} (format: {df.attrs.get('format', '?')})",
               f"{len(res.table)} block(s) scored, {len(res.rejected)} rejected"]
    nflag = int(res.table["flag"].sum()) if "flag" in res.table.columns else 0
    if nflag:
        summary.append(f"{nflag} block(s) flagged (see the 'reason' column)")
    out = Outcome(analysis=res, summary=summary, notes=notes, tables=dict(paths))
    out.files["params.json"] = job.dir / "params.json"
    _build_report(job, res, out, f"Combination screen: {job.names['file']}")
    _record(job, db, "screen.synergy", res.params,
            {"screen.blocks": res.table, "screen.cells": res.cells, "screen.curves": res.curves}, out)
    return out


# ---------------------------------------------------------------------------------------
# in vivo
# ---------------------------------------------------------------------------------------


def read_invivo_upload(job: Job) -> pd.DataFrame:
    """Read the uploaded tumour-growth sheet (mapped columns force the long layout)."""
    from sensitize.io.invivo import read_invivo

    path = job.inputs["file"]
    mapping = {k: v for k, v in (job.options.get("mapping") or {}).items() if v}
    try:
        if mapping:
            return read_invivo(path, layout="long", animal=mapping.get("animal"), group=mapping.get("group"),
                               day=mapping.get("day"), volume=mapping.get("volume"))
        return read_invivo(path)
    except InputError as exc:
        if _is_column_problem(exc):
            raise _mapping_request(job, exc, INVIVO_FIELDS) from None
        raise


def _opt_float(v: Any) -> float | None:
    if v in (None, ""):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise InputError(f"{v!r} is not a number") from None
    if not np.isfinite(x):
        raise InputError(f"{v!r} is not a finite number")
    return x


def run_invivo(job: Job, db: Path | None = None) -> Outcome:
    """Growth, response, synergy and survival of an uploaded tumour-growth study."""
    from sensitize.invivo.study import analyze

    job.set_stage("reading the file", 0.05)
    df = read_invivo_upload(job)
    df.attrs["source"] = job.names["file"]
    o = job.options
    job.set_stage(f"fitting growth models for {df['group'].nunique()} groups, "
                  f"{df['animal'].nunique()} animals", 0.2)
    res = analyze(df, control=o.get("control") or None, endpoint=_opt_float(o.get("endpoint")),
                  tgi_day=_opt_float(o.get("tgi_day")), n_boot=int(o.get("n_boot", 1000)),
                  seed=int(o.get("seed", 0)))
    job.set_stage("writing tables", 0.8)
    tables = res.tables()
    paths = _write_tables(job, tables)
    notes = list(res.notes) + [str(n) for n in df.attrs.get("notes", [])]
    summary = [f"{df['animal'].nunique()} animals in {len(res.study.groups)} groups "
               f"({', '.join(map(str, res.study.groups))}); control: {res.study.control}"]
    if res.arms is not None:
        a = res.arms
        summary.append(f"combination design: {a.drug_a} + {a.drug_b} -> {a.combination} (control {a.control})")
    excl = df.attrs.get("excluded") or []
    if excl:
        summary.append(f"{len(excl)} input cell(s) not used as measurements (see excluded_input.csv)")
    out = Outcome(analysis=res, summary=summary, notes=notes, tables=paths)
    _build_report(job, res, out, f"In vivo study: {job.names['file']}")
    params = {"control": res.study.control, "time_start": res.study.time_start,
              "options": {k: v for k, v in o.items() if k != "mapping"}}
    _record(job, db, "invivo.study", params, {f"invivo.{k}": v for k, v in tables.items() if len(v.columns)}, out)
    return out


# ---------------------------------------------------------------------------------------
# cohorts
# ---------------------------------------------------------------------------------------


def _split(v: Any) -> list[str]:
    if not v:
        return []
    if isinstance(v, list | tuple):
        return [str(x).strip() for x in v if str(x).strip()]
    return [x.strip() for x in re.split(r"[,;\s]+", str(v)) if x.strip()]


def run_cohort(job: Job, db: Path | None = None) -> Outcome:
    """Biomarkers and signatures against response and survival (expression + clinical)."""
    from sensitize.cohort.analyze import analyze_cohort
    from sensitize.cohort.signatures import BUILTIN
    from sensitize.io.cohort import read_cohort

    o = job.options
    job.set_stage("reading expression and clinical tables", 0.05)
    endpoints: dict[str, tuple[str, str]] = {}
    if o.get("os_time") or o.get("os_event"):
        if not (o.get("os_time") and o.get("os_event")):
            raise InputError("give both the OS time and the OS event column")
        endpoints["os"] = (o["os_time"], o["os_event"])
    cohort = read_cohort(job.inputs["expression"], job.inputs["clinical"],
                         name=o.get("name") or Path(job.names["expression"]).stem,
                         sample_col=o.get("sample_col") or None, endpoints=endpoints or None,
                         response_col=o.get("response_col") or None)
    sigs: list[str] = []
    for s in _split(o.get("signatures")):
        sigs.extend(list(BUILTIN) if s.lower() == "all" else [s])
    biomarkers = _split(o.get("biomarkers"))
    job.set_stage(f"testing {len(biomarkers) + len(sigs)} biomarker(s)/signature(s) on "
                  f"{cohort.expression.shape[1]} samples", 0.2)
    res = analyze_cohort(cohort, biomarkers, sigs, n_perm=int(o.get("permutations", 1000)),
                         seed=int(o.get("seed", 0)))
    job.set_stage("writing tables", 0.8)
    tables: dict[str, pd.DataFrame] = {"survival": res.table, "response": res.response}
    if res.scores is not None:
        tables["signature_scores"] = res.scores.table.reset_index()
        tables["signature_coverage"] = res.scores.coverage
    kms = [km.summary.assign(biomarker=b, endpoint=ep, split=sp, logrank_p=km.logrank_p)
           for (b, ep, sp), km in res.km.items()]
    if kms:
        tables["km_groups"] = pd.concat(kms, ignore_index=True)
    paths = _write_tables(job, tables)
    rep = cohort.report
    s = rep["samples"]
    summary = [f"cohort {cohort.name}: {s['n_matched']} samples analysed (expression {s['n_expression']}, "
               f"clinical {s['n_clinical']})",
               f"endpoints: {', '.join(rep.get('endpoints', {})) or 'none found'}; "
               f"response column: {rep.get('response', {}).get('column') or 'none found'}"]
    notes = []
    if s["only_in_expression"]:
        notes.append(f"{len(s['only_in_expression'])} expression samples without clinical data (not analysed)")
    if s["only_in_clinical"]:
        notes.append(f"{len(s['only_in_clinical'])} clinical samples without expression (not analysed)")
    out = Outcome(analysis=res, summary=summary, notes=notes, tables=paths)
    _build_report(job, res, out, f"Cohort: {cohort.name}")
    _record(job, db, "cohort.analysis", res.params,
            {f"cohort.{k}": v for k, v in tables.items() if len(v.columns)}, out)
    return out


def make_runners(db: Path | None = None) -> dict[str, Runner]:
    """The runner of each kind, recording runs in ``db`` when given."""
    return {
        "screen": lambda job: run_screen(job, db),
        "invivo": lambda job: run_invivo(job, db),
        "cohort": lambda job: run_cohort(job, db),
    }

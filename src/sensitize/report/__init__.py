"""Self-contained HTML and PDF reports of every sensitize analysis.

>>> from sensitize.report import build_report
>>> rep = build_report(result, inputs=["screen.csv"], settings={"command": "screen score"})
>>> rep.write_html("report.html"); rep.write_pdf("report.pdf")

:func:`build_report` accepts a scored screen (:class:`~sensitize.screen.engine.ScreenResult`),
an immune-screen ranking from plates (:class:`~sensitize.screen.immune.RankingResult`, or
:class:`~sensitize.screen.plates.NormalisedPlates` for a QC-only plate report), an in vivo
study (:class:`~sensitize.invivo.study.InvivoAnalysis`) or a cohort analysis
(:class:`~sensitize.cohort.analyze.CohortAnalysis`).  See ``docs/reports.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sensitize.core.output import ensure_not_input
from sensitize.report.model import (
    InputFile,
    Report,
    ReportFigure,
    ReportTable,
    Section,
    format_value,
)
from sensitize.report.provenance import describe_inputs, flatten_settings, software_versions

KINDS = ("screen", "plates", "invivo", "cohort")

#: context keys that are report options (not analysis objects), recorded under ``report.``
OPTION_KEYS = ("top", "n_plots", "rank_by", "interactive", "cell_line")


def analysis_kind(analysis: object) -> str:
    """``screen``, ``plates``, ``invivo`` or ``cohort``; :class:`TypeError` for anything else."""
    from sensitize.cohort.analyze import CohortAnalysis
    from sensitize.invivo.study import InvivoAnalysis
    from sensitize.screen.engine import ScreenResult
    from sensitize.screen.immune import RankingResult
    from sensitize.screen.plates import NormalisedPlates

    if isinstance(analysis, ScreenResult):
        return "screen"
    if isinstance(analysis, RankingResult | NormalisedPlates):
        return "plates"
    if isinstance(analysis, InvivoAnalysis):
        return "invivo"
    if isinstance(analysis, CohortAnalysis):
        return "cohort"
    raise TypeError(
        f"build_report() cannot report on a {type(analysis).__module__}.{type(analysis).__qualname__}; "
        "pass a ScreenResult (sensitize.screen.engine), RankingResult (sensitize.screen.immune), "
        "NormalisedPlates (sensitize.screen.plates), InvivoAnalysis (sensitize.invivo.study) or "
        "CohortAnalysis (sensitize.cohort.analyze)"
    )


_DEFAULT_TITLES = {
    "screen": "Drug-combination screen report",
    "plates": "Plate screen report",
    "invivo": "In vivo study report",
    "cohort": "Cohort biomarker report",
}


def build_report(analysis: object, *, title: str | None = None, inputs: Sequence[str | Path] = (),
                 settings: Mapping[str, Any] | None = None, **context: Any) -> Report:
    """Build the report of an analysis.

    Parameters
    ----------
    analysis
        A ``ScreenResult``, ``RankingResult`` (or ``NormalisedPlates``), ``InvivoAnalysis``
        or ``CohortAnalysis``.
    title
        Report title (default: from the kind of analysis and its source).
    inputs
        Input files; their sizes and SHA-256 checksums go in the header.
    settings
        Settings of the run (e.g. the command-line options), shown with the analysis
        parameters (``analysis.params``) in the header.
    **context
        Extra objects and options:

        * ``qc`` (:class:`~sensitize.screen.qc.QCResult`), ``norm``
          (:class:`~sensitize.screen.plates.NormalisedPlates`), ``screen_table``
          (:class:`~sensitize.screen.plates.ScreenTable`), ``anchored``
          (:class:`~sensitize.screen.anchored.AnchoredResult`), ``scores`` (a
          ``ScreenResult``) from the plates pipeline;
        * ``cohort`` (:class:`~sensitize.cohort.data.Cohort`) for the cohort report;
        * ``top`` (rows per ranked table, default 25), ``n_plots`` (blocks / biomarkers
          plotted, default 3), ``rank_by`` (screen score column, default ``ZIP_synergy``),
          ``interactive`` (add plotly figures with plotly.js inlined; default False).

    Returns
    -------
    Report
        Write it with :meth:`Report.write_html` and :meth:`Report.write_pdf`.

    Raises
    ------
    TypeError
        If ``analysis`` is none of the supported result types.
    """
    kind = analysis_kind(analysis)
    if kind == "screen":
        from sensitize.report.screen import screen_sections

        summary, sections = screen_sections(analysis, context)  # type: ignore[arg-type]
        params: Mapping[str, Any] = getattr(analysis, "params", {}) or {}
        source = params.get("source") or params.get("input")
    elif kind == "plates":
        from sensitize.report.plates import plates_params, plates_sections

        summary, sections = plates_sections(analysis, context)
        params = plates_params(analysis, context)
        source = context.get("source")
    elif kind == "invivo":
        from sensitize.report.invivo import invivo_params, invivo_sections

        summary, sections = invivo_sections(analysis, context)  # type: ignore[arg-type]
        params = invivo_params(analysis)  # type: ignore[arg-type]
        source = params.get("source")
    else:
        from sensitize.report.cohort import cohort_sections

        summary, sections = cohort_sections(analysis, context)  # type: ignore[arg-type]
        params = getattr(analysis, "params", {}) or {}
        source = params.get("cohort")
    if title is None:
        named = source and not str(source).startswith("<")
        title = _DEFAULT_TITLES[kind] + (f": {Path(str(source)).name}" if named else "")
    flat = flatten_settings(settings, "run.")
    flat.update(flatten_settings(params, "analysis.", skip=("detection",)))
    opts = {k: context[k] for k in OPTION_KEYS if context.get(k) is not None}
    flat.update(flatten_settings(opts, "report."))
    return Report(
        title=title,
        kind=kind,
        sections=sections,
        versions=software_versions(),
        inputs=describe_inputs(inputs),
        settings=flat,
        summary=summary,
        interactive=bool(context.get("interactive", False)),
    )


def write_report_files(analysis: object, outdir: str | Path, *, inputs: Sequence[str | Path] = (),
                       settings: Mapping[str, Any] | None = None, title: str | None = None,
                       stem: str = "report", **context: Any) -> dict[str, Path]:
    """Build the report and write ``<stem>.html`` and ``<stem>.pdf`` into ``outdir`` (atomically).

    Used by the command-line tools after their tables are written.
    """
    out = Path(outdir)
    ensure_not_input([out / f"{stem}.html", out / f"{stem}.pdf"], inputs)
    rep = build_report(analysis, title=title, inputs=inputs, settings=settings, **context)
    try:
        html = rep.write_html(out / f"{stem}.html")
        pdf = rep.write_pdf(out / f"{stem}.pdf")
    finally:
        rep.close()
    return {"html": html, "pdf": pdf}


def cli_settings(args: Any) -> dict[str, Any]:
    """The options of an ``argparse`` namespace, without the dispatch function."""
    return {k: v for k, v in sorted(vars(args).items()) if not callable(v)}


__all__ = [
    "KINDS",
    "InputFile",
    "Report",
    "ReportFigure",
    "ReportTable",
    "Section",
    "analysis_kind",
    "build_report",
    "cli_settings",
    "format_value",
    "write_report_files",
]

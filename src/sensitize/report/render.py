"""Render a :class:`~sensitize.report.model.Report` to HTML (jinja2) and PDF (matplotlib)."""

from __future__ import annotations

import io
import textwrap
from typing import TYPE_CHECKING

from jinja2 import Environment, PackageLoader
from markupsafe import Markup

if TYPE_CHECKING:
    from matplotlib.backends.backend_pdf import PdfPages

    from sensitize.report.model import Report

_ENV: Environment | None = None

#: A4 landscape, inches
PAGE = (11.69, 8.27)
_MARGIN = 0.55


def _env() -> Environment:
    global _ENV
    if _ENV is None:
        _ENV = Environment(loader=PackageLoader("sensitize.report", "templates"), autoescape=True,
                           trim_blocks=False, lstrip_blocks=False)
    return _ENV


def render_html(report: Report) -> str:
    """The report as one self-contained HTML string."""
    plotlyjs: Markup | None = None
    if any(f.plotly is not None for f in report.figures):
        from plotly.offline import get_plotlyjs

        plotlyjs = Markup(get_plotlyjs())
    return _env().get_template("report.html.j2").render(report=report, plotlyjs=plotlyjs)


# ---------------------------------------------------------------------------------- PDF


def _lines_per_page(fontsize: float, top_offset: float = 0.0) -> int:
    line_h = fontsize * 1.35 / 72.0
    return max(int((PAGE[1] - 2 * _MARGIN - top_offset) / line_h), 5)


def _text_pages(pdf: PdfPages, heading: str, lines: list[str], *, fontsize: float = 8.5,
                mono: bool = False, title: str | None = None, subtitle: str | None = None) -> None:
    """Write ``lines`` on as many pages as needed, ``heading`` on top of each."""
    from matplotlib.figure import Figure

    head_h = 0.55 + (0.75 if title else 0.0)
    per_page = _lines_per_page(fontsize, head_h)
    chunks = [lines[i:i + per_page] for i in range(0, max(len(lines), 1), per_page)] or [[]]
    for k, chunk in enumerate(chunks):
        fig = Figure(figsize=PAGE)
        y = 1 - _MARGIN / PAGE[1]
        x = _MARGIN / PAGE[0]
        if title and k == 0:
            fig.text(x, y, title, fontsize=18, fontweight="bold", va="top")
            y -= 0.42 / PAGE[1]
            if subtitle:
                fig.text(x, y, subtitle, fontsize=9.5, color="#444444", va="top")
            y -= 0.33 / PAGE[1]
        cont = f" (continued, {k + 1}/{len(chunks)})" if len(chunks) > 1 and k else ""
        fig.text(x, y, heading + cont, fontsize=12.5, fontweight="bold", color="#0072B2", va="top")
        y -= 0.45 / PAGE[1]
        if chunk:
            fig.text(x, y, "\n".join(chunk), fontsize=fontsize, va="top", linespacing=1.25,
                     family="monospace" if mono else "sans-serif")
        pdf.savefig(fig)


def _table_fontsize(text: str) -> float:
    width = max((len(line) for line in text.splitlines()), default=1)
    usable = (PAGE[0] - 2 * _MARGIN) * 72.0
    return float(min(8.0, max(4.2, usable / (0.61 * max(width, 1)))))


def render_pdf(report: Report) -> bytes:
    """The report as PDF bytes: title page, section text and tables, figures."""
    from matplotlib.backends.backend_pdf import PdfPages

    from sensitize.report.model import wrap

    buf = io.BytesIO()
    meta = {"Title": report.title, "Creator": f"sensitize {report.versions.get('sensitize', '')}",
            "Subject": f"{report.kind} report"}
    with PdfPages(buf, metadata=meta) as pdf:
        # title page: summary, software, inputs, settings
        lines: list[str] = []
        if report.summary:
            lines.append("SUMMARY")
            for item in report.summary:
                lines.extend(textwrap.wrap(item, 150, initial_indent="  - ", subsequent_indent="    "))
            lines.append("")
        lines.append("SOFTWARE")
        lines.extend(f"  {k:<14} {v}" for k, v in report.versions.items())
        lines.append("")
        lines.append("INPUTS")
        if report.inputs:
            for inp in report.inputs:
                nbytes = f"{inp.size:,} bytes" if inp.size is not None else "not found"
                lines.append(f"  {inp.path}")
                lines.append(f"      {nbytes}; SHA-256 {inp.sha256 or 'not found'}")
        else:
            lines.append("  (in-memory data; no input file recorded)")
        lines.append("")
        lines.append("SETTINGS AND PARAMETERS")
        kw = max((len(k) for k in report.settings), default=10)
        for k, v in report.settings.items():
            wrapped = textwrap.wrap(str(v), max(150 - kw, 40)) or [""]
            lines.append(f"  {k.ljust(kw)}  {wrapped[0]}")
            lines.extend(" " * (kw + 4) + w for w in wrapped[1:])
        _text_pages(pdf, "Provenance", lines, fontsize=7.5, mono=True, title=report.title,
                    subtitle=f"{report.kind} report · created {report.created} · "
                             f"sensitize {report.versions.get('sensitize', '?')}")
        # sections: text and tables flow on as few pages as possible
        for s in report.sections:
            tables = [(t, t.to_text() if t.total else "(none)") for t in s.tables]
            size = min([8.0] + [_table_fontsize(txt) for _, txt in tables])
            width = int((PAGE[0] - 2 * _MARGIN) * 72.0 / (0.61 * size))
            body: list[str] = []
            for p in s.paragraphs():
                body.extend(wrap(p, width))
                body.append("")
            for it in s.items:
                body.extend(textwrap.wrap(it, width, initial_indent="- ", subsequent_indent="  "))
            for t, txt in tables:
                if body:
                    body.append("")
                if t.caption:
                    body.extend([t.caption.upper(), ""])
                body.extend(txt.splitlines())
                for x in (t.count_note(), t.note):
                    if x:
                        body.extend(wrap(x, width))
            if body:
                _text_pages(pdf, s.heading, body, fontsize=size, mono=True)
            for f in s.figures:
                if f.figure is None:
                    continue
                fig = f.figure
                cap = fig.text(0.0, -0.01, "\n".join(textwrap.wrap(f"{s.heading}: {f.caption}", 120)),
                               fontsize=8, va="top", ha="left", color="#333333")
                try:
                    pdf.savefig(fig, bbox_inches="tight")
                finally:
                    cap.remove()
    return buf.getvalue()

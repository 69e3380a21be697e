"""The report object: sections of text, tables and figures, rendered to HTML and PDF.

* HTML: one self-contained file rendered with jinja2 (autoescaping on).  Figures are
  inline SVG (base64 PNG when the SVG would be very large); optional interactive plotly
  figures carry the plotly.js bundle inline (``plotly.offline.get_plotlyjs()``).  No
  ``src``/``href`` points outside the file; CSS and the table-sorting script are inline.
* PDF: matplotlib's :class:`~matplotlib.backends.backend_pdf.PdfPages`: a title page
  (versions, inputs with checksums, settings), one or more text pages per section and
  table, then the figures.

Both writers are atomic (:mod:`sensitize.core.output`).
"""

from __future__ import annotations

import base64
import io
import math
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from sensitize.core.output import atomic_write_bytes, atomic_write_text

#: SVG figures larger than this are embedded as PNG instead
MAX_SVG_BYTES = 1_500_000
#: PNG resolution of embedded raster figures
PNG_DPI = 110


def format_value(v: Any, digits: int = 4) -> str:
    """Human-readable cell text: 4 significant digits, scientific for tiny numbers, ``NA`` for missing."""
    if v is None:
        return "NA"
    if isinstance(v, bool | np.bool_):
        return "yes" if bool(v) else "no"
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        x = float(v)
        if math.isnan(x):
            return "NA"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        if x == 0:
            return "0"
        if abs(x) < 10 ** -(digits - 1) or abs(x) >= 10 ** (digits + 2):
            return f"{x:.{digits - 1}e}"
        if abs(x) >= 10 ** (digits - 1):
            return str(round(x))
        return f"{x:.{digits}g}"
    if isinstance(v, list | tuple | set):
        return ", ".join(format_value(x, digits) for x in v)
    try:
        if pd.isna(v):
            return "NA"
    except (TypeError, ValueError):
        pass
    return str(v)


def _sort_key(v: Any) -> str:
    """``data-v`` attribute for the sorting script: the number when numeric, else the text."""
    if isinstance(v, bool | np.bool_):
        return "1" if v else "0"
    if isinstance(v, int | float | np.integer | np.floating):
        x = float(v)
        return "" if math.isnan(x) else repr(x)
    return ""


@dataclass
class ReportTable:
    """A table of a report section.

    Attributes
    ----------
    data
        The full table (the HTML shows ``top`` rows and states the total).
    caption
        One line above the table.
    columns
        Columns to show (default all, in order; missing ones are skipped).
    top
        Rows shown (``None``: all).
    note
        A remark under the table.
    """

    data: pd.DataFrame
    caption: str = ""
    columns: Sequence[str] | None = None
    top: int | None = 25
    note: str = ""

    @property
    def total(self) -> int:
        """Rows in the full table."""
        return len(self.data)

    def shown(self) -> pd.DataFrame:
        """The rows and columns shown."""
        d = self.data
        if self.columns is not None:
            d = d[[c for c in self.columns if c in d.columns]]
        return d if self.top is None else d.head(self.top)

    def count_note(self) -> str:
        """``"showing 25 of 1,204 rows"`` (empty when everything is shown)."""
        n = len(self.shown())
        if n < self.total:
            return f"showing the first {n} of {self.total:,} rows"
        return ""

    def cells(self) -> list[list[tuple[str, str]]]:
        """Rows of ``(text, sort key)`` pairs."""
        d = self.shown()
        out = []
        for row in d.itertuples(index=False, name=None):
            out.append([(format_value(v), _sort_key(v)) for v in row])
        return out

    def to_text(self, max_width: int = 230) -> str:
        """Plain-text rendering (for the PDF), columns dropped from the right to fit ``max_width``."""
        d = self.shown()
        if d.empty:
            return "(no rows)"
        txt = d.map(format_value)
        cols = [str(c) for c in d.columns]
        widths = [max(len(c), int(txt[c0].str.len().max() or 0)) for c, c0 in zip(cols, d.columns)]
        widths = [min(w, 40) for w in widths]
        keep: list[int] = []
        total = 0
        for i, w in enumerate(widths):
            if total + w + 2 > max_width and keep:
                break
            keep.append(i)
            total += w + 2
        dropped = len(cols) - len(keep)

        def cell(s: str, w: int) -> str:
            return s if len(s) <= w else s[: w - 1] + "…"

        lines = ["  ".join(cell(cols[i], widths[i]).ljust(widths[i]) for i in keep)]
        lines.append("  ".join("-" * widths[i] for i in keep))
        for r in range(len(txt)):
            lines.append("  ".join(cell(str(txt.iat[r, i]), widths[i]).ljust(widths[i]) for i in keep))
        if dropped:
            lines.append(f"({dropped} more column(s) in the HTML report and the CSV outputs)")
        return "\n".join(lines)


@dataclass
class ReportFigure:
    """A figure of a report section: a matplotlib Figure and/or an interactive plotly Figure.

    The matplotlib figure is used for the PDF and (unless a plotly figure is given) the
    HTML; a plotly figure is HTML-only.
    """

    caption: str
    figure: Any = None
    plotly: Any = None

    def svg_or_png(self) -> tuple[str, str]:
        """``("svg", markup)`` or ``("png", base64)`` of the matplotlib figure."""
        buf = io.BytesIO()
        self.figure.savefig(buf, format="svg", bbox_inches="tight",
                            metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
        svg = buf.getvalue().decode("utf-8")
        if len(svg) <= MAX_SVG_BYTES:
            start = svg.find("<svg")
            return "svg", _strip_svg_urls(svg[start:])
        buf = io.BytesIO()
        self.figure.savefig(buf, format="png", dpi=PNG_DPI, bbox_inches="tight")
        return "png", base64.b64encode(buf.getvalue()).decode("ascii")

    def html(self, include_plotlyjs: bool = False) -> Markup:
        """The figure as a self-contained HTML fragment."""
        if self.plotly is not None:
            return Markup(self.plotly.to_html(full_html=False, include_plotlyjs=include_plotlyjs,
                                              config={"displaylogo": False}))
        if self.figure is None:
            return Markup("")
        kind, payload = self.svg_or_png()
        if kind == "svg":
            return Markup(payload)
        return Markup(f'<img alt="" src="data:image/png;base64,{payload}">')


_SVG_URL = re.compile(r'\s(?:xmlns(?::\w+)?|rdf:resource)="https?://[^"]*"')


def _strip_svg_urls(svg: str) -> str:
    """Inline SVG needs no namespace URLs inside HTML5; drop them (and RDF links) entirely."""
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)
    return _SVG_URL.sub("", svg)


@dataclass
class Section:
    """One section of a report.

    Attributes
    ----------
    heading
        Section title.
    text
        Plain text (paragraphs separated by blank lines); escaped in HTML.
    items
        Bullet points (plain text).
    tables, figures
        Tables and figures, shown in this order after the text.
    html
        An optional HTML fragment built by sensitize itself (never from user input).
    """

    heading: str
    text: str = ""
    items: list[str] = field(default_factory=list)
    tables: list[ReportTable] = field(default_factory=list)
    figures: list[ReportFigure] = field(default_factory=list)
    html: str = ""

    @property
    def anchor(self) -> str:
        """HTML id of the section."""
        return "s-" + (re.sub(r"[^a-z0-9]+", "-", self.heading.lower()).strip("-") or "section")

    def paragraphs(self) -> list[str]:
        """``text`` split into paragraphs."""
        return [p.strip() for p in re.split(r"\n\s*\n", self.text) if p.strip()]


@dataclass
class InputFile:
    """An input of the analysis with its size and SHA-256 checksum."""

    path: str
    size: int | None
    sha256: str | None

    @property
    def name(self) -> str:
        """File name."""
        return Path(self.path).name


@dataclass
class Report:
    """A report: header (versions, inputs, settings) and sections.

    Build one with :func:`sensitize.report.build_report`; write it with
    :meth:`write_html` / :meth:`write_pdf`.
    """

    title: str
    kind: str
    sections: list[Section] = field(default_factory=list)
    created: str = field(default_factory=lambda: datetime.now().astimezone().isoformat(timespec="seconds"))
    versions: dict[str, str] = field(default_factory=dict)
    inputs: list[InputFile] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)
    summary: list[str] = field(default_factory=list)
    interactive: bool = False

    # ------------------------------------------------------------------ lookup
    def section(self, heading: str) -> Section:
        """The section with this heading."""
        for s in self.sections:
            if s.heading == heading:
                return s
        raise KeyError(f"no section {heading!r}; sections: {[s.heading for s in self.sections]}")

    @property
    def figures(self) -> list[ReportFigure]:
        """Every figure, in order."""
        return [f for s in self.sections for f in s.figures]

    @property
    def tables(self) -> list[ReportTable]:
        """Every table, in order."""
        return [t for s in self.sections for t in s.tables]

    # ------------------------------------------------------------------ HTML
    def to_html(self) -> str:
        """The report as one self-contained HTML document (no external resources)."""
        from sensitize.report.render import render_html

        return render_html(self)

    def write_html(self, path: str | Path) -> Path:
        """Write :meth:`to_html` to ``path`` atomically; returns the path."""
        return atomic_write_text(path, self.to_html())

    # ------------------------------------------------------------------ PDF
    def to_pdf_bytes(self) -> bytes:
        """The report as PDF bytes (title page, text and table pages, figures)."""
        from sensitize.report.render import render_pdf

        return render_pdf(self)

    def write_pdf(self, path: str | Path) -> Path:
        """Write the PDF to ``path`` atomically; returns the path."""
        return atomic_write_bytes(path, self.to_pdf_bytes())

    def close(self) -> None:
        """Release the matplotlib figures (the report cannot be rendered afterwards)."""
        import matplotlib.pyplot as plt

        for f in self.figures:
            if f.figure is not None:
                plt.close(f.figure)
                f.figure = None


def wrap(text: str, width: int = 110) -> list[str]:
    """Wrap plain text into lines for the PDF."""
    out: list[str] = []
    for para in text.split("\n"):
        out.extend(textwrap.wrap(para, width) or [""])
    return out

"""Helpers shared by the per-analysis section builders."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from sensitize.report.model import ReportFigure, ReportTable, Section, format_value

#: rows shown per ranked table by default
DEFAULT_TOP = 25


def existing(df: pd.DataFrame, cols: Sequence[str]) -> list[str]:
    """Columns of ``cols`` present in ``df``, in order, without duplicates."""
    return [c for c in dict.fromkeys(cols) if c in df.columns]


def close_from_pyplot(fig: Any) -> None:
    """Detach a figure from pyplot's registry (it stays drawable), so reports do not leak figures."""
    try:
        import matplotlib.pyplot as plt

        if plt.fignum_exists(getattr(fig, "number", -1)):
            plt.close(fig)
    except Exception:  # pragma: no cover - pyplot unavailable
        pass


def add_figure(section: Section, caption: str, draw: Callable[[], Any],
               interactive: Callable[[], Any] | None = None) -> bool:
    """Draw a figure into ``section``; a failure becomes a visible note instead of an error.

    ``interactive`` optionally draws the plotly version shown in the HTML.
    """
    try:
        fig = draw()
    except Exception as exc:
        section.items.append(f"Figure not drawn ({caption}): {type(exc).__name__}: {exc}")
        return False
    if fig is None:
        return False
    close_from_pyplot(fig)
    pfig = None
    if interactive is not None:
        try:
            pfig = interactive()
        except Exception as exc:
            section.items.append(f"Interactive figure not drawn ({caption}): {type(exc).__name__}: {exc}")
    section.figures.append(ReportFigure(caption=caption, figure=fig, plotly=pfig))
    return True


def optional_module(name: str) -> ModuleType | None:
    """Import ``name`` or return ``None`` (plots of another area may not be installed yet)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def table(data: pd.DataFrame | None, caption: str = "", columns: Sequence[str] | None = None,
          top: int | None = DEFAULT_TOP, note: str = "") -> ReportTable:
    """A :class:`ReportTable` (an empty frame for ``None``)."""
    return ReportTable(data=pd.DataFrame() if data is None else data, caption=caption,
                       columns=columns, top=top, note=note)


def fmt(v: Any) -> str:
    """Short number text for summary sentences."""
    return format_value(v, digits=3)


def fmt_p(p: Any) -> str:
    """P-value text: ``p = 0.012``, ``p < 1e-10``."""
    try:
        x = float(p)
    except (TypeError, ValueError):
        return "p = NA"
    if not np.isfinite(x):
        return "p = NA"
    if x < 1e-10:
        return "p < 1e-10"
    return f"p = {format_value(x, digits=2)}"


def ctx_get(context: Mapping[str, Any], *names: str, default: Any = None) -> Any:
    """First non-``None`` context value among ``names``."""
    for n in names:
        v = context.get(n)
        if v is not None:
            return v
    return default


def int_setting(context: Mapping[str, Any], name: str, default: int) -> int:
    """An integer option from the context (``top``, ``n_plots``)."""
    v = context.get(name)
    return default if v is None else int(v)


def value_counts_table(s: pd.Series, label: str) -> pd.DataFrame:
    """``label, n`` for the values of ``s`` (most common first)."""
    vc = s.astype(str).value_counts()
    return pd.DataFrame({label: vc.index.astype(str), "n": vc.to_numpy(dtype=int)})

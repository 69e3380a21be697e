"""Errors raised on bad input.

Every error about user input names the file, the column and the rows at fault, so a
biologist can open the sheet and fix it.  Rows are reported as **1-based data-row
numbers**: row 1 is the first row below the header (for a CSV with one header line,
data row ``n`` is on line ``n + 1`` of the file).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

_MAX_ROWS_SHOWN = 10


def format_rows(rows: Iterable[Any], max_shown: int = _MAX_ROWS_SHOWN) -> str:
    """Format row numbers as ``"3, 7, 9 (+12 more)"``."""
    rows_l = list(rows)
    shown = ", ".join(str(int(r)) if isinstance(r, int | np.integer) else str(r) for r in rows_l[:max_shown])
    if len(rows_l) > max_shown:
        shown += f" (+{len(rows_l) - max_shown} more)"
    return shown


class InputError(ValueError):
    """Bad input, with the file, column(s) and data rows at fault.

    Parameters
    ----------
    message
        What is wrong, in plain words.
    file
        The file (or table name) the input came from.
    column
        The column (or columns) at fault.
    rows
        1-based data-row numbers at fault (row 1 is the first row under the header).
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        column: str | Sequence[str] | None = None,
        rows: Iterable[Any] | None = None,
    ) -> None:
        self.reason = message
        self.file = file
        if isinstance(column, str) or column is None:
            self.columns: list[str] = [] if column is None else [column]
        else:
            self.columns = [str(c) for c in column]
        self.rows: list[Any] = [] if rows is None else list(rows)
        super().__init__(self._render())

    def _render(self) -> str:
        parts = []
        if self.file:
            parts.append(str(self.file))
        if self.columns:
            label = "column" if len(self.columns) == 1 else "columns"
            parts.append(f"{label} {', '.join(repr(c) for c in self.columns)}")
        if self.rows:
            label = "row" if len(self.rows) == 1 else "rows"
            parts.append(f"{label} {format_rows(self.rows)}")
        where = ": ".join([", ".join(parts)]) if parts else ""
        return f"{where}: {self.reason}" if where else self.reason

    @property
    def column(self) -> str | None:
        """The first column at fault, if any."""
        return self.columns[0] if self.columns else None


def data_rows(index_positions: Iterable[int]) -> list[int]:
    """Convert 0-based positional indices to 1-based data-row numbers."""
    return [int(i) + 1 for i in index_positions]

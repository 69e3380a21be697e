"""Base class for typed result objects.

Every analysis returns a result object with a tidy ``.table`` DataFrame, the ``params``
used to compute it, and ``to_frame()`` returning a copy of the table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass
class Result:
    """A tidy result table and the parameters that produced it.

    Attributes
    ----------
    table
        One row per unit of analysis (block, cell, animal, biomarker, ...).
    params
        The settings used, JSON-serialisable, recorded in reports and the results store.
    """

    table: pd.DataFrame
    params: dict[str, Any] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """Return a copy of the result table."""
        return self.table.copy()

    def __len__(self) -> int:
        return len(self.table)

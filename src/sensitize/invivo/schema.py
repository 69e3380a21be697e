"""Tidy schema of an in vivo tumour-growth study and its validation.

A study is one long table with one row per animal and measurement day:

========== ======================================================================
column     meaning
========== ======================================================================
animal     animal (mouse) identifier, unique across the study (str)
group      treatment arm (str)
day        measurement day, numeric (days since randomisation / start)
volume     tumour volume (mm³ unless stated), ``>= 0``; ``0`` = no palpable tumour
========== ======================================================================

Optional columns: ``censored`` (bool, per animal: alive / withdrawn for another reason at
its last recorded day, e.g. TumGrowth's ``Surv`` flag), ``source_row`` (1-based data row of
the input file the value came from), ``length``/``width`` (caliper diameters, mm).

:func:`validate_study` checks a table against the schema: hard errors (missing columns,
non-numeric or negative volumes, duplicated animal-day rows, an animal in two groups) raise
:class:`~sensitize.core.errors.InputError` naming the rows; soft problems (days out of
order, a group with one animal, an animal with one measurement, an arm with no tumour
ever measured) are returned as flags so that analyses can proceed and report them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sensitize.core.errors import InputError

ANIMAL = "animal"
GROUP = "group"
DAY = "day"
VOLUME = "volume"
CENSORED = "censored"
SOURCE_ROW = "source_row"
REQUIRED = (ANIMAL, GROUP, DAY, VOLUME)


@dataclass
class ValidationReport:
    """Soft problems found in a study table (hard problems raise).

    Attributes
    ----------
    flags
        One row per problem: ``kind``, ``group``, ``animal``, ``message``.
    """

    flags: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["kind", "group", "animal", "message"])
    )

    def add(self, kind: str, message: str, group: str | None = None, animal: str | None = None) -> None:
        """Append one flag."""
        row = pd.DataFrame([{"kind": kind, "group": group, "animal": animal, "message": message}])
        self.flags = row if self.flags.empty else pd.concat([self.flags, row], ignore_index=True)

    def kinds(self) -> set[str]:
        """The distinct kinds of flag raised."""
        return set(self.flags["kind"].astype(str))


def _rows(df: pd.DataFrame, mask: np.ndarray | pd.Series) -> list[int]:
    m = np.asarray(mask, dtype=bool)
    if SOURCE_ROW in df.columns:
        return [int(r) for r in df.loc[m, SOURCE_ROW].tolist()]
    return [int(i) + 1 for i in np.flatnonzero(m)]


def validate_study(df: pd.DataFrame, source: str | None = None) -> tuple[pd.DataFrame, ValidationReport]:
    """Check a tidy study table and return a clean, sorted copy and the soft flags.

    Parameters
    ----------
    df
        Long table with at least ``animal, group, day, volume``.
    source
        File or table name used in error messages.

    Returns
    -------
    (DataFrame, ValidationReport)
        The table with typed columns, sorted by group, animal and day, and the flags.

    Raises
    ------
    InputError
        Missing columns, non-numeric day/volume, negative or infinite volumes, duplicated
        animal-day rows, an animal assigned to more than one group, an empty table.
    """
    src = source or str(df.attrs.get("source", "study table"))
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise InputError(
            f"missing required column(s) {', '.join(missing)}; found {', '.join(map(str, df.columns))}",
            file=src,
            column=missing,
        )
    if len(df) == 0:
        raise InputError("the study table has no measurements", file=src)
    out = df.copy()
    out[ANIMAL] = out[ANIMAL].astype(str)
    out[GROUP] = out[GROUP].astype(str)
    for col in (DAY, VOLUME):
        num = pd.to_numeric(out[col], errors="coerce")
        bad = num.isna() | ~np.isfinite(num.to_numpy(dtype=float, na_value=np.nan))
        if bad.any():
            raise InputError(
                f"non-numeric or missing {col} values (e.g. {out.loc[bad, col].iloc[0]!r})",
                file=src,
                column=col,
                rows=_rows(out, bad),
            )
        out[col] = num.astype(float)
    neg = out[VOLUME] < 0
    if neg.any():
        raise InputError(
            f"negative tumour volumes (e.g. {out.loc[neg, VOLUME].iloc[0]:g}); volumes must be >= 0",
            file=src,
            column=VOLUME,
            rows=_rows(out, neg),
        )
    dup = out.duplicated([ANIMAL, DAY], keep=False)
    if dup.any():
        first = out.loc[dup].iloc[0]
        raise InputError(
            f"duplicated animal-day rows (animal {first[ANIMAL]!r}, day {first[DAY]:g} appears more than once)",
            file=src,
            column=[ANIMAL, DAY],
            rows=_rows(out, dup),
        )
    ngroups = out.groupby(ANIMAL)[GROUP].nunique()
    multi = ngroups[ngroups > 1].index
    if len(multi):
        bad = out[ANIMAL].isin(multi)
        raise InputError(
            f"animal {multi[0]!r} is listed in more than one group; animal ids must be unique per study",
            file=src,
            column=[ANIMAL, GROUP],
            rows=_rows(out, bad),
        )
    report = ValidationReport()
    # days out of order within an animal (in file order): flagged, then sorted
    order_bad = out.groupby(ANIMAL, sort=False)[DAY].apply(lambda s: bool((np.diff(s.to_numpy()) < 0).any()))
    for animal in order_bad[order_bad].index:
        grp = out.loc[out[ANIMAL] == animal, GROUP].iloc[0]
        report.add("days_out_of_order", "measurement days were not in increasing order; sorted", grp, animal)
    n_meas = out.groupby(ANIMAL).size()
    for animal in n_meas[n_meas < 2].index:
        grp = out.loc[out[ANIMAL] == animal, GROUP].iloc[0]
        report.add(
            "single_measurement",
            "animal has one measurement; excluded from growth models and per-animal fits",
            grp,
            animal,
        )
    n_anim = out.groupby(GROUP)[ANIMAL].nunique()
    for grp in n_anim[n_anim < 2].index:
        report.add(
            "single_animal_group",
            "group has one animal; between-animal variance and group tests are not estimable from it",
            grp,
        )
    max_vol = out.groupby(GROUP)[VOLUME].max()
    for grp in max_vol[max_vol <= 0].index:
        report.add("all_zero_group", "no tumour was ever measured in this group (all volumes 0)", grp)
    if CENSORED in out.columns:
        out[CENSORED] = out[CENSORED].fillna(False).astype(bool)
    attrs = dict(df.attrs)
    attrs.setdefault("group_order", list(pd.unique(out[GROUP])))
    out = out.sort_values([GROUP, ANIMAL, DAY], kind="mergesort").reset_index(drop=True)
    out.attrs = attrs
    out.attrs["source"] = src
    return out, report


def groups_in_order(df: pd.DataFrame) -> list[str]:
    """Group names in order of first appearance in the input (``attrs['group_order']`` if set)."""
    order = df.attrs.get("group_order")
    present = list(pd.unique(df[GROUP].astype(str)))
    if order:
        return [g for g in order if g in present] + [g for g in present if g not in order]
    return present

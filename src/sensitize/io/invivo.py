"""Readers for the tumour-growth sheets labs keep.

:func:`read_invivo` turns any of these layouts into the tidy table of
:mod:`sensitize.invivo.schema` (``animal, group, day, volume`` plus optional ``censored``,
``length``, ``width`` and ``source_row``):

``long``
    One row per animal and day (CSV/TSV/XLSX).  Column names are matched
    case-insensitively against common spellings (``Mouse``/``Mice.ID``/``subject``/
    ``SampleID``/``model.id``; ``Treatment``/``Group``/``drug``; ``Day``/``Time``/
    ``DaysPostT0``; ``TV``/``TumorVolume``/``TumVol``/``Total_vol``/``RLU``/``volume``).
    Without a volume column, caliper diameters (``L``/``W``, ``length``/``width``,
    ``Dmax``/``Dmin``, or bilateral ``L_Dmax, L_Dmin, R_Dmax, R_Dmin``) are turned into a
    volume by ``volume_formula`` (bilateral tumours are summed).
``wide``
    One row per animal, one column per day (invivoSyn's ``Treatment, Mouse, 0, 3, ...``).
``tumgrowth``
    TumGrowth's two-row header: row 1 field names (``Grp``, optional ``Mid``/``Id``,
    ``Use``, ``Surv``) and the numeric day of each measurement column, row 2 the measure
    at that day (``V``, ``S``, ``Z``, ``L``, ``W``); several measures per day allowed;
    decimal commas; non-numeric cells are NA; a non-empty ``Use`` includes the animal; a
    non-empty ``Surv`` marks it alive (censored) at its last day.  Column headers that are
    not numbers (``d25``, ``SEM``) are ignored; rows without a group (spreadsheet
    means/SEM) are excluded and reported.
``days_as_rows``
    One column per animal, one row per calendar day from day 0, empty rows where nothing
    was measured (the layout of Telarovic et al. 2024's mRECIST script).

In every layout an empty cell or the text ``NA``/``NaN`` means "not measured".
Nothing is dropped silently: every data row or cell that does not become a measurement
(non-numeric text, excluded by ``Use``, summary rows; in long tables also a row whose
volume is missing) is listed in
``df.attrs["excluded"]`` (records with ``source_row, animal, group, day, value, reason``;
:func:`excluded_table` returns them as a DataFrame), and
decisions taken while reading are listed in ``df.attrs["notes"]``.  ``source_row`` is the
1-based data row in the file (row 1 is the first row under the header, or under the
two-row header of TumGrowth sheets).
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sensitize.core.errors import InputError
from sensitize.invivo.schema import ANIMAL, CENSORED, DAY, GROUP, SOURCE_ROW, VOLUME

#: Named caliper formulas: ``L`` is the long diameter, ``W`` the short one (mm).
VOLUME_FORMULAS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "L*W^2/2": lambda L, W: L * W**2 / 2.0,
    "pi/6*L*W^2": lambda L, W: np.pi / 6.0 * L * W**2,
    "L*W": lambda L, W: L * W,
    "pi/6*(L*W)^1.5": lambda L, W: np.pi / 6.0 * (L * W) ** 1.5,
}

_ANIMAL_NAMES = ["animal", "mouse", "mice.id", "mouseid", "mouse_id", "mouse.id", "subject",
                 "sampleid", "sample_id", "sample", "model.id", "mid", "id", "animal_id"]
_GROUP_NAMES = ["group_name", "treatment", "group", "grp", "arm", "drug", "treatment_group"]
_DAY_NAMES = ["day", "days", "time", "dayspostt0", "tp", "study_day", "t"]
_VOLUME_NAMES = ["volume", "tumor_volume", "tumour_volume", "tumor.volume", "tumorvolume",
                 "tumvol", "tv", "total_vol", "vol", "rlu", "size", "bli"]
_LENGTH_NAMES = ["length", "l", "dmax", "long", "diameter_max"]
_WIDTH_NAMES = ["width", "w", "dmin", "short", "diameter_min"]
_CENSOR_NAMES = ["censored", "surv", "alive"]
#: Columns of the records in ``attrs["excluded"]`` (see :func:`excluded_table`).
EXCLUDED_COLUMNS = ["source_row", "animal", "group", "day", "value", "reason"]
_NUM_RE = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")


def _num(cell: Any) -> float:
    """Parse a cell as a number (decimal comma allowed); NaN for text or empty."""
    if cell is None:
        return np.nan
    if isinstance(cell, int | float | np.integer | np.floating):
        return float(cell)
    s = str(cell).strip().replace("\u2212", "-")
    if not s or not _NUM_RE.match(s):
        return np.nan
    return float(s.replace(",", "."))


#: Cell texts meaning "not measured" (like an empty cell).
_NA_TEXT = frozenset({"NA", "NAN"})


def _grid_cell(cell: str, excluded: list[dict[str, Any]], where: dict[str, Any]) -> float | None:
    """The measurement in a sheet cell, or ``None``: not measured (empty or NA), or text,
    which is reported in ``excluded`` with ``where`` (source row, animal, group, day)."""
    cell = cell.strip()
    if not cell or cell.upper() in _NA_TEXT:
        return None
    v = _num(cell)
    if np.isnan(v):
        excluded.append({**where, "value": cell, "reason": "non-numeric cell counted as NA"})
        return None
    return v


def _is_num(cell: Any) -> bool:
    return not np.isnan(_num(cell))


def _read_grid(path: Path, sheet: int | str) -> list[list[str]]:
    """Read a file into a list of rows of strings (line endings CR, LF or CRLF)."""
    if path.suffix.lower() in {".xlsx", ".xlsm", ".xls"}:
        try:
            raw = pd.read_excel(path, sheet_name=sheet, header=None, dtype=object)
        except ValueError as exc:
            raise InputError(f"cannot read sheet {sheet!r}: {exc}", file=str(path)) from None
        grid = []
        for row in raw.itertuples(index=False):
            cells = []
            for v in row:
                if v is None or (isinstance(v, float) and np.isnan(v)):
                    cells.append("")
                elif isinstance(v, float) and v.is_integer():
                    cells.append(str(int(v)) if abs(v) < 1e15 else repr(v))
                else:
                    cells.append(str(v))
            grid.append(cells)
        return grid
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [ln for ln in text.split("\n")]
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise InputError("the file is empty", file=str(path))
    head = "\n".join(lines[:5])
    if "\t" in head:
        delim = "\t"
    elif head.count(";") > head.count(","):
        delim = ";"
    else:
        delim = ","
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=delim, quotechar='"')
    return [list(r) for r in reader]


def _norm(name: str) -> str:
    return re.sub(r"\s+", "_", str(name).strip().lower())


def _find(cols: list[str], names: list[str]) -> str | None:
    normed = {_norm(c): c for c in cols}
    for n in names:
        if n in normed:
            return normed[n]
    return None


def _detect_layout(grid: list[list[str]]) -> str:
    header = [c.strip() for c in grid[0]]
    low = [_norm(c) for c in header]
    numeric_hdr = sum(_is_num(c) for c in header)
    if "grp" in low and numeric_hdr >= 1 and len(grid) > 1:
        second = grid[1]
        idx = [i for i, c in enumerate(header) if _is_num(c)]
        if any(i < len(second) and second[i].strip() and not _is_num(second[i]) for i in idx):
            return "tumgrowth"
    if numeric_hdr >= 2 and any(n in low for n in _GROUP_NAMES + _ANIMAL_NAMES):
        return "wide"
    known = set(_ANIMAL_NAMES + _GROUP_NAMES + _DAY_NAMES + _VOLUME_NAMES)
    if not any(n in known for n in low) and numeric_hdr == 0:
        body = [c for r in grid[1:] for c in r if c.strip()]
        if body and all(_is_num(c) for c in body):
            return "days_as_rows"
    return "long"


def read_invivo(
    path: str | os.PathLike[str],
    *,
    layout: str = "auto",
    sheet: int | str = 0,
    measure: str | None = None,
    volume_formula: str | Callable[[np.ndarray, np.ndarray], np.ndarray] = "L*W^2/2",
    animal: str | None = None,
    group: str | None = None,
    day: str | None = None,
    volume: str | None = None,
    trailing_zeros: str = "keep",
    default_group: str = "all",
) -> pd.DataFrame:
    """Read a tumour-growth sheet into the tidy study table.

    Parameters
    ----------
    path
        CSV, TSV (any line ending) or Excel file.
    layout
        ``"auto"`` (detect), ``"long"``, ``"wide"``, ``"tumgrowth"`` or ``"days_as_rows"``.
    sheet
        Excel sheet name or index.
    measure
        TumGrowth sheets: the measure to use as volume (default ``V`` when present, else
        the only measure, else ``L``/``W`` through ``volume_formula``).
    volume_formula
        Caliper formula used when only diameters are given: a key of
        :data:`VOLUME_FORMULAS` (default ``"L*W^2/2"``, the modified ellipsoid) or a
        callable ``f(L, W) -> volume``.  ``L`` is the larger diameter.
    animal, group, day, volume
        Column names overriding the automatic matching (long and wide layouts).
    trailing_zeros
        ``"keep"`` (default): zeros after an animal's last positive measurement are kept
        as volumes below detection (complete regression); ``"drop"``: they are treated as
        "not measured" and reported in ``attrs["excluded"]``.
    default_group
        Group name used when the file has no group column (``days_as_rows``).

    Returns
    -------
    DataFrame
        Tidy table; ``attrs`` holds ``source``, ``layout``, ``group_order``, ``excluded``
        and ``notes``.

    Raises
    ------
    InputError
        Unreadable layout, missing columns, unknown measure or formula.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(2, "No such file", str(p))
    grid = _read_grid(p, sheet)
    grid = [r for r in grid]
    if not grid or not any(c.strip() for c in grid[0]):
        raise InputError("the first row (header) is empty", file=str(p))
    lay = _detect_layout(grid) if layout == "auto" else layout
    excluded: list[dict[str, Any]] = []
    notes: list[str] = []
    formula = _formula(volume_formula, str(p))
    if lay == "tumgrowth":
        df = _parse_tumgrowth(grid, str(p), measure, formula, excluded, notes)
    elif lay == "wide":
        df = _parse_wide(grid, str(p), animal, group, excluded, notes)
    elif lay == "days_as_rows":
        df = _parse_days_as_rows(grid, str(p), default_group, excluded, notes)
    elif lay == "long":
        df = _parse_long(grid, str(p), animal, group, day, volume, formula, excluded, notes, default_group)
    else:
        raise InputError(f"unknown layout {layout!r}; use auto, long, wide, tumgrowth or days_as_rows", file=str(p))
    if trailing_zeros not in {"keep", "drop"}:
        raise InputError(f"trailing_zeros must be 'keep' or 'drop', not {trailing_zeros!r}", file=str(p))
    if trailing_zeros == "drop" and len(df):
        df = _drop_trailing_zeros(df, excluded)
    df = _unique_animals(df, notes)
    group_order = list(pd.unique(df[GROUP])) if len(df) else []
    df = df.reset_index(drop=True)
    df.attrs = {
        "source": str(p),
        "layout": lay,
        "group_order": group_order,
        "excluded": [{k: r.get(k) for k in EXCLUDED_COLUMNS} for r in excluded],
        "notes": notes,
    }
    return df


def excluded_table(df: pd.DataFrame) -> pd.DataFrame:
    """The input rows/cells that did not become measurements, with reasons, as a table."""
    return pd.DataFrame(list(df.attrs.get("excluded", [])), columns=EXCLUDED_COLUMNS)


def _formula(f: str | Callable[[np.ndarray, np.ndarray], np.ndarray], src: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    if callable(f):
        return f
    key = f.replace(" ", "").replace("**", "^")
    if key not in VOLUME_FORMULAS:
        raise InputError(f"unknown volume formula {f!r}; choose one of {', '.join(VOLUME_FORMULAS)}", file=src)
    return VOLUME_FORMULAS[key]


def _caliper(formula: Callable[[np.ndarray, np.ndarray], np.ndarray], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    L = np.fmax(a, b)
    W = np.fmin(a, b)
    return np.asarray(formula(L, W), dtype=float)


def _unique_animals(df: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    if df.empty:
        return df
    n = df.groupby(ANIMAL)[GROUP].nunique()
    if (n > 1).any():
        df = df.copy()
        df[ANIMAL] = df[GROUP].astype(str) + "/" + df[ANIMAL].astype(str)
        notes.append("animal ids repeat across groups; animals are identified as 'group/id'")
    return df


def _drop_trailing_zeros(df: pd.DataFrame, excluded: list[dict[str, Any]]) -> pd.DataFrame:
    keep = np.ones(len(df), dtype=bool)
    df = df.sort_values([ANIMAL, DAY], kind="mergesort")
    for _, idx in df.groupby(ANIMAL).indices.items():
        v = df[VOLUME].to_numpy()[idx]
        pos = np.flatnonzero(v > 0)
        last = pos[-1] if len(pos) else -1
        for j in range(last + 1, len(idx)):
            if pos.size and v[j] == 0:
                keep[idx[j]] = False
                r = df.iloc[idx[j]]
                excluded.append({"source_row": r.get(SOURCE_ROW), "animal": r[ANIMAL], "group": r[GROUP],
                                 "day": r[DAY], "value": 0.0, "reason": "trailing zero treated as not measured"})
    return df[keep]


def _parse_tumgrowth(grid: list[list[str]], src: str, measure: str | None,
                     formula: Callable[[np.ndarray, np.ndarray], np.ndarray],
                     excluded: list[dict[str, Any]], notes: list[str]) -> pd.DataFrame:
    if len(grid) < 3:
        raise InputError("a TumGrowth sheet needs two header rows and at least one animal row", file=src)
    width = max(len(r) for r in grid)
    grid = [r + [""] * (width - len(r)) for r in grid]
    head = [c.strip() for c in grid[0]]
    meas = [c.strip() for c in grid[1]]
    low = [h.lower() for h in head]
    field = {k: low.index(k) for k in ("grp", "use", "mid", "id", "surv") if k in low}
    if "grp" not in field:
        raise InputError("TumGrowth sheet without a 'Grp' column", file=src, column="Grp")
    day_cols = [(i, _num(h), meas[i]) for i, h in enumerate(head) if _is_num(h)]
    ignored = [h for i, h in enumerate(head) if h and not _is_num(h) and h.lower() not in field]
    if ignored:
        notes.append(f"non-numeric column headers ignored: {', '.join(sorted(set(ignored)))}")
    measures = sorted({m for _, _, m in day_cols if m})
    if measure is None:
        if "V" in measures:
            measure = "V"
        elif len(measures) == 1:
            measure = measures[0]
        elif {"L", "W"} <= set(measures):
            measure = "LW"
        else:
            raise InputError(f"several measures ({', '.join(measures)}); choose one with measure=", file=src)
    if measure != "LW" and measure not in measures:
        raise InputError(f"measure {measure!r} not in the sheet (found {', '.join(measures)})", file=src)
    notes.append(f"TumGrowth sheet: measure {measure!r} used as volume" + (
        " (computed from L and W)" if measure == "LW" else ""))
    id_col = field.get("mid", field.get("id"))
    records: list[dict[str, Any]] = []
    for k, row in enumerate(grid[2:], start=1):
        if not any(c.strip() for c in row):
            continue
        grp = row[field["grp"]].strip()
        aid = row[id_col].strip() if id_col is not None else ""
        if not grp:
            excluded.append({"source_row": k, "animal": aid or None, "group": None, "day": None, "value": None,
                             "reason": "row without a group (summary row or blank Grp)"})
            continue
        if "use" in field and not row[field["use"]].strip():
            excluded.append({"source_row": k, "animal": aid or None, "group": grp, "day": None, "value": None,
                             "reason": "Use flag empty: animal not included"})
            continue
        if not aid:
            aid = f"{grp}_{k}"
        cens = bool(row[field["surv"]].strip()) if "surv" in field else None
        if measure == "LW":
            by_day: dict[float, dict[str, float]] = {}
            for i, d, m in day_cols:
                if m in ("L", "W") and row[i].strip():
                    by_day.setdefault(d, {})[m] = _num(row[i])
            for d, lw in by_day.items():
                if "L" in lw and "W" in lw and not np.isnan(lw["L"]) and not np.isnan(lw["W"]):
                    vol = float(_caliper(formula, np.array([lw["L"]]), np.array([lw["W"]]))[0])
                    records.append({ANIMAL: aid, GROUP: grp, DAY: d, VOLUME: vol, "length": max(lw.values()),
                                    "width": min(lw.values()), CENSORED: cens, SOURCE_ROW: k})
            continue
        for i, d, m in day_cols:
            if m != measure:
                continue
            v = _grid_cell(row[i], excluded, {"source_row": k, "animal": aid, "group": grp, "day": d})
            if v is not None:
                records.append({ANIMAL: aid, GROUP: grp, DAY: d, VOLUME: v, CENSORED: cens, SOURCE_ROW: k})
    df = pd.DataFrame(records)
    if df.empty:
        raise InputError("no measurements found in the TumGrowth sheet", file=src)
    first = df.drop_duplicates(SOURCE_ROW)
    if first[ANIMAL].duplicated().any():
        if not first.duplicated([GROUP, ANIMAL]).any():
            df[ANIMAL] = df[GROUP] + "/" + df[ANIMAL]
            notes.append("animal ids repeat across groups; animals are identified as 'group/id'")
        else:
            df[ANIMAL] = df[GROUP] + "/" + df[ANIMAL] + "/r" + df[SOURCE_ROW].astype(str)
            notes.append("animal ids are not unique within groups; animals are identified as 'group/id/r<row>'")
    if "surv" not in field:
        df = df.drop(columns=[CENSORED])
    return df


def _parse_wide(grid: list[list[str]], src: str, animal: str | None, group: str | None,
                excluded: list[dict[str, Any]], notes: list[str]) -> pd.DataFrame:
    head = [c.strip() for c in grid[0]]
    gcol = group or _find(head, _GROUP_NAMES)
    acol = animal or _find(head, _ANIMAL_NAMES)
    if gcol is None or gcol not in head:
        raise InputError("wide sheet without a group/treatment column", file=src, column=group)
    day_idx = [(i, _num(h)) for i, h in enumerate(head) if _is_num(h)]
    gi = head.index(gcol)
    ai = head.index(acol) if acol in head else None
    records = []
    for k, row in enumerate(grid[1:], start=1):
        row = row + [""] * (len(head) - len(row))
        if not any(c.strip() for c in row):
            continue
        grp = row[gi].strip()
        aid = row[ai].strip() if ai is not None else f"{grp}_{k}"
        if not grp:
            excluded.append({"source_row": k, "animal": aid, "group": None, "day": None, "value": None,
                             "reason": "row without a group"})
            continue
        for i, d in day_idx:
            v = _grid_cell(row[i], excluded, {"source_row": k, "animal": aid, "group": grp, "day": d})
            if v is not None:
                records.append({ANIMAL: aid, GROUP: grp, DAY: d, VOLUME: v, SOURCE_ROW: k})
    if not records:
        raise InputError("no measurements found in the wide sheet", file=src)
    notes.append(f"wide sheet: group column {gcol!r}, animal column {acol!r}, {len(day_idx)} day columns")
    return pd.DataFrame(records)


def _parse_days_as_rows(grid: list[list[str]], src: str, default_group: str,
                        excluded: list[dict[str, Any]], notes: list[str]) -> pd.DataFrame:
    head = [c.strip() for c in grid[0]]
    records = []
    for k, row in enumerate(grid[1:], start=1):
        for i, aid in enumerate(head):
            cell = row[i].strip() if i < len(row) else ""
            if not cell:
                continue
            records.append({ANIMAL: aid, GROUP: default_group, DAY: float(k - 1), VOLUME: _num(cell), SOURCE_ROW: k})
    notes.append("days-as-rows sheet: one column per animal, data row n is calendar day n-1")
    return pd.DataFrame(records)


def _parse_long(grid: list[list[str]], src: str, animal: str | None, group: str | None, day: str | None,
                volume: str | None, formula: Callable[[np.ndarray, np.ndarray], np.ndarray],
                excluded: list[dict[str, Any]], notes: list[str], default_group: str) -> pd.DataFrame:
    head = [c.strip() for c in grid[0]]
    if head and head[0] == "":
        head[0] = "_index"
    body = [r + [""] * (len(head) - len(r)) for r in grid[1:]]
    raw = pd.DataFrame([r[: len(head)] for r in body], columns=head, dtype=object)
    raw = raw.loc[:, ~pd.Index(head).duplicated()]
    cols = list(raw.columns)
    acol = animal or _find(cols, _ANIMAL_NAMES)
    gcol = group or _find(cols, _GROUP_NAMES)
    dcol = day or _find(cols, _DAY_NAMES)
    vcol = volume or _find(cols, _VOLUME_NAMES)
    for name, c in (("animal", acol), ("day", dcol)):
        if c is None or c not in cols:
            raise InputError(f"no {name} column found (columns: {', '.join(cols)})", file=src, column=c)
    if gcol is not None and gcol in cols and (raw[gcol].astype(str).str.strip() == "").all():
        alt = _find([c for c in cols if c != gcol], _GROUP_NAMES)
        gcol = alt
    n = len(raw)
    rows = np.arange(1, n + 1)
    out = pd.DataFrame({ANIMAL: raw[acol].astype(str).str.strip().to_numpy(),
                        GROUP: (raw[gcol].astype(str).str.strip().to_numpy() if gcol else np.full(n, default_group)),
                        DAY: [_num(x) for x in raw[dcol]], SOURCE_ROW: rows})
    if vcol is not None and vcol in cols:
        vals: pd.Series | None = raw[vcol].astype(str).str.strip()
        assert vals is not None
        out[VOLUME] = [_num(x) for x in vals]
        text = out[VOLUME].isna() & (vals != "") & ~vals.str.upper().isin(list(_NA_TEXT))
        notes.append(f"long table: animal {acol!r}, group {gcol!r}, day {dcol!r}, volume {vcol!r}")
    else:
        out, text, vals = _long_caliper(raw, out, cols, formula, src, notes)
        notes.append(f"long table: animal {acol!r}, group {gcol!r}, day {dcol!r}")
    if out[DAY].isna().any():
        bad = out[DAY].isna()
        raise InputError("non-numeric or missing day values", file=src, column=dcol, rows=rows[bad.to_numpy()])
    miss = out[VOLUME].isna().to_numpy()
    for i in (int(j) for j in np.flatnonzero(miss)):
        excluded.append({"source_row": int(rows[i]), "animal": out[ANIMAL].iat[i], "group": out[GROUP].iat[i],
                         "day": out[DAY].iat[i], "value": vals.iat[i] if vals is not None else None,
                         "reason": "non-numeric volume" if bool(text.iat[i]) else "missing volume"})
    return out.loc[~miss].reset_index(drop=True)


def _long_caliper(raw: pd.DataFrame, out: pd.DataFrame, cols: list[str],
                  formula: Callable[[np.ndarray, np.ndarray], np.ndarray], src: str,
                  notes: list[str]) -> tuple[pd.DataFrame, pd.Series, pd.Series | None]:
    low = {_norm(c): c for c in cols}
    sides = [s for s in ("l", "r") if f"{s}_dmax" in low and f"{s}_dmin" in low]
    if sides:
        total = np.zeros(len(raw))
        seen = np.zeros(len(raw), dtype=bool)
        for s in sides:
            a = np.array([_num(x) for x in raw[low[f"{s}_dmax"]]])
            b = np.array([_num(x) for x in raw[low[f"{s}_dmin"]]])
            v = _caliper(formula, a, b)
            ok = ~np.isnan(v)
            total[ok] += v[ok]
            seen |= ok
        total[~seen] = np.nan
        out[VOLUME] = total
        notes.append(f"bilateral caliper sheet: volumes of sides {', '.join(s.upper() for s in sides)} summed")
        return out, pd.Series(np.zeros(len(raw), dtype=bool)), None
    lc = _find(cols, _LENGTH_NAMES)
    wc = _find(cols, _WIDTH_NAMES)
    if lc is None or wc is None:
        raise InputError(f"no volume column and no caliper length/width columns (columns: {', '.join(cols)})",
                         file=src)
    a = np.array([_num(x) for x in raw[lc]])
    b = np.array([_num(x) for x in raw[wc]])
    out[VOLUME] = _caliper(formula, a, b)
    out["length"] = np.fmax(a, b)
    out["width"] = np.fmin(a, b)
    notes.append(f"caliper sheet: volume computed from {lc!r} and {wc!r}")
    return out, pd.Series(np.zeros(len(raw), dtype=bool)), None

"""Read plate maps and plate-reader exports, and join them into one tidy per-well table.

Two shapes are accepted for both kinds of file (CSV, TSV or Excel):

* **long**: one row per well (``plate``, ``well``, ...).  A plate map gives ``role`` and the
  treatment of each well (``drug1``, ``conc1``, ``conc_unit1``, ``drug2``, ...,
  ``cell_line``, ``control_readout``); a reader export gives one numeric column per readout
  (``viability``, ``CXCL10``, ...) or a ``readout`` and a ``value`` column.
* **plate-shaped** (grid): 8 x 12 (96 wells) or 16 x 24 (384 wells) blocks with a header row
  ``1 2 3 ...`` and the row letters ``A B C ...`` in the first column.  Each grid is labelled
  by the text above it (or in its top-left corner cell) as ``key=value`` or ``key: value``
  pairs, e.g. ``plate=P1, readout=CXCL10`` (reader export) or ``plate=P1, field=drug1``
  (plate map).  ``unit=uM`` on a ``conc`` grid fills the matching unit column.

Wells are normalised to zero-padded ``A01`` form.  Every problem is an
:class:`~sensitize.core.errors.InputError` naming the file, column and rows (data rows for
long tables, file lines for plate-shaped sheets); nothing is dropped silently.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from sensitize.core.errors import InputError
from sensitize.screen.schema import canonical_unit

#: plate formats: wells -> (rows, columns)
PLATE_FORMATS: dict[int, tuple[int, int]] = {96: (8, 12), 384: (16, 24)}
ROW_LETTERS = "ABCDEFGHIJKLMNOP"

#: well roles understood by the plate layer
ROLES = ("sample", "vehicle", "untreated", "positive_control", "empty")
_ROLE_ALIASES = {
    "sample": "sample", "treated": "sample", "compound": "sample", "combination": "sample",
    "combo": "sample", "drug": "sample", "test": "sample",
    "vehicle": "vehicle", "veh": "vehicle", "dmso": "vehicle", "negative_control": "vehicle",
    "negative": "vehicle", "neg": "vehicle", "nc": "vehicle",
    "untreated": "untreated", "medium": "untreated", "media": "untreated",
    "no_treatment": "untreated",
    "positive_control": "positive_control", "positive": "positive_control", "pos": "positive_control",
    "pc": "positive_control",
    "empty": "empty", "blank": "empty", "none": "empty", "unused": "empty", "": "empty",
}
_MISSING_TOKENS = {"", "na", "nan", "n/a", "none", "-", "--", "null"}
_WELL_RE = re.compile(r"^\s*([A-Pa-p])\s*[-_ ]?\s*0*(\d{1,2})\s*$")
_KEY_ALIASES = {
    "plate": "plate", "plate id": "plate", "plate_id": "plate", "plateid": "plate",
    "barcode": "plate", "plate barcode": "plate", "plate name": "plate", "plate_name": "plate",
    "readout": "readout", "measurement": "readout", "label": "readout", "channel": "readout",
    "assay": "readout", "read": "readout",
    "field": "field", "variable": "field", "layer": "field", "content": "field",
    "unit": "unit", "units": "unit",
}
_MAP_KEYS = ("plate", "well")
_READER_KEYS = ("plate", "well")

Source = str | os.PathLike[str] | pd.DataFrame


@dataclass(frozen=True)
class _Grid:
    """One plate-shaped block found in a sheet."""

    header_line: int  # 0-based line of the 1..k header
    col0: int  # 0-based column of the row letters
    n_rows: int
    n_cols: int
    values: np.ndarray  # object array (n_rows, n_cols) of strings
    label: dict[str, str]
    free: tuple[str, ...]
    sheet: str | None


# --------------------------------------------------------------------------- wells


def _u(rows: Iterable[object]) -> list[int]:
    """Sorted unique 1-based row numbers (a long-wide export repeats a row per readout)."""
    return sorted({int(r) for r in rows if r is not None and not (isinstance(r, float) and np.isnan(r))})  # type: ignore[call-overload]


def parse_well(well: object) -> tuple[str, int] | None:
    """Return ``(row_letter, column)`` of a well name such as ``A1``, ``a01`` or ``B-12``.

    ``None`` if the name is not a well of a 96- or 384-well plate.
    """
    if well is None or (isinstance(well, float) and np.isnan(well)):
        return None
    m = _WELL_RE.match(str(well))
    if not m:
        return None
    col = int(m.group(2))
    if not 1 <= col <= 24:
        return None
    return m.group(1).upper(), col


def normalise_well(well: object) -> str | None:
    """Canonical zero-padded well name (``A1`` -> ``A01``), or ``None`` if invalid."""
    p = parse_well(well)
    return None if p is None else f"{p[0]}{p[1]:02d}"


def well_names(plate_format: int = 384) -> list[str]:
    """All canonical well names of a plate format, row by row."""
    if plate_format not in PLATE_FORMATS:
        raise InputError(f"plate format must be one of {sorted(PLATE_FORMATS)}; got {plate_format}")
    nr, nc = PLATE_FORMATS[plate_format]
    return [f"{ROW_LETTERS[r]}{c + 1:02d}" for r in range(nr) for c in range(nc)]


def _no_control_chars(s: pd.Series, source: str, column: str, rows: np.ndarray) -> None:
    bad = s.astype(str).str.contains(r"[\x00-\x1f]", regex=True).to_numpy()
    if bad.any():
        raise InputError(f"control character(s) in {column} name(s)", file=source, column=column,
                         rows=_u(rows[bad]))


def _add_well_columns(df: pd.DataFrame, source: str, rows: np.ndarray) -> pd.DataFrame:
    parsed = df["well"].map(parse_well)
    bad = parsed.isna().to_numpy()
    if bad.any():
        vals = sorted({str(v) for v in df.loc[bad, "well"]})[:5]
        raise InputError(
            f"invalid well name(s) {vals}; use A1..P24 (A01 form accepted)",
            file=source, column="well", rows=_u(rows[bad]),
        )
    df["row"] = [p[0] for p in parsed]
    df["col"] = np.array([p[1] for p in parsed], dtype=int)
    df["well"] = [f"{r}{c:02d}" for r, c in zip(df["row"], df["col"])]
    return df


def _infer_format(df: pd.DataFrame, source: str, given: int | None) -> pd.DataFrame:
    """Fill ``plate_format`` per plate: the given value, the column, or inferred from wells."""
    r_idx = df["row"].map(ROW_LETTERS.index)
    if "plate_format" in df.columns:
        fmt = pd.to_numeric(df["plate_format"], errors="coerce")
    else:
        fmt = pd.Series(np.nan, index=df.index)
    if given is not None:
        if given not in PLATE_FORMATS:
            raise InputError(f"plate_format must be 96 or 384; got {given}", file=source)
        fmt = fmt.fillna(given)
    big = ((r_idx >= 8) | (df["col"] > 12)).groupby(df["plate"]).transform("any")
    n_wells = df.groupby("plate")["well"].transform("size")
    inferred = np.where(big | (n_wells > 96), 384, 96)
    fmt = fmt.fillna(pd.Series(inferred, index=df.index)).astype(int)
    bad = ~fmt.isin(list(PLATE_FORMATS)).to_numpy()
    if bad.any():
        raise InputError("plate_format must be 96 or 384", file=source, column="plate_format",
                         rows=df["_src_row"].to_numpy()[bad])
    nrow = fmt.map(lambda f: PLATE_FORMATS[f][0])
    ncol = fmt.map(lambda f: PLATE_FORMATS[f][1])
    outside = ((r_idx >= nrow) | (df["col"] > ncol)).to_numpy()
    if outside.any():
        raise InputError(
            "well(s) outside the plate format", file=source, column="well",
            rows=df["_src_row"].to_numpy()[outside],
        )
    df["plate_format"] = fmt
    return df


# --------------------------------------------------------------------------- raw reading


def _name(src: Source, given: str | None = None) -> str:
    if given:
        return given
    if isinstance(src, pd.DataFrame):
        return "<table>"
    return Path(src).name


def _read_cells(path: Path, sheet: str | int | None) -> list[tuple[str | None, np.ndarray]]:
    """Read a file as a grid of strings; a list of ``(sheet_name, cells)``."""
    if not path.exists():
        raise FileNotFoundError(str(path))
    suffix = path.suffix.lower()
    if suffix in {".xlsx", ".xlsm", ".xls"}:
        try:
            book = pd.read_excel(path, sheet_name=sheet if sheet is not None else None,
                                 header=None, dtype=object)
        except ValueError as exc:
            raise InputError(f"cannot read the workbook: {exc}", file=path.name) from exc
        sheets = book if isinstance(book, dict) else {str(sheet): book}
        out: list[tuple[str | None, np.ndarray]] = []
        for name, frame in sheets.items():
            cells = frame.map(_cell_text).to_numpy(dtype=object)
            out.append((str(name), cells))
        return out
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    sep = "\t" if suffix in {".tsv", ".tab"} else _sniff_sep(lines)
    rows = [_split(line, sep) for line in lines]
    width = max((len(r) for r in rows), default=0)
    cells = np.full((len(rows), width), "", dtype=object)
    for i, r in enumerate(rows):
        cells[i, : len(r)] = r
    return [(None, cells)]


def _split(line: str, sep: str) -> list[str]:
    import csv

    return [c.strip() for c in next(csv.reader([line], delimiter=sep))] if line else []


def _sniff_sep(lines: list[str]) -> str:
    sample = [ln for ln in lines[:50] if ln.strip()]
    counts = {s: sum(ln.count(s) for ln in sample) for s in (",", ";", "\t")}
    return max(counts, key=lambda s: counts[s]) if any(counts.values()) else ","


def _cell_text(v: object) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _looks_long(cells: np.ndarray) -> bool:
    """A long table has a header row with a ``well`` column within its first lines."""
    for i in range(min(len(cells), 5)):
        if any(str(c).strip().lower() == "well" for c in cells[i]):
            return True
    return False


def _cells_to_frame(cells: np.ndarray) -> tuple[pd.DataFrame, int]:
    """Turn a cell grid with a header row (the first row naming ``well``) into a DataFrame."""
    hdr = 0
    for i in range(min(len(cells), 5)):
        if any(str(c).strip().lower() == "well" for c in cells[i]):
            hdr = i
            break
    header = [str(c).strip() for c in cells[hdr]]
    keep = [j for j, h in enumerate(header) if h != ""]
    body = cells[hdr + 1 :, keep]
    nonblank = np.array([any(str(x).strip() for x in r) for r in body], dtype=bool) if len(body) else np.array([], dtype=bool)
    last = int(np.flatnonzero(nonblank)[-1]) + 1 if nonblank.any() else 0
    df = pd.DataFrame(body[:last], columns=[header[j] for j in keep])
    df = df.replace({"": None})
    return df, hdr


def _read_long(src: Source, sheet: str | int | None, source: str) -> pd.DataFrame:
    if isinstance(src, pd.DataFrame):
        df = src.copy().reset_index(drop=True)
    else:
        [(_, cells)] = _read_cells(Path(src), sheet if sheet is not None else 0)
        df, _ = _cells_to_frame(cells)
    if len(df) == 0:
        raise InputError("the table is empty (no data rows)", file=source)
    df.columns = [str(c).strip() for c in df.columns]
    lower = {c.lower(): c for c in df.columns}
    ren: dict[str, str] = {}
    for want in ("plate", "well", "role", "cell_line", "readout", "value", "plate_format",
                 "control_readout"):
        if want in lower and lower[want] != want:
            ren[lower[want]] = want
    for alias, want in (("plate_id", "plate"), ("barcode", "plate"), ("control_for", "control_readout"),
                        ("cell line", "cell_line"), ("cellline", "cell_line")):
        if alias in lower and want not in df.columns and want not in ren.values():
            ren[lower[alias]] = want
    df = df.rename(columns=ren)
    df["_src_row"] = np.arange(1, len(df) + 1)
    return df


# --------------------------------------------------------------------------- grids


def _is_int_token(s: str, k: int) -> bool:
    s = s.strip()
    return s.isdigit() and int(s) == k


def _find_grids(cells: np.ndarray, source: str, sheet: str | None) -> list[_Grid]:
    grids: list[_Grid] = []
    n, w = cells.shape
    used = np.zeros_like(cells, dtype=bool)
    for i in range(n):
        j = 0
        while j < w - 1:
            if used[i, j] or not _is_int_token(str(cells[i, j + 1]), 1):
                j += 1
                continue
            k = 1
            while j + 1 + k < w and _is_int_token(str(cells[i, j + 1 + k]), k + 1):
                k += 1
            if k not in (12, 24):
                j += 1
                continue
            nr = 8 if k == 12 else 16
            letters = [str(cells[i + 1 + r, j]).strip().upper() if i + 1 + r < n else "" for r in range(nr)]
            if letters[0] != "A":
                j += 1
                continue
            if letters != list(ROW_LETTERS[:nr]):
                bad = next(r for r in range(nr) if letters[r] != ROW_LETTERS[r])
                raise InputError(
                    f"plate-shaped block with columns 1..{k} needs rows A..{ROW_LETTERS[nr - 1]}; "
                    f"file line {i + 2 + bad} has {letters[bad]!r} instead of {ROW_LETTERS[bad]!r}",
                    file=source, rows=[i + 2 + bad],
                )
            vals = cells[i + 1 : i + 1 + nr, j + 1 : j + 1 + k].copy()
            used[i : i + 1 + nr, j : j + 1 + k] = True
            grids.append(_Grid(i, j, nr, k, vals, {}, (), sheet))
            j += k + 1
    # labels: text above each grid (since the previous grid over the same columns) + corner
    out = []
    for g in grids:
        lo = -1
        for h in grids:
            overl = h.col0 <= g.col0 + g.n_cols and g.col0 <= h.col0 + h.n_cols
            end = h.header_line + h.n_rows
            if h is not g and overl and end < g.header_line:
                lo = max(lo, end)
        label_rows: list[list[str]] = []
        for r in range(lo + 1, g.header_line):
            toks = [str(cells[r, c]).strip() for c in range(w) if str(cells[r, c]).strip() and not used[r, c]]
            if toks:
                label_rows.append(toks)
        corner = str(cells[g.header_line, g.col0]).strip()
        if corner:
            label_rows.append([corner])
        pairs, free = _parse_label(label_rows)
        out.append(_Grid(g.header_line, g.col0, g.n_rows, g.n_cols, g.values, pairs, tuple(free), sheet))
    return out


def _parse_label(rows: list[list[str]]) -> tuple[dict[str, str], list[str]]:
    pairs: dict[str, str] = {}
    free: list[str] = []
    pair_re = re.compile(r"([A-Za-z][A-Za-z _]*?)\s*[:=]\s*([^;,|\t]+)")
    for toks in rows:
        i = 0
        while i < len(toks):
            t = toks[i]
            found = [(m.group(1).strip().lower(), m.group(2).strip()) for m in pair_re.finditer(t)]
            found = [(k, v) for k, v in found if k in _KEY_ALIASES or k.startswith(("drug", "conc", "unit"))]
            if found:
                for k, v in found:
                    pairs[_KEY_ALIASES.get(k, k)] = v
                i += 1
                continue
            key = t.rstrip(":=").strip().lower()
            if key in _KEY_ALIASES and i + 1 < len(toks):
                pairs[_KEY_ALIASES[key]] = toks[i + 1]
                i += 2
                continue
            if ":" not in t and "=" not in t:
                free.append(t)
            i += 1
    return pairs, free


def _grid_frames(src: str | os.PathLike[str], sheet: str | int | None, source: str,
                 second_key: str, defaults: Mapping[str, str | None]) -> pd.DataFrame:
    """Read every grid of a plate-shaped file into a long frame (plate, well, key, value)."""
    sheets = _read_cells(Path(src), sheet)
    recs = []
    for sheet_name, cells in sheets:
        grids = _find_grids(cells, source, sheet_name)
        for g in grids:
            lab = dict(g.label)
            free = list(g.free)
            for key in ("plate", second_key):
                if key not in lab and defaults.get(key):
                    lab[key] = str(defaults[key])
            missing = [k for k in ("plate", second_key) if k not in lab]
            if len(missing) == 1 and len(free) == 1:
                lab[missing[0]] = free.pop()
                missing = []
            if missing and "plate" in missing and sheet_name is not None and len(sheets) > 1:
                lab["plate"] = sheet_name
                missing.remove("plate")
            if missing:
                where = f"{source}" + (f" (sheet {sheet_name})" if sheet_name else "")
                raise InputError(
                    f"the plate-shaped block starting on file line {g.header_line + 1} is not labelled "
                    f"with {missing}; put e.g. 'plate=P1, {second_key}=...' in the line above it",
                    file=where, rows=[g.header_line + 1],
                )
            line = g.header_line + 2 + np.repeat(np.arange(g.n_rows), g.n_cols)
            wells = [f"{ROW_LETTERS[r]}{c + 1:02d}" for r in range(g.n_rows) for c in range(g.n_cols)]
            recs.append(pd.DataFrame({
                "plate": lab["plate"], "well": wells, second_key: lab[second_key],
                "value": g.values.reshape(-1), "unit": lab.get("unit"),
                "plate_format": g.n_rows * g.n_cols, "_src_row": line,
                "_sheet": sheet_name,
            }))
    if not recs:
        raise InputError(
            "no table with a 'well' column and no plate-shaped block (header 1..12 or 1..24 "
            "with row letters A..) found",
            file=source,
        )
    df = pd.concat(recs, ignore_index=True)
    dup = df.duplicated(["plate", second_key, "well"], keep=False).to_numpy()
    if dup.any():
        first = df.loc[dup].iloc[0]
        raise InputError(
            f"plate {first['plate']!r} has more than one block for {second_key} {first[second_key]!r}",
            file=source, rows=sorted(set(df.loc[dup, "_src_row"].tolist()))[:20],
        )
    return df


# --------------------------------------------------------------------------- plate maps


def read_plate_map(
    src: Source,
    *,
    sheet: str | int | None = None,
    layout: Literal["auto", "long", "grid"] = "auto",
    plate: str | None = None,
    plate_format: int | None = None,
    source: str | None = None,
) -> pd.DataFrame:
    """Read a plate map: what is in each well.

    Parameters
    ----------
    src
        Path to a CSV/TSV/Excel file, or a DataFrame in the long layout.
    sheet
        Excel sheet (default: the first for long tables, all sheets for grids).
    layout
        ``"long"`` (one row per well), ``"grid"`` (plate-shaped blocks, one per field and
        plate) or ``"auto"`` (long if a ``well`` column header is found).
    plate
        Plate id for a plate-shaped file holding one plate whose blocks are not labelled
        with a plate.
    plate_format
        96 or 384; by default inferred per plate from the wells present.
    source
        Name used in error messages (default: the file name).

    Returns
    -------
    pandas.DataFrame
        One row per well: ``plate, well, row, col, plate_format, role, control_readout,
        cell_line, drug1, conc1, conc_unit1, drug2, conc2, conc_unit2, ...`` plus any other
        columns of the input (kept as annotations).

    Raises
    ------
    InputError
        Unknown role, invalid or duplicated wells, non-numeric or negative
        concentrations, a sample well without a drug, unknown units.

    Notes
    -----
    Roles: ``sample``, ``vehicle`` (the 0-dose reference, e.g. DMSO), ``untreated``
    (medium only), ``positive_control`` (for the readout named in ``control_readout``,
    e.g. IFN-gamma for CXCL10 or a killing control for viability; an empty
    ``control_readout`` makes it a positive control for every readout) and ``empty``.
    Common spellings (``DMSO``, ``neg``, ``pos``, ``blank``) are accepted.
    """
    name = _name(src, source)
    use_long = layout == "long" or (
        layout == "auto" and (isinstance(src, pd.DataFrame) or _looks_long(_read_cells(Path(src), sheet if sheet is not None else 0)[0][1]))
    )
    if use_long:
        df = _read_long(src, sheet, name)
    else:
        if isinstance(src, pd.DataFrame):
            raise InputError("a DataFrame plate map must be in the long layout", file=name)
        g = _grid_frames(src, sheet, name, "field", {"plate": plate})
        g["field"] = g["field"].astype(str).str.strip()
        units = g.dropna(subset=["unit"])
        df = g.pivot(index=["plate", "well"], columns="field", values="value").reset_index()
        df.columns.name = None
        src_rows = g.groupby(["plate", "well"], sort=False)["_src_row"].min()
        df = df.merge(src_rows.reset_index(), on=["plate", "well"], how="left")
        fmt = g.groupby(["plate", "well"])["plate_format"].first().reset_index()
        df = df.merge(fmt, on=["plate", "well"], how="left")
        for f, sub in units.groupby("field"):
            m = re.match(r"^conc(\d+)$", str(f))
            if m:
                ucol = f"conc_unit{m.group(1)}"
                if ucol not in df.columns:
                    umap = sub.set_index(["plate", "well"])["unit"].to_dict()
                    df[ucol] = [umap.get((p, w)) for p, w in zip(df["plate"], df["well"])]
        df = df.replace({"": None})
    return _validate_map(df, name, plate_format)


def _validate_map(df: pd.DataFrame, source: str, plate_format: int | None) -> pd.DataFrame:
    rows = df["_src_row"].to_numpy()
    for c in ("plate", "well", "role"):
        if c not in df.columns:
            raise InputError(
                f"the plate map needs columns plate, well and role; found {[c for c in df.columns if not c.startswith('_')]}",
                file=source, column=c,
            )
    df = df.copy()
    # unitK aliases
    for c in list(df.columns):
        m = re.match(r"^unit(\d+)$", str(c))
        if m and f"conc_unit{m.group(1)}" not in df.columns:
            df = df.rename(columns={c: f"conc_unit{m.group(1)}"})
    bad = df["plate"].isna().to_numpy() | (df["plate"].astype(str).str.strip() == "").to_numpy()
    if bad.any():
        raise InputError("empty plate id", file=source, column="plate", rows=rows[bad])
    df["plate"] = df["plate"].astype(str).str.strip()
    _no_control_chars(df["plate"], source, "plate", rows)
    df = _add_well_columns(df, source, rows)
    dup = df.duplicated(["plate", "well"], keep=False).to_numpy()
    if dup.any():
        raise InputError("duplicated well(s) in the plate map (same plate and well twice)",
                         file=source, column="well", rows=rows[dup])
    role_raw = df["role"].fillna("").astype(str).str.strip().str.lower().str.replace(" ", "_").str.replace("-", "_")
    role = role_raw.map(_ROLE_ALIASES)
    bad = role.isna().to_numpy()
    if bad.any():
        vals = sorted(set(df.loc[bad, "role"].astype(str)))[:5]
        raise InputError(f"unknown role(s) {vals}; use one of {list(ROLES)}",
                         file=source, column="role", rows=rows[bad])
    df["role"] = role
    # drugs and concentrations
    ks = sorted(int(m.group(1)) for c in df.columns if (m := re.match(r"^drug(\d+)$", str(c))))
    if not ks:
        df["drug1"], df["conc1"], df["conc_unit1"] = None, np.nan, None
        ks = [1]
    if 2 not in ks:
        df["drug2"], df["conc2"], df["conc_unit2"] = None, np.nan, None
        ks = sorted([*ks, 2])
    for k in ks:
        d, c, u = f"drug{k}", f"conc{k}", f"conc_unit{k}"
        if c not in df.columns:
            df[c] = np.nan
        if u not in df.columns:
            df[u] = df["conc_unit"] if "conc_unit" in df.columns else None
        dn = df[d].where(df[d].notna(), None)
        dn = dn.map(lambda x: None if x is None or str(x).strip() == "" else str(x).strip())
        df[d] = dn
        present = dn.notna().to_numpy()
        raw = df[c]
        num = pd.to_numeric(raw, errors="coerce")
        nonnum = (num.isna() & raw.notna() & (raw.astype(str).str.strip() != "")).to_numpy()
        if nonnum.any():
            raise InputError(f"non-numeric concentration(s) {sorted({str(v) for v in raw[nonnum]})[:5]}",
                             file=source, column=c, rows=rows[nonnum])
        if (num < 0).any():
            raise InputError("negative concentration(s)", file=source, column=c, rows=rows[(num < 0).to_numpy()])
        miss = present & num.isna().to_numpy() & (df["role"] == "sample").to_numpy()
        if miss.any():
            raise InputError(f"drug{k} is named but conc{k} is empty", file=source, column=c, rows=rows[miss])
        stray = ~present & (num.fillna(0) > 0).to_numpy()
        if stray.any():
            raise InputError(f"conc{k} given for a well without drug{k}", file=source, column=d, rows=rows[stray])
        df[c] = num.where(present, 0.0).astype(float)
        uraw = df[u]
        canon = uraw.map(canonical_unit)
        given = (uraw.notna() & (uraw.astype(str).str.strip() != "")).to_numpy()
        is_sample = (df["role"] == "sample").to_numpy()
        unknown = given & canon.isna().to_numpy() & present & is_sample
        if unknown.any():
            raise InputError(f"unknown concentration unit(s) {sorted({str(v) for v in uraw[unknown]})[:5]}; use pM, nM, uM, mM or M",
                             file=source, column=u, rows=rows[unknown])
        # control wells (e.g. IFN-gamma in ng/mL) keep a unit the screen table does not use
        keep_raw = given & canon.isna().to_numpy() & present & ~is_sample
        unit_out = canon.astype(object).where(~keep_raw, uraw.astype(str).str.strip())
        df[u] = unit_out.where(present, None)
    if "conc_unit" in df.columns:
        df = df.drop(columns=["conc_unit"])
    any_drug = np.zeros(len(df), dtype=bool)
    for k in ks:
        any_drug |= df[f"drug{k}"].notna().to_numpy()
    bad = (df["role"] == "sample").to_numpy() & ~any_drug
    if bad.any():
        raise InputError("sample well(s) without any drug", file=source, column="drug1", rows=rows[bad])
    if "control_readout" not in df.columns:
        df["control_readout"] = None
    cr = df["control_readout"].map(lambda x: None if x is None or (isinstance(x, float) and np.isnan(x)) or str(x).strip() == "" else str(x).strip())
    df["control_readout"] = cr.where(df["role"] == "positive_control", None)
    if "cell_line" not in df.columns:
        df["cell_line"] = None
    df["cell_line"] = df["cell_line"].map(lambda x: None if x is None or (isinstance(x, float) and np.isnan(x)) or str(x).strip() == "" else str(x).strip())
    df = _infer_format(df, source, plate_format)
    front = ["plate", "well", "row", "col", "plate_format", "role", "control_readout", "cell_line"]
    drugcols = [x for k in ks for x in (f"drug{k}", f"conc{k}", f"conc_unit{k}")]
    rest = [c for c in df.columns if c not in front and c not in drugcols]
    return df[front + drugcols + rest].reset_index(drop=True)


# --------------------------------------------------------------------------- reader exports


def read_reader_export(
    src: Source,
    *,
    sheet: str | int | None = None,
    layout: Literal["auto", "long", "grid"] = "auto",
    plate: str | None = None,
    readout: str | None = None,
    source: str | None = None,
) -> pd.DataFrame:
    """Read a plate-reader export into a long table ``plate, well, readout, raw``.

    Parameters
    ----------
    src
        Path (CSV/TSV/Excel) or DataFrame.  Long exports have ``plate`` and ``well`` and
        either one numeric column per readout or ``readout`` and ``value`` columns.
        Plate-shaped exports have one labelled grid per plate and readout.
    sheet, layout, source
        As for :func:`read_plate_map`.
    plate, readout
        Defaults for grids that are not labelled with a plate or a readout.

    Returns
    -------
    pandas.DataFrame
        ``plate, well, readout, raw`` (float; empty cells and ``NA`` become NaN and are
        flagged ``missing_read`` downstream), one row per plate x well x readout.

    Raises
    ------
    InputError
        Non-numeric readings (e.g. ``OVRFLW``), invalid or duplicated wells.
    """
    name = _name(src, source)
    use_long = layout == "long" or (
        layout == "auto" and (isinstance(src, pd.DataFrame) or _looks_long(_read_cells(Path(src), sheet if sheet is not None else 0)[0][1]))
    )
    if use_long:
        df = _read_long(src, sheet, name)
        for c in ("plate", "well"):
            if c not in df.columns:
                raise InputError(f"the reader export needs columns plate and well; found {[c for c in df.columns if not c.startswith('_')]}",
                                 file=name, column=c)
        if "readout" in df.columns and "value" not in df.columns:
            alias = next((c for c in df.columns if c.lower() in ("raw", "signal", "reading")), None)
            if alias is None:
                raise InputError("the reader export has a 'readout' column but no 'value' (or raw/signal) column",
                                 file=name, column="value")
            df = df.rename(columns={alias: "value"})
        if "readout" in df.columns:
            long = df[["plate", "well", "readout", "value", "_src_row"]].copy()
            bad = long["readout"].isna().to_numpy()
            if bad.any():
                raise InputError("empty readout name", file=name, column="readout", rows=_u(long["_src_row"].to_numpy()[bad]))
        else:
            skip = {"plate", "well", "row", "col", "column", "plate_format", "_src_row", "cell_line", "time", "temperature"}
            vcols = [c for c in df.columns if c.lower() not in skip and not c.startswith("_")]
            if not vcols:
                raise InputError("the reader export has no readout column (one numeric column per readout, or readout + value)",
                                 file=name)
            long = df.melt(id_vars=["plate", "well", "_src_row"], value_vars=vcols, var_name="readout", value_name="value")
        long["_sheet"] = None
    else:
        if isinstance(src, pd.DataFrame):
            raise InputError("a DataFrame reader export must be in the long layout", file=name)
        long = _grid_frames(src, sheet, name, "readout", {"plate": plate, "readout": readout})
    long = long.reset_index(drop=True)
    rows = long["_src_row"].to_numpy()
    long["readout"] = long["readout"].astype(str).str.strip()
    bad = long["plate"].isna().to_numpy() | (long["plate"].astype(str).str.strip() == "").to_numpy()
    if bad.any():
        raise InputError("empty plate id", file=name, column="plate", rows=_u(rows[bad]))
    long["plate"] = long["plate"].astype(str).str.strip()
    _no_control_chars(long["plate"], name, "plate", rows)
    _no_control_chars(long["readout"], name, "readout", rows)
    long = _add_well_columns(long, name, rows)
    txt = long["value"].map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip())
    missing = txt.str.lower().isin(_MISSING_TOKENS)
    num = pd.to_numeric(txt.where(~missing, None), errors="coerce")
    nonnum = (num.isna() & ~missing).to_numpy()
    if nonnum.any():
        vals = sorted(set(txt[nonnum]))[:5]
        raise InputError(
            f"non-numeric reading(s) {vals} (saturated or error wells must be re-read or "
            "entered as empty, which is flagged 'missing_read')",
            file=name, column="value" if use_long else None, rows=_u(rows[nonnum]),
        )
    inf = np.isinf(num.to_numpy(dtype=float, na_value=np.nan))
    if inf.any():
        raise InputError("infinite reading(s)", file=name, rows=_u(rows[inf]))
    long["raw"] = num.astype(float)
    dup = long.duplicated(["plate", "well", "readout"], keep=False).to_numpy()
    if dup.any():
        raise InputError("duplicated well(s) in the reader export (same plate, well and readout twice)",
                         file=name, column="well", rows=_u(rows[dup]))
    return long[["plate", "well", "row", "col", "readout", "raw", "_src_row"]].reset_index(drop=True)


# --------------------------------------------------------------------------- join


def join_plates(
    plate_map: pd.DataFrame,
    reads: pd.DataFrame,
    *,
    unmapped: Literal["error", "empty"] = "error",
    unread: Literal["error", "flag"] = "error",
    map_source: str = "plate map",
    reads_source: str = "reader export",
) -> pd.DataFrame:
    """Join a validated plate map and reader export into one row per well x readout.

    Parameters
    ----------
    plate_map
        Output of :func:`read_plate_map`.
    reads
        Output of :func:`read_reader_export`.
    unmapped
        A reading for a well absent from the map: ``"error"`` (default) or ``"empty"``
        (kept with role ``empty`` and flagged ``unmapped``).
    unread
        A non-empty map well with no reading for a readout measured on its plate:
        ``"error"`` (default) or ``"flag"`` (kept with ``raw`` NaN, flagged
        ``missing_read``).  A plate of the map with no reading at all, or a plate read but
        absent from the map, is always an error.
    map_source, reads_source
        Names for error messages.

    Returns
    -------
    pandas.DataFrame
        Plate map columns plus ``readout``, ``raw`` and ``well_flag`` (``;``-separated
        flags, empty when none).
    """
    pm = plate_map.copy()
    rd = reads.copy()
    if "_src_row" not in pm.columns:
        pm["_src_row"] = np.arange(1, len(pm) + 1)
    if "_src_row" not in rd.columns:
        rd["_src_row"] = np.arange(1, len(rd) + 1)
    map_plates = set(pm["plate"])
    read_plates = set(rd["plate"])
    extra = sorted(read_plates - map_plates)
    if extra:
        rows = _u(rd.loc[rd["plate"].isin(extra), "_src_row"])
        raise InputError(f"plate(s) {extra[:5]} are in the reader export but not in the plate map "
                         f"(map plates: {sorted(map_plates)[:10]})", file=reads_source, column="plate", rows=rows)
    unread_plates = sorted(map_plates - read_plates)
    if unread_plates:
        raise InputError(f"plate(s) {unread_plates[:5]} of the plate map have no reading in the reader export",
                         file=map_source, column="plate",
                         rows=pm.loc[pm["plate"].isin(unread_plates), "_src_row"].to_numpy()[:50])
    rd = rd.drop(columns=[c for c in ("row", "col") if c in rd.columns])
    key = ["plate", "well"]
    # readings for wells not in the map
    known = pd.MultiIndex.from_frame(pm[key])
    rk = pd.MultiIndex.from_frame(rd[key])
    orphan = ~rk.isin(known)
    flags_extra: pd.DataFrame | None = None
    if orphan.any():
        if unmapped == "error":
            raise InputError(
                f"{int(orphan.sum())} reading(s) for wells missing from the plate map, e.g. "
                f"{rd.loc[orphan, 'plate'].iloc[0]} {rd.loc[orphan, 'well'].iloc[0]}; add them to the map "
                "(role 'empty' if unused) or pass unmapped='empty'",
                file=reads_source, column="well", rows=_u(rd.loc[orphan, "_src_row"]),
            )
        add = rd.loc[orphan, key].drop_duplicates().copy()
        parsed = add["well"].map(parse_well)
        add["row"] = [p[0] for p in parsed]
        add["col"] = [p[1] for p in parsed]
        add["role"] = "empty"
        fmt = pm.groupby("plate")["plate_format"].first()
        add["plate_format"] = add["plate"].map(fmt)
        cl = pm.groupby("plate")["cell_line"].first()
        add["cell_line"] = add["plate"].map(cl)
        add["_src_row"] = np.nan
        flags_extra = add[key].assign(_unmapped=True)
        pm = pd.concat([pm, add], ignore_index=True)
    # cross with readouts per plate
    readouts = rd.groupby("plate")["readout"].unique()
    cross = pm[key].assign(readout=pm["plate"].map(readouts)).explode("readout")
    joined = cross.merge(rd[[*key, "readout", "raw", "_src_row"]].rename(columns={"_src_row": "_read_row"}),
                         on=[*key, "readout"], how="left", indicator=True)
    no_read = (joined["_merge"] == "left_only").to_numpy()
    role = joined[key].merge(pm[[*key, "role", "_src_row"]], on=key, how="left")
    nonempty = (role["role"] != "empty").to_numpy()
    if (no_read & nonempty).any() and unread == "error":
        bad = no_read & nonempty
        ex = joined.loc[bad].iloc[0]
        raise InputError(
            f"{int(bad.sum())} map well(s) have no reading, e.g. plate {ex['plate']} well {ex['well']} "
            f"readout {ex['readout']}; pass unread='flag' to keep them flagged 'missing_read'",
            file=map_source, column="well", rows=sorted(set(role.loc[bad, "_src_row"].dropna().astype(int)))[:50],
        )
    out = joined.drop(columns=["_merge"]).merge(pm, on=key, how="left")
    flag = np.where(out["raw"].isna() & (out["role"] != "empty"), "missing_read", "")
    if flags_extra is not None:
        um = out[key].merge(flags_extra, on=key, how="left")["_unmapped"].eq(True).to_numpy(dtype=bool)
        flag = np.where(um, np.where(flag == "", "unmapped", flag + ";unmapped"), flag)
    out["well_flag"] = flag
    out = out.drop(columns=[c for c in ("_src_row", "_read_row", "_sheet") if c in out.columns])
    order = ["plate", "well", "row", "col", "plate_format", "role", "control_readout", "cell_line"]
    drugcols = [c for c in out.columns if re.match(r"^(drug|conc|conc_unit)\d+$", str(c))]
    drugcols = sorted(drugcols, key=lambda c: (int(re.sub(r"\D", "", c)), ["drug", "conc", "conc_unit"].index(re.sub(r"\d", "", c))))
    rest = [c for c in out.columns if c not in order and c not in drugcols and c not in ("readout", "raw", "well_flag")]
    out = out[[*order, *drugcols, *rest, "readout", "raw", "well_flag"]]
    return out.sort_values(["plate", "readout", "row", "col"]).reset_index(drop=True)


def read_plates(
    plate_map: Source,
    reader_export: Source | Iterable[Source],
    *,
    unmapped: Literal["error", "empty"] = "error",
    unread: Literal["error", "flag"] = "error",
    plate_format: int | None = None,
    sheet: str | int | None = None,
) -> pd.DataFrame:
    """Read a plate map and one or more reader exports and join them (see :func:`join_plates`).

    Several reader exports (e.g. one per readout or per plate) are concatenated; a
    plate x well x readout given twice across them is an error.
    """
    pm = read_plate_map(plate_map, plate_format=plate_format, sheet=sheet)
    if isinstance(reader_export, pd.DataFrame | str | os.PathLike):
        srcs: list[Source] = [reader_export]
    else:
        srcs = list(reader_export)
    parts = []
    names = []
    for s in srcs:
        r = read_reader_export(s, sheet=sheet)
        r["_file"] = _name(s)
        parts.append(r)
        names.append(_name(s))
    rd = pd.concat(parts, ignore_index=True)
    dup = rd.duplicated(["plate", "well", "readout"], keep=False).to_numpy()
    if dup.any():
        files = sorted(set(rd.loc[dup, "_file"]))
        raise InputError(f"the same plate, well and readout appear in several reader exports {files}",
                         file=", ".join(files), column="well", rows=_u(rd.loc[dup, "_src_row"]))
    return join_plates(pm, rd.drop(columns=["_file"]), unmapped=unmapped, unread=unread,
                       map_source=_name(plate_map), reads_source=", ".join(names))


def write_grid_export(path: str | os.PathLike[str], reads: pd.DataFrame, *, value: str = "raw",
                      decimals: int | None = None, key: str = "readout") -> Path:
    """Write a long table (``plate, well, <key>, <value>``) as a plate-shaped CSV.

    One block per plate and ``key`` value, labelled ``plate=..., <key>=...``; readable by
    :func:`read_reader_export` (``key='readout'``) and :func:`read_plate_map`
    (``key='field'``).
    """
    from sensitize.core.output import atomic_write_text

    lines: list[str] = []
    df = reads.copy()
    parsed = df["well"].map(parse_well)
    df["_r"] = [ROW_LETTERS.index(p[0]) for p in parsed]
    df["_c"] = [p[1] for p in parsed]
    for (plate, k), sub in df.groupby(["plate", key], sort=False):
        fmt = int(sub["plate_format"].iloc[0]) if "plate_format" in sub.columns else (384 if (sub["_r"].max() >= 8 or sub["_c"].max() > 12) else 96)
        nr, nc = PLATE_FORMATS[fmt]
        grid = np.full((nr, nc), "", dtype=object)
        vals = sub[value]
        for r, c, v in zip(sub["_r"], sub["_c"], vals):
            if v is None or (isinstance(v, float) and np.isnan(v)):
                s = ""
            elif decimals is not None and isinstance(v, float | np.floating):
                s = f"{v:.{decimals}f}"
            else:
                s = str(v)
            grid[r, c - 1] = s
        lines.append(f"plate={plate},{key}={k}")
        lines.append("," + ",".join(str(i) for i in range(1, nc + 1)))
        for r in range(nr):
            lines.append(ROW_LETTERS[r] + "," + ",".join(grid[r]))
        lines.append("")
    return atomic_write_text(path, "\n".join(lines))

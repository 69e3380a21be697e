"""Low-level helpers to read the delimited text and spreadsheet files labs produce.

Usable by every reader in :mod:`sensitize.io`:

* :func:`read_text` reads a file (plain or gzip-compressed), removes a byte-order mark
  (UTF-8, UTF-16), falls back to Windows-1252 when the bytes are not UTF-8, and turns
  Windows (CR LF) and old-Mac (CR) line endings into LF.
* :func:`sniff_delimiter` picks the field separator among ``,``, ``;``, tab and ``|`` as
  the one that splits the first lines into the same number (> 1) of fields.
* :func:`sniff_decimal` detects a decimal comma (``0,5``) in ``;``- or tab-separated text.
* :func:`read_rows` returns the cells of any text or Excel file as lists of strings,
  with their 1-based line numbers (for layouts that are not one header + records).
* :func:`read_frame` reads CSV/TSV/TXT (optionally ``.gz``), Excel (``.xlsx``, ``.xls``)
  or Parquet into a :class:`pandas.DataFrame` with stripped column names and a
  ``_row`` column holding the 1-based data-row number of each record (row 1 is the first
  row under the header, as in :class:`~sensitize.core.errors.InputError`).  An optional
  second header row holding units (``nM``, ``uM``...) is recognised and moved to
  ``df.attrs["units_row"]``.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sensitize.core.errors import InputError
from sensitize.screen.schema import canonical_unit

ROW = "_row"  #: name of the hidden column holding 1-based data-row numbers

_DELIMS = (",", ";", "\t", "|")
_EXCEL = (".xlsx", ".xlsm", ".xls")
_PARQUET = (".parquet", ".pq")
_DEC_COMMA = re.compile(r"^[-+]?\d+,\d+(?:[eE][-+]?\d+)?$")
_DEC_DOT = re.compile(r"^[-+]?\d*\.\d+(?:[eE][-+]?\d+)?$")


@dataclass(frozen=True)
class TextInfo:
    """What was found while decoding a text file."""

    encoding: str
    bom: bool
    newline: str
    gzip: bool


def _suffixes(path: Path) -> list[str]:
    s = [x.lower() for x in path.suffixes]
    if s and s[-1] == ".gz":
        s = s[:-1]
    return s


def file_kind(path: str | Path) -> str:
    """``"excel"``, ``"parquet"`` or ``"text"`` from the file name (``.gz`` ignored)."""
    s = _suffixes(Path(path))
    last = s[-1] if s else ""
    if last in _EXCEL:
        return "excel"
    if last in _PARQUET:
        return "parquet"
    return "text"


def read_bytes(path: str | Path) -> tuple[bytes, bool]:
    """Raw bytes of ``path``, gunzipped when gzip-compressed (by content, not name)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise InputError("file not found", file=str(path)) from None
    except OSError as e:
        raise InputError(f"cannot read the file ({e.strerror})", file=str(path)) from None
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw), True
        except (OSError, EOFError) as e:
            raise InputError(f"corrupt gzip file ({e})", file=p.name) from None
    return raw, False


def decode(raw: bytes) -> tuple[str, str, bool]:
    """Decode bytes: BOM-aware UTF-8/UTF-16, else UTF-8, else Windows-1252."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", errors="replace"), "utf-8", True
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16", errors="replace"), "utf-16", True
    try:
        return raw.decode("utf-8"), "utf-8", False
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace"), "cp1252", False


def read_text(path: str | Path) -> tuple[str, TextInfo]:
    """Text of a file with BOM removed and line endings normalised to ``\\n``."""
    raw, gz = read_bytes(path)
    text, enc, bom = decode(raw)
    if "\r\n" in text:
        nl = "\r\n"
    elif "\r" in text:
        nl = "\r"
    else:
        nl = "\n"
    if nl != "\n":
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text, TextInfo(encoding=enc, bom=bom, newline=nl, gzip=gz)


def _field_counts(lines: list[str], delim: str) -> list[int]:
    return [len(r) for r in csv.reader(lines, delimiter=delim, quotechar='"')]


def sniff_delimiter(text: str, n_lines: int = 30) -> str:
    """The separator that splits the first non-empty lines most consistently.

    A candidate must give more than one field on the first line; among those, the one
    whose field count is the same on the most lines wins (ties: more fields, then the
    order ``,``, ``;``, tab, ``|``).  Defaults to ``,``.
    """
    lines = [ln for ln in text.split("\n")[: n_lines * 3] if ln.strip()][:n_lines]
    if not lines:
        return ","
    best: tuple[float, int, int] | None = None
    choice = ","
    for i, d in enumerate(_DELIMS):
        counts = _field_counts(lines, d)
        if not counts or counts[0] < 2:
            continue
        mode = max(set(counts), key=counts.count)
        share = counts.count(mode) / len(counts)
        key = (share, mode, -i)
        if best is None or key > best:
            best, choice = key, d
    return choice


def sniff_decimal(text: str, delim: str, n_lines: int = 200) -> str:
    """``","`` when numbers use a decimal comma (only possible when ``delim`` is not ``,``)."""
    if delim == ",":
        return "."
    lines = [ln for ln in text.split("\n")[1 : n_lines + 1] if ln.strip()]
    n_comma = n_dot = 0
    for row in csv.reader(lines, delimiter=delim, quotechar='"'):
        for cell in row:
            c = cell.strip()
            if _DEC_COMMA.match(c):
                n_comma += 1
            elif _DEC_DOT.match(c):
                n_dot += 1
    return "," if n_comma > 0 and n_comma >= n_dot else "."


def _cell_str(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, float) and v.is_integer():
        return repr(v)
    return str(v).strip()


def read_rows(path: str | Path, *, sheet: int | str | None = None) -> tuple[list[tuple[int, list[str]]], str]:
    """All non-empty rows of a text or Excel file as ``(line_number, cells)``.

    Returns the rows and the decimal mark (``"."`` or ``","``).  Trailing empty cells are
    removed; line numbers are 1-based physical lines (spreadsheet rows).
    """
    kind = file_kind(path)
    name = Path(path).name
    rows: list[tuple[int, list[str]]] = []
    if kind == "excel":
        try:
            grid = pd.read_excel(path, sheet_name=0 if sheet is None else sheet, header=None, dtype=object)
        except (ValueError, KeyError) as e:
            raise InputError(f"cannot read the sheet ({e})", file=name) from None
        for i, rec in enumerate(grid.itertuples(index=False), start=1):
            cells = [_cell_str(v) for v in rec]
            while cells and cells[-1] == "":
                cells.pop()
            if cells:
                rows.append((i, cells))
        return rows, "."
    if kind == "parquet":
        raise InputError("a Parquet file holds a table, not a matrix layout", file=name)
    text, _ = read_text(path)
    delim = sniff_delimiter(text)
    dec = sniff_decimal(text, delim)
    for i, cells in enumerate(csv.reader(text.split("\n"), delimiter=delim, quotechar='"'), start=1):
        cs = [c.strip() for c in cells]
        while cs and cs[-1] == "":
            cs.pop()
        if cs:
            rows.append((i, cs))
    return rows, dec


def _nonempty_rows(frame: pd.DataFrame) -> np.ndarray:
    """Boolean mask of rows with at least one non-blank cell."""
    if frame.shape[1] == 0:
        return np.zeros(len(frame), dtype=bool)
    arr = frame.to_numpy(dtype=object)
    filled = pd.notna(arr) & (arr != "")
    return np.asarray(filled.any(axis=1), dtype=bool)


def _is_units_row(values: list[Any]) -> bool:
    """True when every non-empty cell is a unit (``nM``, ``uM``, ``%``...) and one is a
    concentration unit."""
    cells = [_cell_str(v) for v in values]
    nonempty = [c for c in cells if c]
    if not nonempty:
        return False
    conc = [c for c in nonempty if canonical_unit(c.strip("()[]")) is not None]
    other_ok = all(
        canonical_unit(c.strip("()[]")) is not None or c.strip("()[]") in ("%", "1/h", "fraction", "-")
        for c in nonempty
    )
    return bool(conc) and other_ok


def _dedupe(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if n in seen:
            seen[n] += 1
            out.append(f"{n}.{seen[n]}")
        else:
            seen[n] = 0
            out.append(n)
    return out


def _two_row_names(first: list[Any], second: list[Any]) -> tuple[list[str], dict[str, str] | None]:
    """Column names from a two-row header.

    Empty cells of the first row (merged spreadsheet cells) take the name on their left.
    When the second row only holds units, names come from the first row and the units are
    returned; otherwise names are ``"first second"``.
    """
    top: list[str] = []
    last = ""
    for v in first:
        s = _cell_str(v)
        last = s or last
        top.append(s or last)
    sub = [_cell_str(v) for v in second] + [""] * (len(top) - len(second))
    if _is_units_row(sub):
        names = _dedupe([t or f"column{j + 1}" for j, t in enumerate(top)])
        return names, {n: u for n, u in zip(names, sub) if u}
    names = [f"{t} {s}".strip() if s else t for t, s in zip(top, sub)]
    return _dedupe([n or f"column{j + 1}" for j, n in enumerate(names)]), None


def read_frame(
    path: str | Path,
    *,
    sheet: int | str | None = None,
    header_rows: int | str = "auto",
) -> pd.DataFrame:
    """Read a CSV/TSV/TXT (``.gz`` allowed), Excel or Parquet table.

    Parameters
    ----------
    path
        The file.
    sheet
        Excel sheet (name or 0-based index); default the first.
    header_rows
        ``1``, ``2`` (a two-row header: names, then units or sub-names) or ``"auto"``
        (one header row, plus a second one when the first data row holds only units).

    Returns
    -------
    pandas.DataFrame
        All cells as read by pandas (numbers parsed, decimal commas handled), column names
        stripped, rows that are entirely empty removed, and a ``_row`` column with the
        1-based data-row number of each record.  ``attrs`` holds ``units_row`` (column ->
        unit from a units header row, or ``None``), and for text files ``delimiter``,
        ``decimal``, ``encoding``, ``bom``, ``newline`` and ``gzip``.

    Raises
    ------
    InputError
        When the file is missing, empty or cannot be parsed.
    """
    p = Path(path)
    name = p.name
    kind = file_kind(p)
    attrs: dict[str, Any] = {}
    if kind == "parquet":
        try:
            df = pd.read_parquet(p)
        except FileNotFoundError:
            raise InputError("file not found", file=str(path)) from None
        except Exception as e:  # pyarrow raises several types
            raise InputError(f"cannot read the Parquet file ({e})", file=name) from None
        df.columns = _dedupe([str(c).strip() for c in df.columns])
        grid_header: list[list[Any]] = []
    else:
        if kind == "excel":
            if not p.exists():
                raise InputError("file not found", file=str(path))
            try:
                raw = pd.read_excel(p, sheet_name=0 if sheet is None else sheet, header=None, dtype=object)
            except (ValueError, KeyError) as e:
                raise InputError(f"cannot read the sheet ({e})", file=name) from None
            except Exception as e:
                raise InputError(f"cannot read the Excel file ({e})", file=name) from None
        else:
            text, info = read_text(p)
            if not text.strip():
                raise InputError("the file is empty", file=name)
            delim = sniff_delimiter(text)
            dec = sniff_decimal(text, delim)
            attrs.update(
                delimiter=delim, decimal=dec, encoding=info.encoding, bom=info.bom,
                newline=info.newline, gzip=info.gzip,
            )
            try:
                raw = pd.read_csv(
                    io.StringIO(text), sep=delim, decimal=dec, header=None, dtype=str,
                    skip_blank_lines=False, keep_default_na=False, quotechar='"',
                )
            except (pd.errors.ParserError, ValueError) as e:
                raise InputError(f"cannot parse the file as {delim!r}-separated text ({e})", file=name) from None
            except pd.errors.EmptyDataError:
                raise InputError("the file is empty", file=name) from None
            attrs["_text_numbers"] = dec
        raw = raw.reset_index(drop=True)
        # drop leading empty lines
        nonempty = _nonempty_rows(raw)
        if not nonempty.any():
            raise InputError("the file is empty", file=name)
        first = int(np.flatnonzero(nonempty)[0])
        raw = raw.iloc[first:].reset_index(drop=True)
        grid_header = [list(raw.iloc[0])]
        if len(raw) > 1:
            grid_header.append(list(raw.iloc[1]))
        n_header = 1
        units_row: dict[str, str] | None = None
        if header_rows == 2 or (header_rows == "auto" and len(raw) > 1 and _is_units_row(grid_header[1])):
            if len(grid_header) < 2:
                raise InputError("a two-row header was requested but the file has one row", file=name)
            names, units_row = _two_row_names(grid_header[0], grid_header[1])
            n_header = 2
        elif header_rows in (1, "auto"):
            names = _dedupe([_cell_str(v) or f"column{j + 1}" for j, v in enumerate(grid_header[0])])
        else:
            raise ValueError(f"header_rows must be 1, 2 or 'auto', not {header_rows!r}")
        body = raw.iloc[n_header:].reset_index(drop=True)
        body.columns = names
        body[ROW] = np.arange(1, len(body) + 1)
        if len(body):
            body = body.loc[_nonempty_rows(body.drop(columns=[ROW]))].reset_index(drop=True)
        if kind == "excel":
            df = body.infer_objects()
            for c in df.columns:
                if c != ROW and df[c].dtype == object:
                    conv = pd.to_numeric(df[c], errors="coerce")
                    if conv.notna().sum() == df[c].notna().sum():
                        df[c] = conv
        else:
            df = _parse_text_numbers(body, attrs.pop("_text_numbers"))
            blank = df.drop(columns=[ROW]).isna().all(axis=1).to_numpy()  # whitespace-only rows
            if blank.any():
                df = df.loc[~blank].reset_index(drop=True)
        attrs["units_row"] = units_row
        df.attrs.update(attrs)
        return df
    df[ROW] = np.arange(1, len(df) + 1)
    attrs["units_row"] = None
    df.attrs.update(attrs)
    return df


def to_float(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """Parse strings to floats with correct rounding (Python's ``float``).

    Returns ``(values, ok)``: ``ok`` is False where a cell is not a number (its value is
    then NaN).  ``pandas.to_numeric`` and the C CSV parser can be off by one unit in the
    last place; this parser gives the double nearest to the decimal text.
    """
    arr = list(values)
    try:
        out = np.fromiter((float(v) for v in arr), dtype=float, count=len(arr))
        return out, np.ones(len(arr), dtype=bool)
    except (ValueError, TypeError):
        pass
    out = np.full(len(arr), np.nan)
    ok = np.zeros(len(arr), dtype=bool)
    for i, v in enumerate(arr):
        try:
            out[i] = float(v)
            ok[i] = True
        except (ValueError, TypeError):
            pass
    return out, ok


def _all_floats(values: list[str]) -> np.ndarray | None:
    """All values as floats, or ``None`` as soon as one is not a number."""
    try:
        return np.fromiter((float(v) for v in values), dtype=float, count=len(values))
    except (ValueError, TypeError):
        return None


_INT = re.compile(r"^[-+]?\d{1,18}$")
_LEAD0 = re.compile(r"^[-+]?0\d")
_EMPTY = frozenset(["", "NA", "NaN", "nan", "NULL", "null", "N/A", "#N/A", "None", "na"])


def _parse_text_numbers(body: pd.DataFrame, decimal: str) -> pd.DataFrame:
    """Convert string columns that are wholly numeric (empty cells allowed) to numbers."""
    out: dict[str, Any] = {}
    for c in body.columns:
        s = body[c]
        if c == ROW:
            out[c] = s.to_numpy()
            continue
        st = [str(v).strip() for v in s.to_numpy()]
        empty = np.array([v in _EMPTY for v in st], dtype=bool)
        cand = [v.replace(",", ".") if decimal == "," else v for v, e in zip(st, empty) if not e]
        # identifiers such as "007" keep their leading zeros as text
        vals = None if any(_LEAD0.match(v) for v in cand) else _all_floats(cand)
        if vals is not None and len(cand) and not empty.any() and all(_INT.match(v) for v in cand):
            out[c] = np.array([int(v) for v in cand], dtype=np.int64)
        elif vals is not None and len(cand):
            full = np.full(len(st), np.nan)
            full[~empty] = vals
            out[c] = full
        else:
            out[c] = np.array([None if e else v for v, e in zip(st, empty)], dtype=object)
    return pd.DataFrame(out, index=body.index)

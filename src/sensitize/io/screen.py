"""Readers for drug-combination screen files.

Every reader returns the canonical tidy table of :mod:`sensitize.screen.schema`
(``block_id, drug1..K, conc1..K, conc_unit1..K, readout, response, response_kind`` and,
when the file gives them, ``cell_line, replicate, plate, well``), passed through
:func:`~sensitize.screen.schema.validate_screen` and converted to one concentration unit
per drug with :func:`~sensitize.screen.schema.harmonise_units`.

Formats (``df.attrs["format"]`` names the one used; :func:`detect_format` finds it):

``synergyfinder_table``
    SynergyFinder's long table, new names (``block_id, drug1, drug2, conc1, conc2,
    response, conc_unit`` or ``conc_unit1..K``, optional ``cell_line_name``), old names
    (``drug_row, drug_col, conc_r, conc_c, conc_r_unit, conc_c_unit``), and the web
    app's ``PairIndex, Drug1, Drug2, Conc1, Conc2, Response, ConcUnit`` (DECREASE adds
    ``Cell``).  Any number of drugs (``drug3/conc3`` ...).  The response kind is not
    defined by the format: pass ``response_kind``.
``synergyfinder_matrix``
    SynergyFinder's matrix layout: ``Drug1:``, ``Drug2:``, optional ``Cell:``,
    ``ConcUnit:`` lines, then a dose matrix whose row labels are Drug1 concentrations and
    whose header row holds Drug2 concentrations.  Several blocks follow each other.
``drugcomb_template``
    DrugComb/TidyComb templates: old SynergyFinder names plus ``cell_line_name`` (and
    ``drug_row_cid``...), response in ``inhibition`` or ``response``; the format defines
    it as % inhibition.
``ncats_matrix``
    The NCATS matrix-client export: ``responses.csv`` (``BlockId, Col, Row, Value,
    Replicate``) and ``metadata.csv`` (``RowName, ColName, RowConcs, ColConcs,
    RowConcUnit, ColConcUnit``).  See :func:`read_ncats_matrix` for the convention.
``oneil_raw``
    O'Neil et al. 2016 (Merck) combination sheet: ``BatchID, cell_line, drugA_name,
    drugA Conc (µM), drugB_name, drugB Conc (µM), combination_name, viability1..4``, or
    CoreGx's ``merckLongTable`` spelling (``drug1id, drug2id, drug1dose, drug2dose,
    cellid, batchid, viability1..4``).  Viability fractions become % viability (x 100).
``almanac``
    NCI-ALMANAC ``ComboDrugGrowth`` rows (``NSC1, CONC1, NSC2, CONC2, PERCENTGROWTH,
    CELLNAME, PLATE`` ...), also CoreGx's flattening with ``treatment1id/treatment2id``.
``synergy_py``
    The CSVs of the ``synergy`` Python package (``drug1.conc, drug2.conc, E`` or
    ``d1, d2, E``): ``E`` is a fraction of the untreated response, read as % viability.
``table``
    Any CSV/TSV/Excel/Parquet table with a column mapping (:func:`read_table`).

Files may be gzip-compressed, start with a byte-order mark, use ``;`` or tab separators,
decimal commas, Windows or old-Mac line endings, or a second header row of units; see
:mod:`sensitize.io._text`.

Errors about the input are :class:`~sensitize.core.errors.InputError` naming the file, the
file's own column and the 1-based data rows (row 1 is the first row under the header; for
the matrix layout, rows are the file's line numbers).
"""

from __future__ import annotations

import contextvars
import csv
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sensitize.core.errors import InputError
from sensitize.io._text import (
    ROW,
    file_kind,
    read_frame,
    read_rows,
    read_text,
    sniff_delimiter,
    to_float,
)
from sensitize.screen.schema import (
    RESPONSE_KINDS,
    canonical_unit,
    drug_indices,
    harmonise_units,
    validate_screen,
)

__all__ = [
    "FORMATS",
    "detect_format",
    "read_almanac",
    "read_drugcomb_template",
    "read_ncats_matrix",
    "read_oneil_raw",
    "read_screen",
    "read_synergy_py",
    "read_synergyfinder_matrix",
    "read_synergyfinder_table",
    "read_table",
]

FORMATS = (
    "synergyfinder_table",
    "synergyfinder_matrix",
    "drugcomb_template",
    "ncats_matrix",
    "oneil_raw",
    "almanac",
    "synergy_py",
    "table",
)

_FORMAT_ALIASES = {
    "auto": "auto",
    "synergyfinder": "synergyfinder_table",
    "sf": "synergyfinder_table",
    "synergyfinder_table": "synergyfinder_table",
    "decrease": "synergyfinder_table",
    "matrix": "synergyfinder_matrix",
    "synergyfinder_matrix": "synergyfinder_matrix",
    "drugcomb": "drugcomb_template",
    "tidycomb": "drugcomb_template",
    "drugcomb_template": "drugcomb_template",
    "ncats": "ncats_matrix",
    "ncats_matrix": "ncats_matrix",
    "oneil": "oneil_raw",
    "oneil_raw": "oneil_raw",
    "merck": "oneil_raw",
    "almanac": "almanac",
    "nci_almanac": "almanac",
    "synergy": "synergy_py",
    "synergy_py": "synergy_py",
    "table": "table",
    "generic": "table",
    "csv": "table",
    "tsv": "table",
    "excel": "table",
    "parquet": "table",
}

_OPTIONAL = ("cell_line", "replicate", "plate", "well")
_DRUG_RE = re.compile(r"^drug(\d+)$")
_CONC_RE = re.compile(r"^conc(\d+)$")
_CUNIT_RE = re.compile(r"^concunit(\d+)$")
_HEADER_UNIT = re.compile(r"(?:[\s_(\[]|^)(pM|nM|uM|µM|μM|mM|M|umol/L|nmol/L)\s*[)\]]?\s*$")


# ---------------------------------------------------------------------------------------
# shared machinery
# ---------------------------------------------------------------------------------------


def _norm(name: object) -> str:
    return re.sub(r"[\s_.\-]", "", str(name).lower())


def _find(columns: Sequence[str], *names: str) -> str | None:
    """The first column whose normalised name equals one of ``names`` (in that order)."""
    normed: dict[str, str] = {}
    for c in columns:
        normed.setdefault(_norm(c), c)
    for n in names:
        hit = normed.get(_norm(n))
        if hit is not None and hit != ROW:
            return hit
    return None


def _unit_from_header(name: str, units_row: Mapping[str, str] | None) -> str | None:
    """A concentration unit stated in a column's header (``Conc (µM)``, ``conc_nM``) or in
    a units header row."""
    if units_row and name in units_row and canonical_unit(units_row[name].strip("()[]")):
        return canonical_unit(units_row[name].strip("()[]"))
    m = _HEADER_UNIT.search(str(name))
    if m:
        return canonical_unit(m.group(1))
    return None


@dataclass
class _Build:
    """A canonical-named frame (plus ``_row``) before validation."""

    df: pd.DataFrame
    source: str
    fmt: str
    colmap: dict[str, str] = field(default_factory=dict)
    format_kind: str | None = None
    default_readout: str | None = None
    notes: list[str] = field(default_factory=list)
    keep: list[str] = field(default_factory=list)


def _remap(e: InputError, df: pd.DataFrame, b: _Build) -> InputError:
    """Translate an error on the canonical frame to the file's columns and rows."""
    rows: list[int] = []
    if e.rows and ROW in df.columns:
        src = df[ROW].to_numpy()
        rows = sorted({int(src[int(r) - 1]) for r in e.rows if 1 <= int(r) <= len(src)})
    cols = [b.colmap.get(c, c) for c in e.columns]
    return InputError(e.reason, file=b.source, column=cols or None, rows=rows or None)


def _check_kind(kind: str | None, where: str) -> str | None:
    if kind is None:
        return None
    k = str(kind).strip().lower()
    if k not in RESPONSE_KINDS:
        raise InputError(f"response_kind must be one of {RESPONSE_KINDS}, not {kind!r}", file=where, column="response_kind")
    return k


def _finish(
    b: _Build,
    *,
    response_kind: str | None = None,
    readout: str | None = None,
    conc_factor: float = 1.0,
    conc_unit: str | None = None,
    target_unit: str | None = None,
    allow_missing_response: bool = False,
    number_replicates: bool = True,
) -> pd.DataFrame:
    """Resolve the response kind, validate, rescale, harmonise units, number replicates."""
    df = b.df.copy()
    src = b.source
    resp_col = b.colmap.get("response", "response")
    kind = _check_kind(response_kind, src)
    if b.format_kind is not None:
        if kind is not None and kind != b.format_kind:
            raise InputError(
                f"the {b.fmt} format defines this response as {b.format_kind}; "
                f"response_kind={kind!r} contradicts it",
                file=src,
                column=resp_col,
            )
        kind = b.format_kind
        kind_source = "format"
    else:
        kind_source = "caller" if kind is not None else "file"
    if kind is None and "response_kind" not in df.columns:
        raise InputError(
            "the response kind is not stated by this format: pass response_kind='viability' "
            "(100 = untreated, decreasing with effect), 'inhibition' (0 = untreated, "
            "increasing with effect) or 'induction'; it is never guessed",
            file=src,
            column=resp_col,
        )
    if kind is not None:
        df["response_kind"] = kind
    if readout is not None:
        df["readout"] = readout
    elif "readout" not in df.columns and b.default_readout is not None:
        df["readout"] = b.default_readout
    if not np.isfinite(conc_factor) or conc_factor <= 0:
        raise InputError(f"conc_factor must be a positive number, not {conc_factor!r}", file=src, column="conc_factor")
    ks = drug_indices(df)
    if conc_unit is not None:
        cu = canonical_unit(conc_unit)
        if cu is None:
            raise InputError(f"unknown concentration unit {conc_unit!r}; use pM, nM, uM, mM or M", file=src, column="conc_unit")
        for k in ks:
            df[f"conc_unit{k}"] = cu
            b.colmap.pop(f"conc_unit{k}", None)
        b.notes.append(f"concentration unit set to {cu} by the caller")
    try:
        out = validate_screen(df, source=src, response_kind=kind, allow_missing_response=allow_missing_response)
    except InputError as e:
        raise _remap(e, df, b) from None
    if conc_factor != 1.0:
        for k in ks:
            out[f"conc{k}"] = out[f"conc{k}"] * float(conc_factor)
        b.notes.append(f"concentrations multiplied by conc_factor={conc_factor:g}")
    if target_unit is not None or not _units_uniform(out, ks):
        try:
            out = harmonise_units(out, target_unit)
        except InputError as e:
            raise InputError(e.reason, file=src, column="target_unit") from None
    _check_wells(out, b)
    if number_replicates and ("replicate" not in out.columns or out["replicate"].isna().all()):
        keys = ["block_id", "readout"] + [f"conc{k}" for k in ks]
        out["replicate"] = out.groupby(keys, sort=False, dropna=False).cumcount().to_numpy() + 1
        if int(out["replicate"].max()) > 1:
            b.notes.append("replicates numbered 1..n within block and dose cell in file order")
    if "replicate" in out.columns and out["replicate"].notna().all():
        out["replicate"] = out["replicate"].astype(np.int64)
    order = (
        ["block_id"]
        + [f"drug{k}" for k in ks]
        + [f"conc{k}" for k in ks]
        + [f"conc_unit{k}" for k in ks]
        + ["readout", "response", "response_kind"]
        + [c for c in _OPTIONAL if c in out.columns]
        + [c for c in b.keep if c in out.columns]
    )
    out = out[order].reset_index(drop=True)
    out.attrs = {
        "format": b.fmt,
        "source": src,
        "response_kind_source": kind_source,
        "notes": list(b.notes),
    }
    return out


def _units_uniform(df: pd.DataFrame, ks: list[int]) -> bool:
    """True when every drug already has one unit (or none) on every row it appears in,
    i.e. :func:`harmonise_units` would change nothing."""
    parts = [
        pd.DataFrame({"drug": df[f"drug{k}"].to_numpy(), "unit": df[f"conc_unit{k}"].to_numpy()})
        for k in ks
    ]
    long = pd.concat(parts, ignore_index=True)
    long = long[long["drug"].notna()]
    if len(long) == 0:
        return True
    return bool((long.groupby("drug")["unit"].nunique(dropna=False) <= 1).all())


def _check_wells(df: pd.DataFrame, b: _Build) -> None:
    """The same plate well may not hold two different records."""
    if "well" not in df.columns or df["well"].isna().all():
        return
    keys = [c for c in ("plate", "well", "readout") if c in df.columns]
    sub = df[df["well"].notna()]
    dup = sub.duplicated(keys, keep=False)
    if dup.any():
        rows = sorted({int(r) for r in sub.loc[dup, ROW]}) if ROW in sub.columns else None
        where = ", ".join(f"{k}={sub.loc[dup, k].iloc[0]}" for k in keys)
        raise InputError(
            f"the same well appears in more than one record (first: {where}); duplicated "
            "cells with conflicting metadata must be resolved in the file",
            file=b.source,
            column=b.colmap.get("well", "well"),
            rows=rows,
        )


_PRELOADED: contextvars.ContextVar[tuple[tuple[str, Any, Any], pd.DataFrame] | None] = contextvars.ContextVar(
    "_PRELOADED", default=None
)


def _load(path: str | Path, sheet: int | str | None = None, header_rows: int | str = "auto") -> pd.DataFrame:
    key = (str(Path(path).resolve()), sheet, header_rows)
    pre = _PRELOADED.get()
    if pre is not None and pre[0] == key:
        _PRELOADED.set(None)
        df = pre[1]
    else:
        df = read_frame(path, sheet=sheet, header_rows=header_rows)
    if len(df) == 0:
        raise InputError("the table is empty (no data rows under the header)", file=Path(path).name)
    return df


def _str_col(s: pd.Series) -> pd.Series:
    """Names as strings; numbers such as NSC ids without a trailing ``.0``."""

    def conv(v: Any) -> Any:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return None
        if isinstance(v, float | np.floating) and float(v).is_integer():
            return str(int(v))
        return str(v).strip()

    # once per distinct value (screens repeat a few names over many rows)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    table = np.array([conv(v) for v in uniques] + [None], dtype=object)
    return pd.Series(table[codes], index=s.index, dtype=object)


def _missing(source: str, missing: list[str], found: Sequence[str], what: str = "") -> InputError:
    found_l = [c for c in found if c != ROW]
    return InputError(
        f"missing required column(s){' ' + what if what else ''}; found {found_l}",
        file=source,
        column=missing,
    )


# ---------------------------------------------------------------------------------------
# SynergyFinder / DrugComb long tables
# ---------------------------------------------------------------------------------------


def _long_columns(df: pd.DataFrame) -> dict[str, str]:
    """Canonical name -> file column for SynergyFinder-style long tables."""
    cols = [c for c in df.columns if c != ROW]
    m: dict[str, str] = {}
    for c in cols:
        n = _norm(c)
        for rx, pre in ((_DRUG_RE, "drug"), (_CONC_RE, "conc"), (_CUNIT_RE, "conc_unit")):
            mm = rx.match(n)
            if mm and f"{pre}{int(mm.group(1))}" not in m:
                m[f"{pre}{int(mm.group(1))}"] = c
    old: dict[str, tuple[str, ...]] = {
        "drug1": ("drugrow",),
        "drug2": ("drugcol",),
        "conc1": ("concr",),
        "conc2": ("concc",),
        "conc_unit1": ("concrunit",),
        "conc_unit2": ("conccunit",),
    }
    for k, names in old.items():
        hit = _find(cols, *names)
        if hit is not None and k not in m:
            m[k] = hit
    for k, names in {
        "block_id": ("block_id", "PairIndex", "BlockId", "block"),
        "response": ("response", "inhibition"),
        "conc_unit": ("conc_unit", "ConcUnit", "unit", "units"),
        "cell_line": ("cell_line_name", "cell_line", "cell", "cell_name", "cellline"),
        "replicate": ("replicate",),
        "plate": ("plate",),
        "well": ("well",),
        "readout": ("readout",),
        "response_kind": ("response_kind",),
    }.items():
        hit = _find(cols, *names)
        if hit is not None:
            m[k] = hit
    return m


def _build_long(df: pd.DataFrame, source: str, fmt: str) -> _Build:
    m = _long_columns(df)
    ks = sorted({int(k[4:]) for k in m if _DRUG_RE.match(k)} | {int(k[4:]) for k in m if _CONC_RE.match(k)})
    need = ["block_id", "response"] + [f"drug{k}" for k in (ks or [1, 2])] + [f"conc{k}" for k in (ks or [1, 2])]
    if len(ks) < 2:
        need += [x for x in ("drug2", "conc2") if x not in need]
    missing = [c for c in need if c not in m]
    if missing:
        raise _missing(source, missing, list(df.columns), f"for the {fmt} format")
    units_row = df.attrs.get("units_row")
    out = pd.DataFrame({"block_id": df[m["block_id"]].to_numpy(), ROW: df[ROW].to_numpy()})
    for k in ks:
        out[f"drug{k}"] = _str_col(df[m[f"drug{k}"]]).to_numpy()
        out[f"conc{k}"] = df[m[f"conc{k}"]].to_numpy()
        if f"conc_unit{k}" in m:
            out[f"conc_unit{k}"] = df[m[f"conc_unit{k}"]].to_numpy()
        elif "conc_unit" in m:
            out[f"conc_unit{k}"] = df[m["conc_unit"]].to_numpy()
            m[f"conc_unit{k}"] = m["conc_unit"]
        else:
            out[f"conc_unit{k}"] = _unit_from_header(m[f"conc{k}"], units_row)
    out["response"] = df[m["response"]].to_numpy()
    for opt in ("cell_line", "replicate", "plate", "well", "readout", "response_kind"):
        if opt in m:
            out[opt] = _str_col(df[m[opt]]).to_numpy() if opt in ("cell_line", "plate", "well") else df[m[opt]].to_numpy()
    b = _Build(out, source, fmt, colmap={k: v for k, v in m.items() if k != "conc_unit"})
    if fmt == "drugcomb_template":
        b.format_kind = "inhibition"
        b.notes.append("DrugComb/TidyComb templates hold % inhibition (0 = untreated)")
    return b


def read_synergyfinder_table(
    path: str | Path,
    *,
    response_kind: str | None = None,
    readout: str | None = None,
    sheet: int | str | None = None,
    conc_factor: float = 1.0,
    conc_unit: str | None = None,
    target_unit: str | None = None,
    allow_missing_response: bool = False,
    header_rows: int | str = "auto",
) -> pd.DataFrame:
    """Read a SynergyFinder long table (CSV/TSV/Excel/Parquet).

    Accepts the SynergyFinder 2/3 names (``block_id, drug1..K, conc1..K, response,
    conc_unit`` or ``conc_unit1..K``, optional ``cell_line_name``), the SynergyFinder 1
    names (``drug_row, drug_col, conc_r, conc_c, conc_r_unit, conc_c_unit``; row -> drug1,
    column -> drug2) and the web app's ``PairIndex, Drug1, Drug2, Conc1, Conc2,
    Response, ConcUnit`` (and ``Cell``).  Column names are matched case-insensitively.

    Replicates are rows repeating a dose cell of a block; without a ``replicate`` column
    they are numbered 1..n within block and cell in file order (Zheng et al. 2022,
    SynergyFinder 3.0, *Nucleic Acids Res* 50:W739).

    Parameters
    ----------
    path
        The file.
    response_kind
        ``"viability"`` or ``"inhibition"`` (or ``"induction"``): the format does not say,
        so it is required unless the table has a ``response_kind`` column.
    readout
        Name of the readout (default ``"response"`` or the file's ``readout`` column).
    sheet
        Excel sheet.
    conc_factor
        Multiply every concentration by this factor.
    conc_unit
        Unit of the concentrations, overriding the file's.
    target_unit
        Convert every drug to this unit; default: each drug's most frequent unit.
    allow_missing_response
        Keep rows with an empty response.
    header_rows
        ``1``, ``2`` or ``"auto"`` (see :func:`sensitize.io._text.read_frame`).

    Returns
    -------
    pandas.DataFrame
        The canonical screen table (``attrs["format"] == "synergyfinder_table"``).
    """
    df = _load(path, sheet, header_rows)
    b = _build_long(df, Path(path).name, "synergyfinder_table")
    return _finish(
        b, response_kind=response_kind, readout=readout, conc_factor=conc_factor, conc_unit=conc_unit,
        target_unit=target_unit, allow_missing_response=allow_missing_response,
    )


def read_drugcomb_template(
    path: str | Path,
    *,
    response_kind: str | None = None,
    readout: str | None = None,
    sheet: int | str | None = None,
    conc_factor: float = 1.0,
    conc_unit: str | None = None,
    target_unit: str | None = None,
    allow_missing_response: bool = False,
    header_rows: int | str = "auto",
) -> pd.DataFrame:
    """Read a DrugComb/TidyComb input template.

    Columns ``block_id, drug_row, drug_col, conc_r, conc_c, conc_r_unit, conc_c_unit,
    cell_line_name`` and the response in ``inhibition`` (TidyComb >= 2020) or
    ``response`` (2019 templates).  DrugComb defines the response as **% inhibition**
    (Zheng et al. 2021, DrugComb update, *Nucleic Acids Res* 49:D1163), so the kind is set
    by the reader; ``response_kind`` may only confirm it.  ``drug_row`` becomes ``drug1``.

    Parameters are those of :func:`read_synergyfinder_table`.
    """
    df = _load(path, sheet, header_rows)
    b = _build_long(df, Path(path).name, "drugcomb_template")
    return _finish(
        b, response_kind=response_kind, readout=readout, conc_factor=conc_factor, conc_unit=conc_unit,
        target_unit=target_unit, allow_missing_response=allow_missing_response,
    )


# ---------------------------------------------------------------------------------------
# SynergyFinder matrix layout
# ---------------------------------------------------------------------------------------

_META_KEYS = {
    "drug1": "drug1", "drugrow": "drug1", "drug2": "drug2", "drugcol": "drug2",
    "cell": "cell_line", "cellline": "cell_line", "celllinename": "cell_line",
    "concunit": "conc_unit", "unit": "conc_unit", "units": "conc_unit", "concentrationunit": "conc_unit",
    "blockid": "block_id", "block": "block_id", "pairindex": "block_id",
}


def _num_cell(s: str, dec: str) -> float | None:
    v = s.strip()
    if dec == ",":
        v = v.replace(",", ".")
    try:
        return float(v)
    except ValueError:
        return None


def read_synergyfinder_matrix(
    path: str | Path,
    *,
    response_kind: str | None = None,
    readout: str | None = None,
    sheet: int | str | None = None,
    conc_factor: float = 1.0,
    conc_unit: str | None = None,
    target_unit: str | None = None,
    allow_missing_response: bool = False,
    drug1: str | None = None,
    drug2: str | None = None,
    cell_line: str | None = None,
) -> pd.DataFrame:
    """Read SynergyFinder's matrix layout (CSV/TSV/TXT/Excel, one or several blocks).

    Each block is a few metadata lines (``Drug1:``/``Drug1``, ``Drug2:``, optional
    ``Cell:``, ``ConcUnit:``, optional ``BlockId:``) followed by a dose matrix.  The first
    numeric line is the header: the concentrations of **Drug2** (columns), with or without
    an empty leading cell.  Each following line starts with a concentration of **Drug1**
    (rows) followed by one response per Drug2 concentration.  A blank line or the next
    ``Drug1`` line ends a block.  Block ids are those given by a ``BlockId`` line,
    otherwise 1, 2, ... in file order.  A bare labelled matrix (no metadata lines, e.g.
    R's ``write.csv`` of a response matrix with concentrations as dimnames) is read when
    ``drug1`` and ``drug2`` are passed.

    Error rows are the file's line numbers.  Parameters as in
    :func:`read_synergyfinder_table`; ``drug1``, ``drug2`` and ``cell_line`` fill in what
    the file does not state.
    """
    name = Path(path).name
    rows, dec = read_rows(path, sheet=sheet)
    if not rows:
        raise InputError("the file is empty", file=name)
    recs: list[dict[str, Any]] = []
    meta: dict[str, Any] = {}
    header: list[float] | None = None
    header_line = 0
    n_block = 0
    have_body = False

    def new_block() -> None:
        nonlocal meta, header, have_body
        meta = {}
        header = None
        have_body = False

    prev_line = 0
    for line, cells in rows:
        if have_body and line > prev_line + 1:
            new_block()  # a blank line ends a block
        prev_line = line
        first = cells[0]
        key = _META_KEYS.get(_norm(first.rstrip(":")))
        if key is not None and _num_cell(first, dec) is None:
            if have_body or header is not None:
                new_block()
            meta[key] = cells[1].strip() if len(cells) > 1 and cells[1].strip() else None
            continue
        if header is None:
            hdr = cells[1:] if first == "" else cells
            vals = [_num_cell(c, dec) for c in hdr]
            bad = [j for j, v in enumerate(vals) if v is None]
            if bad:
                raise InputError(
                    f"expected the header row of Drug2 concentrations, found {hdr[bad[0]]!r}",
                    file=name, column=f"column {bad[0] + (2 if first == '' else 1)}", rows=[line],
                )
            header = [float(v) for v in vals if v is not None]
            header_line = line
            n_block += 1
            meta.setdefault("block_id", None)
            meta["_n"] = n_block
            continue
        rc = _num_cell(first, dec)
        if rc is None and first != "":
            raise InputError(
                f"expected a Drug1 concentration as row label, found {first!r}",
                file=name, column="column 1", rows=[line],
            )
        vals_s = cells[1:]
        if len(vals_s) > len(header):
            raise InputError(
                f"the row has {len(vals_s)} responses but the header row (line {header_line}) "
                f"lists {len(header)} Drug2 concentrations",
                file=name, column=f"column {len(header) + 2}", rows=[line],
            )
        have_body = True
        d1 = meta.get("drug1") or drug1
        d2 = meta.get("drug2") or drug2
        if d1 is None or d2 is None:
            raise InputError(
                "the matrix has no 'Drug1:'/'Drug2:' lines; pass drug1= and drug2=",
                file=name, column="Drug1" if d1 is None else "Drug2", rows=[line],
            )
        for j, conc2 in enumerate(header):
            raw = vals_s[j] if j < len(vals_s) else ""
            v = _num_cell(raw, dec) if raw.strip() else np.nan
            recs.append({
                "block_id": meta["block_id"] if meta.get("block_id") is not None else meta["_n"],
                "drug1": d1, "drug2": d2,
                "conc1": rc if rc is not None else None, "conc2": conc2,
                "conc_unit1": meta.get("conc_unit"), "conc_unit2": meta.get("conc_unit"),
                "response": raw.strip() if v is None else v,
                "cell_line": meta.get("cell_line") or cell_line,
                ROW: line,
            })
    if not recs:
        raise InputError("no dose matrix found (a header row of concentrations and response rows)", file=name)
    df = pd.DataFrame(recs)
    if df["cell_line"].isna().all():
        df = df.drop(columns=["cell_line"])
    if pd.api.types.is_object_dtype(df["block_id"]):
        num, ok = to_float(df["block_id"])
        if ok.all() and np.all(num == np.round(num)):
            df["block_id"] = num.astype(np.int64)
    b = _Build(
        df, name, "synergyfinder_matrix",
        colmap={
            "conc1": "row labels (Drug1 concentrations)",
            "conc2": "header row (Drug2 concentrations)",
            "response": "matrix cells",
            "conc_unit1": "ConcUnit",
            "conc_unit2": "ConcUnit",
            "cell_line": "Cell",
            "drug1": "Drug1",
            "drug2": "Drug2",
        },
    )
    b.notes.append("matrix layout: rows = Drug1 concentrations, columns = Drug2 concentrations; rows in errors are line numbers")
    return _finish(
        b, response_kind=response_kind, readout=readout, conc_factor=conc_factor, conc_unit=conc_unit,
        target_unit=target_unit, allow_missing_response=allow_missing_response,
    )


# ---------------------------------------------------------------------------------------
# NCATS matrix export
# ---------------------------------------------------------------------------------------


def _sibling(path: Path, stem: str) -> Path | None:
    for cand in (f"{stem}.csv", f"{stem}.csv.gz", f"{stem}.tsv", f"{stem}.txt"):
        p = path.parent / cand
        if p.exists():
            return p
    low = path.name.lower()
    for other in ("responses", "metadata"):
        if other in low and other != stem:
            p = path.parent / re.sub(other, stem, path.name, flags=re.IGNORECASE)
            if p.exists():
                return p
    return None


def _conc_list(text: Any, k: int, meta_name: str, col: str, row: int) -> list[float]:
    s = "" if text is None else str(text)
    parts = [x.strip() for x in s.strip().strip('"').split(",") if x.strip()]
    vals, ok = to_float(parts)
    if not parts or not ok.all():
        bad = [p for p, o in zip(parts, ok) if not o][:3]
        raise InputError(
            f"the concentration list must be comma-separated numbers; found {bad or [s]!r}",
            file=meta_name, column=col, rows=[row],
        )
    if (vals < 0).any():
        raise InputError("negative concentration in the list", file=meta_name, column=col, rows=[row])
    return [float(v) for v in vals]


def read_ncats_matrix(
    responses: str | Path,
    metadata: str | Path | None = None,
    conc_factor: float = 1.0,
    *,
    conc_unit: str | None = None,
    response_kind: str | None = None,
    readout: str | None = None,
    target_unit: str | None = None,
    allow_missing_response: bool = False,
) -> pd.DataFrame:
    """Read an NCATS matrix-client export (``responses`` + ``metadata``).

    **Convention.**  ``responses`` holds one row per well: ``BlockId, Col, Row, Value``
    (and ``Replicate``).  ``metadata`` holds one row per block with ``RowName`` (the drug
    varied along rows, here ``drug1``), ``ColName`` (``drug2``), ``RowConcs`` and
    ``ColConcs`` (comma-separated concentration lists) and ``RowConcUnit``,
    ``ColConcUnit``.  Row index *i* (1-based) is the *i*-th entry of ``RowConcs`` and column
    index *j* the *j*-th entry of ``ColConcs``; NCATS lists them from high to low, so the
    last index is the zero dose (Mathews Griner et al. 2014, *PNAS* 111:2349).  The value
    is NCATS-normalised activity; its direction is not part of the export, so
    ``response_kind`` is required.

    **Concentration factor.**  For the Mathews Griner assay 241 export, the listed
    concentrations are half the ones SynergyFinder ships as ``mathews_screening_data`` and
    that the ZIP paper used (Yadav et al. 2015); read it with ``conc_factor=2`` and
    ``conc_unit="nM"`` (its metadata label ``uM`` is not to be trusted) to reproduce them.

    Parameters
    ----------
    responses, metadata
        The two files; ``metadata`` defaults to ``metadata.csv`` beside ``responses``.
    conc_factor
        Multiply all concentrations by this factor.
    conc_unit
        Unit of the (rescaled) concentrations, overriding ``RowConcUnit``/``ColConcUnit``.
    response_kind, readout, target_unit, allow_missing_response
        As in :func:`read_synergyfinder_table`.

    Returns
    -------
    pandas.DataFrame
        Canonical table; ``replicate`` from ``Replicate`` (its leading integer: some
        exports glue a layer name to it, e.g. ``1default``).
    """
    rpath = Path(responses)
    if metadata is None:
        mp = _sibling(rpath, "metadata")
        if mp is None:
            raise InputError("no metadata file beside the responses; pass metadata=", file=rpath.name)
        metadata = mp
    mpath = Path(metadata)
    rname, mname = rpath.name, mpath.name
    r = _load(rpath, header_rows=1)
    md = _load(mpath, header_rows=1)
    rc = {k: _find(list(r.columns), k) for k in ("BlockId", "Row", "Col", "Value", "Replicate")}
    miss = [k for k in ("BlockId", "Row", "Col", "Value") if rc[k] is None]
    if miss:
        raise _missing(rname, miss, list(r.columns), "of an NCATS responses file")
    mc = {
        k: _find(list(md.columns), k)
        for k in ("BlockId", "RowName", "ColName", "RowConcs", "ColConcs", "RowConcUnit", "ColConcUnit")
    }
    miss = [k for k in ("BlockId", "RowName", "ColName", "RowConcs", "ColConcs") if mc[k] is None]
    if miss:
        raise _missing(mname, miss, list(md.columns), "of an NCATS metadata file")
    # block metadata
    blk: dict[Any, dict[str, Any]] = {}
    bid_col = str(mc["BlockId"])
    for rec in md.to_dict("records"):
        bid = rec[bid_col]
        row = int(rec[ROW])
        if bid in blk:
            raise InputError(f"block {bid} is described twice", file=mname, column=bid_col, rows=[blk[bid]["_row"], row])
        blk[bid] = {
            "drug1": None if rec[str(mc["RowName"])] is None else str(rec[str(mc["RowName"])]).strip(),
            "drug2": None if rec[str(mc["ColName"])] is None else str(rec[str(mc["ColName"])]).strip(),
            "rc": _conc_list(rec[str(mc["RowConcs"])], 1, mname, str(mc["RowConcs"]), row),
            "cc": _conc_list(rec[str(mc["ColConcs"])], 2, mname, str(mc["ColConcs"]), row),
            "u1": rec[str(mc["RowConcUnit"])] if mc["RowConcUnit"] else None,
            "u2": rec[str(mc["ColConcUnit"])] if mc["ColConcUnit"] else None,
            "_row": row,
        }
    bids = r[str(rc["BlockId"])]
    unknown = ~bids.isin(list(blk)).to_numpy()
    if unknown.any():
        vals = sorted({str(v) for v in bids[unknown]})[:5]
        raise InputError(
            f"block(s) {vals} are not described in {mname}", file=rname, column=str(rc["BlockId"]),
            rows=r.loc[unknown, ROW].tolist(),
        )
    idx = {}
    for k in ("Row", "Col"):
        col = str(rc[k])
        v, ok = to_float(r[col].astype(object).where(r[col].notna(), "x"))
        bad = ~ok | (v < 1) | (v != np.round(v))
        if bad.any():
            raise InputError(
                f"{k} indices must be positive whole numbers (1 = first entry of {k}Concs)",
                file=rname, column=col, rows=r.loc[bad, ROW].tolist(),
            )
        idx[k] = v.astype(np.int64)
    n_r = bids.map(lambda b: len(blk[b]["rc"])).to_numpy()
    n_c = bids.map(lambda b: len(blk[b]["cc"])).to_numpy()
    for k, n, lst in (("Row", n_r, "RowConcs"), ("Col", n_c, "ColConcs")):
        over = idx[k] > n
        if over.any():
            raise InputError(
                f"{k} index beyond the {int(n[over][0])} concentrations listed in {mname} {lst}",
                file=rname, column=str(rc[k]), rows=r.loc[over, ROW].tolist(),
            )
    bl = bids.to_numpy()
    out = pd.DataFrame({
        "block_id": bl,
        "drug1": [blk[b]["drug1"] for b in bl],
        "drug2": [blk[b]["drug2"] for b in bl],
        "conc1": [blk[b]["rc"][i - 1] for b, i in zip(bl, idx["Row"])],
        "conc2": [blk[b]["cc"][j - 1] for b, j in zip(bl, idx["Col"])],
        "conc_unit1": [blk[b]["u1"] for b in bl],
        "conc_unit2": [blk[b]["u2"] for b in bl],
        "response": r[str(rc["Value"])].to_numpy(),
        ROW: r[ROW].to_numpy(),
    })
    if rc["Replicate"] is not None:
        rep = r[str(rc["Replicate"])].map(lambda x: re.match(r"^\s*(\d+)", str(x)))
        bad = rep.isna().to_numpy() & r[str(rc["Replicate"])].notna().to_numpy()
        if bad.any():
            raise InputError("replicate numbers must start with a whole number", file=rname,
                             column=str(rc["Replicate"]), rows=r.loc[bad, ROW].tolist())
        out["replicate"] = [int(m.group(1)) if m is not None else None for m in rep]
    b = _Build(
        out, rname, "ncats_matrix",
        colmap={"block_id": str(rc["BlockId"]), "conc1": str(rc["Row"]), "conc2": str(rc["Col"]),
                "response": str(rc["Value"]), "replicate": str(rc["Replicate"]),
                "conc_unit1": f"{mname}:{mc['RowConcUnit']}", "conc_unit2": f"{mname}:{mc['ColConcUnit']}",
                "drug1": f"{mname}:{mc['RowName']}", "drug2": f"{mname}:{mc['ColName']}"},
    )
    b.notes.append("NCATS convention: Row index i -> i-th RowConcs entry (drug1), Col index j -> j-th ColConcs entry (drug2)")
    return _finish(
        b, response_kind=response_kind, readout=readout, conc_factor=conc_factor, conc_unit=conc_unit,
        target_unit=target_unit, allow_missing_response=allow_missing_response,
    )


# ---------------------------------------------------------------------------------------
# O'Neil 2016 raw sheet
# ---------------------------------------------------------------------------------------


def read_oneil_raw(
    path: str | Path,
    *,
    response_kind: str | None = None,
    readout: str | None = None,
    sheet: int | str | None = None,
    conc_factor: float = 1.0,
    conc_unit: str | None = None,
    target_unit: str | None = None,
    allow_missing_response: bool = False,
) -> pd.DataFrame:
    """Read O'Neil et al. 2016 (*Mol Cancer Ther* 15:1155) combination data.

    Accepts the published sheet (``BatchID, cell_line, drugA_name, drugA Conc (µM),
    drugB_name, drugB Conc (µM), combination_name, viability1..4, mu/muMax, X/X0``) and
    CoreGx's ``merckLongTable`` (``drug1id, drug2id, drug1dose, drug2dose, cellid,
    batchid, viability1..4``).  Each ``viabilityN`` becomes replicate N; the viability
    is a fraction of the untreated control, returned as **% viability** (x 100, kind
    ``viability``).  Concentrations are in µM (the unit in the header when present).

    O'Neil files carry no block id: blocks are ``"<drugA> & <drugB>|<cell line>|<batch>"``.
    Empty ``viabilityN`` cells (a replicate that was not measured) are skipped and counted
    in ``attrs["notes"]``; a row with no viability at all is an error unless
    ``allow_missing_response``.
    """
    name = Path(path).name
    df = _load(path, sheet)
    cols = list(df.columns)
    a = _find(cols, "drugA_name", "drug1id", "drugA", "drug_a")
    bb = _find(cols, "drugB_name", "drug2id", "drugB", "drug_b")
    ca = next((c for c in cols if _norm(c).startswith("drugaconc")), None) or _find(cols, "drug1dose")
    cb = next((c for c in cols if _norm(c).startswith("drugbconc")), None) or _find(cols, "drug2dose")
    cell = _find(cols, "cell_line", "cellid", "cell_line_name", "cell")
    batch = _find(cols, "BatchID", "batch")
    combo = _find(cols, "combination_name")
    vcols = sorted(
        (c for c in cols if re.match(r"^viability\d+$", _norm(c))), key=lambda c: int(re.sub(r"\D", "", c))
    )
    missing = [n for n, c in (("drugA_name", a), ("drugB_name", bb), ("drugA Conc (µM)", ca),
                              ("drugB Conc (µM)", cb), ("cell_line", cell)) if c is None]
    if not vcols:
        missing.append("viability1")
    if missing:
        raise _missing(name, missing, cols, "of an O'Neil sheet")
    assert a and bb and ca and cb and cell
    da, db = _str_col(df[a]), _str_col(df[bb])
    cl = _str_col(df[cell])
    bt = _str_col(df[batch]) if batch else pd.Series(["1"] * len(df))
    block = (da.astype(str) + " & " + db.astype(str) + "|" + cl.astype(str) + "|" + bt.astype(str)).to_numpy()
    u_a = _unit_from_header(ca, df.attrs.get("units_row")) or "uM"
    u_b = _unit_from_header(cb, df.attrs.get("units_row")) or "uM"
    parts = []
    for rep, vc in enumerate(vcols, start=1):
        parts.append(pd.DataFrame({
            "block_id": block, "drug1": da.to_numpy(), "drug2": db.to_numpy(),
            "conc1": df[ca].to_numpy(), "conc2": df[cb].to_numpy(),
            "conc_unit1": u_a, "conc_unit2": u_b,
            "response": df[vc].to_numpy(), "cell_line": cl.to_numpy(), "replicate": rep,
            ROW: df[ROW].to_numpy(), "_vcol": vc, "_ord": np.arange(len(df)),
        }))
    long = pd.concat(parts, ignore_index=True).sort_values(["_ord", "replicate"], kind="stable")
    # non-numeric viabilities are reported by validation, before scaling
    num, ok = to_float(long["response"].astype(object).where(long["response"].notna(), "nan"))
    nonnum = ~ok
    if nonnum.any():
        first_bad = long.loc[nonnum]
        raise InputError(
            f"non-numeric viability value(s) {sorted({str(v) for v in first_bad['response']})[:5]}",
            file=name, column=str(first_bad["_vcol"].iloc[0]), rows=sorted(set(first_bad[ROW].tolist())),
        )
    long["response"] = num * 100.0
    empty = np.isnan(num)
    all_empty = pd.Series(empty).groupby(long["_ord"].to_numpy()).transform("all").to_numpy()
    drop = empty & ~all_empty
    if drop.any():
        long = long.loc[~drop]
    long = long.drop(columns=["_vcol", "_ord"]).reset_index(drop=True)
    b = _Build(
        long, name, "oneil_raw",
        colmap={"drug1": a, "drug2": bb, "conc1": ca, "conc2": cb, "cell_line": cell,
                "response": vcols[0], "block_id": combo or a},
        format_kind="viability", default_readout="viability",
    )
    b.notes.append("O'Neil viability fractions multiplied by 100 (% viability)")
    if drop.any():
        b.notes.append(f"{int(drop.sum())} empty viability replicate cell(s) skipped")
    return _finish(
        b, response_kind=response_kind, readout=readout, conc_factor=conc_factor, conc_unit=conc_unit,
        target_unit=target_unit, allow_missing_response=allow_missing_response,
    )


# ---------------------------------------------------------------------------------------
# NCI-ALMANAC ComboDrugGrowth
# ---------------------------------------------------------------------------------------


def read_almanac(
    path: str | Path,
    *,
    response_kind: str | None = None,
    readout: str | None = None,
    sheet: int | str | None = None,
    conc_factor: float = 1.0,
    conc_unit: str | None = None,
    target_unit: str | None = None,
    allow_missing_response: bool = False,
    value: str = "PERCENTGROWTH",
    per_plate: bool = True,
) -> pd.DataFrame:
    """Read NCI-ALMANAC ``ComboDrugGrowth`` rows (Holbeck et al. 2017, *Cancer Res* 77:3564).

    **Response.**  ``PERCENTGROWTH`` is the NCI-60 percent growth,
    ``100 (T - Tz) / (C - Tz)`` when ``T >= Tz`` and ``100 (T - Tz) / Tz`` otherwise
    (T: treated, C: control, Tz: time-zero optical density).  It is read as kind
    **viability**: 100 is the growth of untreated cells and it decreases with drug effect,
    the direction and anchor the schema defines for viability; values below 0 mean net
    cell kill (T < Tz), which have no viability analogue and are kept as they are (readout
    ``percentgrowth`` records the scale).  ``value="PERCENTGROWTHNOTZ"`` (``100 T / C``,
    a plain viability) may be chosen instead.

    **Blocks.**  A combination block is ``NSC1 + NSC2 | CELLNAME | PLATE`` (one 3 x 3
    combination grid per plate in the ALMANAC design); with ``per_plate=False`` plates of
    the same pair and cell line are pooled (replicates numbered across plates).  The
    single-agent rows (``NSC2`` empty or 0) of a drug on the same plate (and cell line) are
    added to every block containing that drug, in that drug's position; single-agent rows
    that belong to no combination form single-drug blocks (``drug2`` empty), so no row is
    dropped.  The untreated 0/0 cell is not a row of the file (percent growth is relative
    to it by construction) and is not invented.  Drug names are ``treatment1id``/
    ``treatment2id`` when present (CoreGx), else ``NSC<number>``.  Concentrations are in
    ``CONCUNIT1/2`` (``M`` by default).
    """
    name = Path(path).name
    df = _load(path, sheet)
    cols = list(df.columns)
    n1 = _find(cols, "treatment1id", "NSC1", "drug1")
    n2 = _find(cols, "treatment2id", "NSC2", "drug2")
    nsc2 = _find(cols, "NSC2")
    c1 = _find(cols, "CONC1")
    c2 = _find(cols, "CONC2")
    u1 = _find(cols, "CONCUNIT1")
    u2 = _find(cols, "CONCUNIT2")
    cell = _find(cols, "CELLNAME", "cell_line")
    plate = _find(cols, "PLATE")
    val = _find(cols, value)
    missing = [n for n, c in (("NSC1", n1), ("NSC2", n2), ("CONC1", c1), ("CONC2", c2), ("CELLNAME", cell),
                              (value, val)) if c is None]
    if missing:
        raise _missing(name, missing, cols, "of an NCI-ALMANAC ComboDrugGrowth file")
    assert n1 and n2 and c1 and c2 and cell and val

    def names(col: str) -> pd.Series:
        s = _str_col(df[col])
        if _norm(col).startswith("nsc"):
            s = s.map(lambda v: None if v in (None, "", "0") else f"NSC{v}")
        return s

    d1 = names(n1)
    d2 = names(n2)
    if _norm(n2).startswith("treatment") and nsc2 is not None:
        nz = _str_col(df[nsc2])
        d2 = d2.where(d2.notna() | nz.isin([None, "", "0"]), nz.map(lambda v: f"NSC{v}"))
    r = pd.DataFrame({
        "d1": d1.to_numpy(), "c1": df[c1].to_numpy(),
        "u1": df[u1].to_numpy() if u1 else "M",
        "d2": d2.to_numpy(), "c2": df[c2].to_numpy(),
        "u2": df[u2].to_numpy() if u2 else "M",
        "cell": _str_col(df[cell]).to_numpy(),
        "plate": _str_col(df[plate]).to_numpy() if plate else None,
        "response": df[val].to_numpy(),
        ROW: df[ROW].to_numpy(),
    })
    combo = r["d2"].notna().to_numpy()
    keys = ["d1", "d2", "cell"] + (["plate"] if per_plate and plate else [])
    comb = r.loc[combo].copy()
    mono = r.loc[~combo].copy()

    def bid(frame: pd.DataFrame) -> pd.Series:
        s = frame["d1"].astype(str) + " + " + frame["d2"].astype(str) + "|" + frame["cell"].astype(str)
        if "plate" in keys:
            s = s + "|" + frame["plate"].astype(str)
        return s

    comb["block_id"] = bid(comb)
    comb["_pos"] = 0
    blocks = comb[[*keys, "block_id"]].drop_duplicates()
    mkeys = ["cell"] + (["plate"] if "plate" in keys else [])
    parts = [comb]
    used = np.zeros(len(mono), dtype=bool)
    mono = mono.assign(_i=np.arange(len(mono)))
    for pos, dcol in ((1, "d1"), (2, "d2")):
        m = blocks.merge(
            mono[["d1", "c1", "u1", *mkeys, "response", ROW, "_i"]].rename(columns={"d1": dcol, "c1": "_c", "u1": "_u"}),
            on=[dcol, *mkeys], how="inner",
        )
        if len(m) == 0:
            continue
        used[m["_i"].to_numpy()] = True
        if pos == 1:
            m["c1"], m["u1"], m["c2"], m["u2"] = m["_c"], m["_u"], 0.0, None
        else:
            m["c1"], m["u1"], m["c2"], m["u2"] = 0.0, None, m["_c"], m["_u"]
        if "plate" not in m.columns:
            m["plate"] = None
        m["_pos"] = pos
        parts.append(m.drop(columns=["_c", "_u", "_i"]))
    orphan = mono.loc[~used].drop(columns=["_i"])
    if len(orphan):
        orphan = orphan.copy()
        s = orphan["d1"].astype(str) + "|" + orphan["cell"].astype(str)
        if "plate" in keys:
            s = s + "|" + orphan["plate"].astype(str)
        orphan["block_id"] = s
        orphan["d2"] = None
        orphan["c2"] = 0.0
        orphan["_pos"] = 3
        parts.append(orphan)
    allr = pd.concat(parts, ignore_index=True)
    first = allr.groupby("block_id", sort=False)[ROW].transform("min")
    allr = allr.assign(_first=first.to_numpy()).sort_values(["_first", "_pos", ROW], kind="stable")
    out = pd.DataFrame({
        "block_id": allr["block_id"].to_numpy(),
        "drug1": allr["d1"].to_numpy(), "drug2": allr["d2"].to_numpy(),
        "conc1": allr["c1"].to_numpy(), "conc2": allr["c2"].to_numpy(),
        "conc_unit1": allr["u1"].to_numpy(), "conc_unit2": allr["u2"].to_numpy(),
        "response": allr["response"].to_numpy(), "cell_line": allr["cell"].to_numpy(),
        ROW: allr[ROW].to_numpy(),
    })
    if plate:
        out["plate"] = allr["plate"].to_numpy()
    b = _Build(
        out, name, "almanac",
        colmap={"drug1": n1, "drug2": n2, "conc1": c1, "conc2": c2, "conc_unit1": u1 or "CONCUNIT1",
                "conc_unit2": u2 or "CONCUNIT2", "cell_line": cell, "plate": plate or "PLATE", "response": val},
        format_kind="viability", default_readout=value.lower(),
    )
    b.notes.append(f"{value} read as kind 'viability' (100 = untreated growth, decreasing with effect; < 0 = net kill)")
    n_shared = int(used.sum())
    b.notes.append(f"{n_shared} single-agent row(s) attached to combination blocks; {len(orphan)} in single-drug blocks")
    return _finish(
        b, response_kind=response_kind, readout=readout, conc_factor=conc_factor, conc_unit=conc_unit,
        target_unit=target_unit, allow_missing_response=allow_missing_response,
    )


# ---------------------------------------------------------------------------------------
# synergy (Python package) CSVs
# ---------------------------------------------------------------------------------------

_SYN_CONC = re.compile(r"^(?:drug|d)(\d+)(?:conc)?$")


def read_synergy_py(
    path: str | Path,
    *,
    response_kind: str | None = None,
    readout: str | None = None,
    sheet: int | str | None = None,
    conc_factor: float = 1.0,
    conc_unit: str | None = None,
    target_unit: str | None = None,
    allow_missing_response: bool = False,
    drugs: Sequence[str] | None = None,
    block_id: Any = 1,
) -> pd.DataFrame:
    """Read the CSVs of the ``synergy`` Python package (Wooten & Albert 2021,
    *Bioinformatics* 37:1473): ``drug1.conc, drug2.conc[, drug3.conc...], E`` or
    ``d1, d2[, d3], E``.

    ``E`` is the effect as a fraction of the untreated one (E0 ~ 1, decreasing with
    dose), returned as **% viability** (x 100).  Drug names are ``drugs`` or
    ``drug1``, ``drug2``...; the whole file is one block (``block_id``).  Units are not
    part of the format (pass ``conc_unit``).  Single-drug files are rejected.
    """
    name = Path(path).name
    df = _load(path, sheet)
    cols = list(df.columns)
    conc = {}
    for c in cols:
        m = _SYN_CONC.match(_norm(c))
        if m:
            conc[int(m.group(1))] = c
    e = _find(cols, "E", "effect")
    if e is None or len(conc) < 2:
        miss = (["E"] if e is None else []) + ([f"drug{k}.conc" for k in (1, 2) if k not in conc])
        raise _missing(name, miss, cols, "of a synergy (Python) file; single-drug files are not combination screens")
    ks = sorted(conc)
    if ks != list(range(1, len(ks) + 1)):
        raise InputError(f"drug concentration columns must be numbered 1..K, found {ks}", file=name, column=[conc[k] for k in ks])
    if drugs is not None and len(drugs) != len(ks):
        raise InputError(f"{len(drugs)} drug names given for {len(ks)} drugs", file=name, column=[conc[k] for k in ks])
    out = pd.DataFrame({"block_id": [block_id] * len(df), ROW: df[ROW].to_numpy()})
    for k in ks:
        out[f"drug{k}"] = drugs[k - 1] if drugs is not None else f"drug{k}"
        out[f"conc{k}"] = df[conc[k]].to_numpy()
        out[f"conc_unit{k}"] = None
    resp = df[e]
    num, ok = to_float(resp.astype(object).where(resp.notna(), "nan"))
    if not ok.all():
        raise InputError(
            f"non-numeric effect(s) {sorted({str(v) for v in resp[~ok]})[:5]}",
            file=name, column=e, rows=df.loc[~ok, ROW].tolist(),
        )
    out["response"] = num * 100.0
    colmap = {f"conc{k}": conc[k] for k in ks}
    colmap["response"] = e
    b = _Build(out, name, "synergy_py", colmap=colmap, format_kind="viability", default_readout="viability")
    b.notes.append("synergy E (fraction of untreated) multiplied by 100 (% viability)")
    return _finish(
        b, response_kind=response_kind, readout=readout, conc_factor=conc_factor, conc_unit=conc_unit,
        target_unit=target_unit, allow_missing_response=allow_missing_response,
    )


# ---------------------------------------------------------------------------------------
# generic table with a column mapping
# ---------------------------------------------------------------------------------------

_MAP_KEY = re.compile(r"^(block_id|drug\d+|conc\d+|conc_unit\d*|readout|response|response_kind|cell_line|replicate|plate|well)$")


def read_table(
    path: str | Path,
    mapping: Mapping[str, str | Sequence[str]] | None = None,
    *,
    constants: Mapping[str, Any] | None = None,
    response_kind: str | None = None,
    readout: str | None = None,
    response_scale: float = 1.0,
    sheet: int | str | None = None,
    header_rows: int | str = "auto",
    conc_factor: float = 1.0,
    conc_unit: str | None = None,
    target_unit: str | None = None,
    allow_missing_response: bool = False,
    keep: Sequence[str] = (),
) -> pd.DataFrame:
    """Read any CSV/TSV/TXT (``.gz``), Excel or Parquet table with a column mapping.

    Parameters
    ----------
    path
        The file.
    mapping
        Canonical name -> the file's column: ``block_id`` (a column, or a list of columns
        whose values are joined with ``|``), ``drugK``, ``concK``, ``conc_unitK`` (or one
        ``conc_unit`` for all drugs), ``response``, and optionally ``cell_line``,
        ``replicate``, ``plate``, ``well``, ``readout``, ``response_kind``.  Unmapped
        canonical names already present in the file (case-insensitive) are used as they
        are.
    constants
        Canonical name -> a value for every row (e.g. ``{"drug1": "cisplatin",
        "conc_unit": "uM", "block_id": 1}``).  Without a block id, the whole file is block
        1 (validation then rejects a file that mixes drugs or cell lines).
    response_kind
        Required unless mapped or constant: ``viability``, ``inhibition`` or ``induction``.
    response_scale
        Multiply the response by this (e.g. 100 for a fraction of control).
    header_rows
        ``1``, ``2`` or ``"auto"`` (a second header row with units is recognised).
    keep
        File columns to carry into the result unchanged.

    Units of a concentration column without a unit column are taken from its header
    (``Conc (µM)``, ``conc_r_nM``) or from a units header row.
    """
    name = Path(path).name
    df = _load(path, sheet, header_rows)
    cols = list(df.columns)
    mapping = dict(mapping or {})
    constants = dict(constants or {})
    for k in list(mapping) + list(constants):
        if not _MAP_KEY.match(k):
            raise InputError(f"{k!r} is not a column of the screen table", file=name, column=k)
    both = sorted(set(mapping) & set(constants))
    if both:
        raise InputError(f"{both} given both as mapped columns and as constants", file=name, column=both)
    # unmapped canonical names present in the file
    for c in cols:
        n = c.strip().lower()
        if c != ROW and _MAP_KEY.match(n) and n not in mapping and n not in constants:
            mapping[n] = c
    for k, v in mapping.items():
        vs = [v] if isinstance(v, str) else list(v)
        absent = [x for x in vs if x not in df.columns]
        if absent:
            raise InputError(
                f"the mapping for {k!r} names column(s) {absent} that the file does not have; found "
                f"{[c for c in cols if c != ROW]}",
                file=name, column=absent,
            )
    out = pd.DataFrame({ROW: df[ROW].to_numpy()})
    colmap: dict[str, str] = {}
    for k, v in mapping.items():
        if isinstance(v, str):
            out[k] = df[v].to_numpy()
            colmap[k] = v
        else:
            vs = list(v)
            pieces = [_str_col(df[x]).astype(str).tolist() for x in vs]
            out[k] = np.array(["|".join(t) for t in zip(*pieces)], dtype=object)
            colmap[k] = "+".join(vs)
    for k, v in constants.items():
        out[k] = [v] * len(df)
    if "block_id" not in out.columns:
        out["block_id"] = 1
    ks = sorted({int(k[4:]) for k in out.columns if _DRUG_RE.match(k)} | {int(k[4:]) for k in out.columns if _CONC_RE.match(k)})
    need = ["response"] + [f"conc{k}" for k in (ks if len(ks) >= 2 else [1, 2])] + [f"drug{k}" for k in (ks if len(ks) >= 2 else [1, 2])]
    missing = [c for c in need if c not in out.columns]
    if missing:
        raise InputError(
            f"no column for {missing}: add them to mapping= (canonical name -> file column) or constants=; "
            f"found {[c for c in cols if c != ROW]}",
            file=name, column=missing,
        )
    for kk in ks:
        if f"drug{kk}" in out.columns and f"drug{kk}" in mapping:
            out[f"drug{kk}"] = _str_col(out[f"drug{kk}"]).to_numpy()
        uk = f"conc_unit{kk}"
        if uk not in out.columns:
            if "conc_unit" in out.columns:
                out[uk] = out["conc_unit"].to_numpy()
                if "conc_unit" in colmap:
                    colmap[uk] = colmap["conc_unit"]
            else:
                src = colmap.get(f"conc{kk}")
                out[uk] = _unit_from_header(src, df.attrs.get("units_row")) if src else None
    for k in ("cell_line", "plate", "well"):
        if k in out.columns and k in mapping:
            out[k] = _str_col(out[k]).to_numpy()
    if response_scale != 1.0:
        num, ok = to_float(out["response"].astype(object).where(out["response"].notna(), "nan"))
        bad = ~ok & out["response"].notna().to_numpy()
        if bad.any():
            raise InputError(
                f"non-numeric response(s) {sorted({str(v) for v in out['response'][bad]})[:5]}",
                file=name, column=colmap.get("response", "response"), rows=out.loc[bad, ROW].tolist(),
            )
        out["response"] = num * float(response_scale)
    keep_l = list(keep)
    absent = [c for c in keep_l if c not in df.columns]
    if absent:
        raise InputError(f"keep= names column(s) {absent} that the file does not have", file=name, column=absent)
    for c in keep_l:
        out[c] = df[c].to_numpy()
    b = _Build(out, name, "table", colmap=colmap, keep=keep_l)
    if response_scale != 1.0:
        b.notes.append(f"response multiplied by {response_scale:g}")
    return _finish(
        b, response_kind=response_kind, readout=readout, conc_factor=conc_factor, conc_unit=conc_unit,
        target_unit=target_unit, allow_missing_response=allow_missing_response,
    )


# ---------------------------------------------------------------------------------------
# detection and dispatch
# ---------------------------------------------------------------------------------------


def _detect_columns(cols: Sequence[str]) -> str | None:
    n = {_norm(c) for c in cols}
    if {"blockid", "row", "col", "value"} <= n:
        return "ncats_matrix"
    if {"blockid", "rowconcs", "colconcs"} <= n:
        return "ncats_matrix"
    if "percentgrowth" in n and "conc1" in n and ("cellname" in n):
        return "almanac"
    if any(re.match(r"^viability\d+$", c) for c in n) and (
        "druganame" in n or "drug1id" in n or any(c.startswith("drugaconc") for c in n)
    ):
        return "oneil_raw"
    old = {"drugrow", "drugcol", "concr", "concc"} <= n
    new = {"drug1", "drug2", "conc1", "conc2"} <= n
    has_block = bool(n & {"blockid", "pairindex"})
    if old and has_block and ("inhibition" in n or "celllinename" in n or "drugrowcid" in n):
        return "drugcomb_template"
    if (old or new) and has_block and ("response" in n or "inhibition" in n):
        return "synergyfinder_table"
    conc = [c for c in n if _SYN_CONC.match(c)]
    if "e" in n and len(conc) >= 2:
        return "synergy_py"
    return None


def _first_row(path: str | Path, sheet: int | str | None) -> list[str]:
    """Cells of the first non-empty line (text) or row (spreadsheet)."""
    if file_kind(path) == "excel":
        rows, _ = read_rows(path, sheet=sheet)
        return rows[0][1] if rows else []
    text, _ = read_text(path)
    for line in text.split("\n"):
        if line.strip():
            delim = sniff_delimiter(text)
            return [c.strip() for c in next(csv.reader([line], delimiter=delim, quotechar='"'))]
    return []


def _is_matrix(cells: list[str]) -> bool:
    if not cells:
        return False
    key = _META_KEYS.get(_norm(cells[0].rstrip(":")))
    return key in ("drug1", "drug2", "block_id") and len([c for c in cells if c]) <= 2


def _detect(path: str | Path, sheet: int | str | None) -> tuple[str, pd.DataFrame | None]:
    name = Path(path).name
    if file_kind(path) != "parquet":
        cells = _first_row(path, sheet)
        if not cells:
            raise InputError("the file is empty", file=name)
        if _is_matrix(cells):
            return "synergyfinder_matrix", None
    df = read_frame(path, sheet=sheet)
    fmt = _detect_columns([c for c in df.columns if c != ROW])
    if fmt is None:
        raise InputError(
            "cannot tell the format from the columns; pass format= or read_table(path, mapping=...); "
            f"found {[c for c in df.columns if c != ROW]}",
            file=name,
        )
    return fmt, df


def detect_format(path: str | Path, *, sheet: int | str | None = None) -> str:
    """Detect the format of a screen file from its first line and column names.

    Returns one of :data:`FORMATS` except ``"table"``: ``synergyfinder_matrix`` when the
    first line is a ``Drug1:`` (or ``Drug2:``/``BlockId:``) line; otherwise from the
    columns (NCATS ``BlockId, Row, Col, Value`` or ``RowConcs, ColConcs``; ALMANAC
    ``PERCENTGROWTH, CONC1, CELLNAME``; O'Neil ``viability1..`` with ``drugA_name`` or
    ``drug1id``; DrugComb: old SynergyFinder names with ``inhibition``,
    ``cell_line_name`` or ``drug_row_cid``; SynergyFinder: a block id with ``drugK,
    concK`` or ``drug_row, conc_r`` and a response; synergy: ``drugK.conc``/``dK`` and
    ``E``).

    Raises
    ------
    InputError
        When no known format matches (then use :func:`read_table` with a mapping).
    """
    return _detect(path, sheet)[0]


def read_screen(
    path: str | Path,
    *,
    format: str = "auto",
    response_kind: str | None = None,
    readout: str | None = None,
    mapping: Mapping[str, str | Sequence[str]] | None = None,
    sheet: int | str | None = None,
    conc_factor: float = 1.0,
    **kw: Any,
) -> pd.DataFrame:
    """Read any supported screen file into the canonical screen table.

    Parameters
    ----------
    path
        The file.  For an NCATS export pass ``responses.csv`` (``metadata=`` defaults to
        ``metadata.csv`` beside it) or the metadata file (then ``responses.csv`` is
        looked up beside it).
    format
        ``"auto"`` (detect, see :func:`detect_format`; a ``mapping`` implies
        ``"table"``) or one of :data:`FORMATS` (aliases: ``synergyfinder``, ``matrix``,
        ``drugcomb``, ``ncats``, ``oneil``, ``synergy``...).
    response_kind
        ``viability``, ``inhibition`` or ``induction``; required for formats that do not
        define the response (SynergyFinder tables and matrices, NCATS, generic tables),
        and only allowed to confirm it for those that do (DrugComb: inhibition; O'Neil,
        ALMANAC, synergy: viability).
    readout
        Readout name.
    mapping
        Column mapping for generic tables (:func:`read_table`).
    sheet
        Excel sheet.
    conc_factor
        Multiply every concentration by this factor.
    **kw
        Passed to the reader: ``conc_unit``, ``target_unit``, ``allow_missing_response``,
        and reader-specific options (``metadata``, ``constants``, ``response_scale``,
        ``value``, ``per_plate``, ``drugs``, ``drug1``, ``drug2``...).

    Returns
    -------
    pandas.DataFrame
        The canonical screen table; ``attrs["format"]`` is the format read,
        ``attrs["notes"]`` lists what the reader did (scalings, replicate numbering).
    """
    fmt = _FORMAT_ALIASES.get(str(format).strip().lower())
    if fmt is None:
        raise ValueError(f"unknown format {format!r}; choose one of {('auto', *FORMATS)}")
    frame: pd.DataFrame | None = None
    if fmt == "auto":
        if mapping is not None:
            fmt = "table"
        else:
            fmt, frame = _detect(path, sheet)
    if mapping is not None and fmt != "table":
        raise ValueError("mapping= is only used with format='table'")
    common: dict[str, Any] = {"response_kind": response_kind, "readout": readout}
    if fmt == "ncats_matrix":
        p = Path(path)
        meta = kw.pop("metadata", None)
        probe = frame if frame is not None else read_frame(p)
        if {"rowconcs", "colconcs"} <= {_norm(c) for c in probe.columns}:
            rp = _sibling(p, "responses")
            if rp is None:
                raise InputError("no responses file beside the metadata", file=p.name)
            meta, p = p, rp
        return read_ncats_matrix(p, meta, conc_factor, **common, **kw)
    if fmt == "table":
        return read_table(path, mapping, sheet=sheet, conc_factor=conc_factor, **common, **kw)
    readers = {
        "synergyfinder_table": read_synergyfinder_table,
        "synergyfinder_matrix": read_synergyfinder_matrix,
        "drugcomb_template": read_drugcomb_template,
        "oneil_raw": read_oneil_raw,
        "almanac": read_almanac,
        "synergy_py": read_synergy_py,
    }
    reader: Any = readers[fmt]
    token = _PRELOADED.set(((str(Path(path).resolve()), sheet, "auto"), frame) if frame is not None else None)
    try:
        out: pd.DataFrame = reader(path, sheet=sheet, conc_factor=conc_factor, **common, **kw)
    finally:
        _PRELOADED.reset(token)
    return out


def canonicalise_long_frame(
    df: pd.DataFrame,
    *,
    source: str = "<table>",
    response_kind: str | None = None,
    first_row: int = 1,
    fmt: str = "synergyfinder_table",
    number_replicates: bool = True,
) -> pd.DataFrame:
    """Canonicalise an in-memory long table (a chunk of a larger file).

    Same column recognition as :func:`read_synergyfinder_table`; ``first_row`` is the
    1-based data-row number of the chunk's first row, so errors name the rows of the file.
    """
    d = df.copy()
    d[ROW] = np.arange(first_row, first_row + len(d))
    b = _build_long(d, source, fmt)
    return _finish(b, response_kind=response_kind, number_replicates=number_replicates)

"""Compare one result table between two runs, cell by cell."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sensitize.core.errors import InputError, data_rows

STATUSES = ("equal", "different", "only_in_a", "only_in_b")


def _check_keys(df: pd.DataFrame, keys: list[str], where: str) -> None:
    missing = [k for k in keys if k not in df.columns]
    if missing:
        raise InputError("key column not found", file=where, column=missing)
    dup = df.duplicated(subset=keys, keep=False).to_numpy()
    if dup.any():
        raise InputError(
            "key columns do not identify rows uniquely; add key columns",
            file=where,
            column=keys,
            rows=data_rows(np.flatnonzero(dup)),
        )


def _same(x: object, y: object) -> bool:
    try:
        return bool(x == y)
    except (TypeError, ValueError):  # e.g. arrays: element-wise comparison
        return repr(x) == repr(y)


def _is_number(s: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype))


def compare_frames(
    a: pd.DataFrame,
    b: pd.DataFrame,
    keys: str | Sequence[str],
    columns: Sequence[str] | None = None,
    *,
    atol: float = 0.0,
    rtol: float = 0.0,
    only_differences: bool = False,
    names: tuple[str, str] = ("a", "b"),
) -> pd.DataFrame:
    """Compare two versions of a table row by row (matched on ``keys``) and column by column.

    Parameters
    ----------
    a, b
        The two tables (e.g. the same result table from two runs).
    keys
        Column(s) identifying a row in both tables (e.g. ``["block_id"]``); must be unique.
    columns
        Columns to compare; default: every non-key column of ``a`` then those only in ``b``.
        A column missing from one table compares as missing values there.
    atol, rtol
        Numeric tolerance: two numbers are equal when ``|a - b| <= atol + rtol * |b|``
        (:func:`numpy.isclose`); two missing values are equal.  Non-numeric values must be
        identical.  The default (0, 0) asks for exact equality.
    only_differences
        Drop the ``"equal"`` rows.
    names
        Labels used in error messages for the two tables.

    Returns
    -------
    pandas.DataFrame
        Long format, one row per (key, column): the key columns, ``column``, ``a``, ``b``,
        ``difference`` (``b - a`` for numeric columns, NaN otherwise) and ``status``: one of
        ``"equal"``, ``"different"``, ``"only_in_a"``, ``"only_in_b"`` (the row exists in
        one table only).  Rows are ordered by key as they first appear in ``a`` then ``b``.
    """
    keys_l = [keys] if isinstance(keys, str) else list(keys)
    if not keys_l:
        raise InputError("at least one key column is needed to match rows")
    _check_keys(a, keys_l, names[0])
    _check_keys(b, keys_l, names[1])
    if columns is None:
        cols = [c for c in a.columns if c not in keys_l] + [
            c for c in b.columns if c not in keys_l and c not in a.columns
        ]
    else:
        cols = list(columns)
        unknown = [c for c in cols if c not in a.columns and c not in b.columns]
        if unknown:
            raise InputError(f"column not found in {names[0]} nor {names[1]}", column=unknown)
        overlap = [c for c in cols if c in keys_l]
        if overlap:
            raise InputError("a key column cannot also be compared", column=overlap)
    ka = a[keys_l].copy()
    ka["_in_a"] = True
    ka["_pos_a"] = np.arange(len(a))
    kb = b[keys_l].copy()
    kb["_in_b"] = True
    kb["_pos_b"] = np.arange(len(b))
    m = ka.merge(kb, on=keys_l, how="outer", sort=False)
    m["_in_a"] = m["_in_a"].notna()
    m["_in_b"] = m["_in_b"].notna()
    order = np.lexsort((m["_pos_b"].fillna(-1).to_numpy(), m["_pos_a"].fillna(np.inf).to_numpy()))
    m = m.iloc[order].reset_index(drop=True)
    pos_a = m["_pos_a"].to_numpy()
    pos_b = m["_pos_b"].to_numpy()
    in_a = m["_in_a"].to_numpy(dtype=bool)
    in_b = m["_in_b"].to_numpy(dtype=bool)
    presence = np.where(in_a & in_b, "both", np.where(in_a, "only_in_a", "only_in_b"))

    def take(df: pd.DataFrame, col: str, pos: np.ndarray, present: np.ndarray) -> pd.Series:
        if col not in df.columns:
            return pd.Series([np.nan] * len(pos), dtype=float)
        idx = np.where(present, np.nan_to_num(pos.astype(float), nan=0.0), 0).astype(np.int64)
        vals = (
            df[col].iloc[idx].reset_index(drop=True) if len(df) else pd.Series([np.nan] * len(pos))
        )
        if not present.all():
            vals = vals.astype(object) if not _is_number(vals) else vals.astype(float)
            vals[~present] = np.nan
        return vals

    pieces = []
    for col in cols:
        va = take(a, col, pos_a, in_a)
        vb = take(b, col, pos_b, in_b)
        numeric = _is_number(va) and _is_number(vb)
        na_a = va.isna().to_numpy()
        na_b = vb.isna().to_numpy()
        if numeric:
            fa = va.to_numpy(dtype=float, na_value=np.nan)
            fb = vb.to_numpy(dtype=float, na_value=np.nan)
            equal = np.isclose(fa, fb, rtol=rtol, atol=atol, equal_nan=True)
            diff = fb - fa
        else:
            oa = va.astype(object).to_numpy()
            ob = vb.astype(object).to_numpy()
            same = np.array(
                [not (nx or ny) and _same(x, y) for x, y, nx, ny in zip(oa, ob, na_a, na_b)],
                dtype=bool,
            )
            equal = same | (na_a & na_b)
            diff = np.full(len(m), np.nan)
        status = np.where(presence == "both", np.where(equal, "equal", "different"), presence)
        piece = m[keys_l].copy()
        piece["column"] = col
        piece["a"] = fa if numeric else va.to_numpy(dtype=object)
        piece["b"] = fb if numeric else vb.to_numpy(dtype=object)
        piece["difference"] = diff
        piece["status"] = status
        pieces.append(piece)
    if not pieces:
        out = m[keys_l].iloc[:0].copy()
        for c, dt in (
            ("column", object),
            ("a", object),
            ("b", object),
            ("difference", float),
            ("status", object),
        ):
            out[c] = pd.Series(dtype=dt)
        return out
    out = pd.concat(pieces, ignore_index=True)
    # interleave: for each key, all its columns together
    out["_k"] = np.tile(np.arange(len(m)), len(pieces))
    out["_c"] = np.repeat(np.arange(len(pieces)), len(m))
    out = (
        out.sort_values(["_k", "_c"], kind="stable")
        .drop(columns=["_k", "_c"])
        .reset_index(drop=True)
    )
    if only_differences:
        out = out[out["status"] != "equal"].reset_index(drop=True)
    return out

"""The tidy long table for combination screens, its validation and unit handling.

One row per well (or per dose cell and replicate).  Columns:

========================  ==================================================================
column                    meaning
========================  ==================================================================
``block_id``              one dose-response matrix (drugs x cell line x readout series);
                          the input's own values are kept
``drug1`` ... ``drugK``   drug names (K >= 2); an empty name means the drug is absent
``conc1`` ... ``concK``   concentrations (>= 0, finite), one unit per drug after
                          :func:`harmonise_units`
``conc_unit1`` ...        units (``pM, nM, uM, mM, M`` and spellings such as ``µM``)
``readout``               readout name, e.g. ``viability``, ``CXCL10`` (default
                          ``response``)
``response``              the measured response
``response_kind``         ``viability`` (100 = untreated, decreasing with effect),
                          ``inhibition`` (0 = untreated, increasing with effect) or
                          ``induction`` (0 = vehicle, increasing with induction); stated
                          explicitly, never guessed
``cell_line``             optional; a block may not mix cell lines
``replicate``             optional replicate number
``plate``, ``well``       optional plate and well
========================  ==================================================================
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from sensitize.core.errors import InputError

RESPONSE_KINDS = ("viability", "inhibition", "induction")

#: factors to nanomolar
UNIT_TO_NM: dict[str, float] = {
    "pm": 1e-3,
    "nm": 1.0,
    "um": 1e3,
    "mm": 1e6,
    "m": 1e9,
}
_UNIT_ALIASES = {
    "µm": "um", "μm": "um", "micromolar": "um", "umol/l": "um", "µmol/l": "um",
    "nanomolar": "nm", "nmol/l": "nm", "picomolar": "pm", "pmol/l": "pm",
    "millimolar": "mm", "mmol/l": "mm", "molar": "m", "mol/l": "m",
}
_CANONICAL_UNIT = {"pm": "pM", "nm": "nM", "um": "uM", "mm": "mM", "m": "M"}

_DRUG_RE = re.compile(r"^drug(\d+)$")


def canonical_unit(unit: object) -> str | None:
    """Return the canonical spelling of a concentration unit, or ``None`` if unknown."""
    if unit is None or (isinstance(unit, float) and np.isnan(unit)):
        return None
    u = str(unit).strip().lower().replace(" ", "")
    u = _UNIT_ALIASES.get(u, u)
    return _CANONICAL_UNIT.get(u)


def _map_unique(s: pd.Series, fn: Callable[[object], object]) -> pd.Series:
    """``s.map(fn)`` computed once per distinct value (screens repeat a few values a lot)."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    mapped = np.array([fn(u) for u in uniques] + [np.nan], dtype=object)
    return pd.Series(mapped[codes], index=s.index)


def drug_indices(df: pd.DataFrame) -> list[int]:
    """Indices K of the ``drugK`` columns present, sorted."""
    out = []
    for c in df.columns:
        m = _DRUG_RE.match(str(c))
        if m:
            out.append(int(m.group(1)))
    return sorted(out)


def _rows(mask: np.ndarray | pd.Series) -> list[int]:
    return [int(i) + 1 for i in np.flatnonzero(np.asarray(mask))]


def validate_screen(
    df: pd.DataFrame,
    *,
    source: str = "<table>",
    response_kind: str | None = None,
    allow_missing_response: bool = False,
) -> pd.DataFrame:
    """Validate a screen table and return a cleaned copy in canonical form.

    Parameters
    ----------
    df
        Table with at least ``block_id``, ``drug1``, ``drug2``, ``conc1``, ``conc2`` and
        ``response``.
    source
        File name used in error messages.
    response_kind
        ``viability``, ``inhibition`` or ``induction``; fills ``response_kind`` when the
        table has no such column.  Required if the table does not state it.
    allow_missing_response
        Keep rows with an empty response (the grid cell is then imputed or the block
        rejected downstream); otherwise they are an error.

    Returns
    -------
    pandas.DataFrame
        The validated table with canonical dtypes, one unit per drug, ``readout``
        and ``response_kind`` filled.

    Raises
    ------
    InputError
        Naming the file, the column and the data rows at fault.
    """
    if df is None or len(df) == 0:
        raise InputError("the table is empty (no data rows)", file=source)
    df = df.reset_index(drop=True).copy()
    ks = drug_indices(df)
    missing = [c for c in ("block_id", "drug1", "drug2", "conc1", "conc2", "response") if c not in df.columns]
    if missing:
        raise InputError(
            f"missing required column(s); found {list(map(str, df.columns))}",
            file=source,
            column=missing,
        )
    for k in ks:
        if f"conc{k}" not in df.columns:
            raise InputError(f"drug{k} is given but conc{k} is missing", file=source, column=f"conc{k}")

    # block ids
    bad = df["block_id"].isna().to_numpy()
    if bad.any():
        raise InputError("empty block_id", file=source, column="block_id", rows=_rows(bad))

    # response kind
    if "response_kind" not in df.columns:
        if response_kind is None:
            raise InputError(
                "the response kind is not stated: pass response_kind='viability' "
                "(100 = untreated), 'inhibition' (0 = untreated) or 'induction'",
                file=source,
                column="response_kind",
            )
        df["response_kind"] = response_kind
    elif response_kind is not None:
        df["response_kind"] = df["response_kind"].fillna(response_kind)
    rk = _map_unique(df["response_kind"], lambda v: str(v).strip().lower())
    bad = ~rk.isin(RESPONSE_KINDS).to_numpy()
    if bad.any():
        raise InputError(
            f"response_kind must be one of {RESPONSE_KINDS}; found {sorted(set(rk[bad]))[:5]}",
            file=source,
            column="response_kind",
            rows=_rows(bad),
        )
    df["response_kind"] = rk

    if "readout" not in df.columns:
        df["readout"] = "response"
    df["readout"] = df["readout"].fillna("response").astype(str)

    # concentrations
    for k in ks:
        c = f"conc{k}"
        raw = df[c]
        num = pd.to_numeric(raw, errors="coerce")
        drug_present = df[f"drug{k}"].notna() & (_map_unique(df[f"drug{k}"], lambda v: str(v).strip()) != "")
        nonnum = (num.isna() & raw.notna()).to_numpy()
        if nonnum.any():
            vals = sorted({str(v) for v in raw[nonnum]})[:5]
            raise InputError(f"non-numeric concentration(s) {vals}", file=source, column=c, rows=_rows(nonnum))
        miss = (num.isna() & drug_present).to_numpy()
        if miss.any():
            raise InputError("empty concentration for a named drug", file=source, column=c, rows=_rows(miss))
        neg = (num < 0).to_numpy()
        if neg.any():
            raise InputError("negative concentration(s)", file=source, column=c, rows=_rows(neg))
        inf = ~np.isfinite(num.fillna(0.0).to_numpy())
        if inf.any():
            raise InputError("infinite concentration(s)", file=source, column=c, rows=_rows(inf))
        df[c] = num.fillna(0.0).astype(float)
        df[f"drug{k}"] = df[f"drug{k}"].where(drug_present, None)

    # response
    raw = df["response"]
    num = pd.to_numeric(raw, errors="coerce")
    maybe = (num.isna() & raw.notna()).to_numpy()
    nonnum = maybe.copy()
    if maybe.any():
        nonnum[maybe] = (raw[maybe].astype(str).str.strip() != "").to_numpy()
    if nonnum.any():
        vals = sorted({str(v) for v in raw[nonnum]})[:5]
        raise InputError(f"non-numeric response(s) {vals}", file=source, column="response", rows=_rows(nonnum))
    if not allow_missing_response and num.isna().any():
        raise InputError(
            "empty response(s); fill them or pass allow_missing_response=True to impute",
            file=source,
            column="response",
            rows=_rows(num.isna().to_numpy()),
        )
    inf = np.isinf(num.to_numpy(dtype=float, na_value=np.nan))
    if inf.any():
        raise InputError("infinite response(s)", file=source, column="response", rows=_rows(inf))
    df["response"] = num.astype(float)

    # units
    for k in ks:
        uc = f"conc_unit{k}"
        if uc not in df.columns:
            if "conc_unit" in df.columns:
                df[uc] = df["conc_unit"]
            else:
                df[uc] = None
        present = df[f"drug{k}"].notna()
        units = df[uc]
        given = units.notna() & present
        canon = units.where(~given, _map_unique(units, canonical_unit))
        unknown = (given & canon.isna()).to_numpy()
        if unknown.any():
            vals = sorted({str(v) for v in units[unknown]})[:5]
            raise InputError(
                f"unknown concentration unit(s) {vals}; use pM, nM, uM, mM or M",
                file=source,
                column=uc,
                rows=_rows(unknown),
            )
        df[uc] = canon
    if "conc_unit" in df.columns:
        df = df.drop(columns=["conc_unit"])

    # block consistency: one cell line, one drug per position, one response kind
    g = df.groupby("block_id", sort=False, dropna=False)
    checks = ["cell_line", "response_kind"] + [f"drug{k}" for k in ks]
    for col in checks:
        if col not in df.columns:
            continue
        nun = g[col].transform("nunique")  # NaN excluded (dropna=True)
        bad = (nun > 1).to_numpy()
        if bad.any():
            blocks = list(dict.fromkeys(df.loc[bad, "block_id"].tolist()))[:5]
            what = "cell lines" if col == "cell_line" else f"values of {col}"
            raise InputError(
                f"block(s) {blocks} mix several {what}; split them into separate blocks",
                file=source,
                column=col,
                rows=_rows(bad),
            )

    # duplicated cells with explicit replicate numbers
    if "replicate" in df.columns:
        keys = ["block_id", "readout", "replicate"] + [f"conc{k}" for k in ks]
        dup = df.duplicated(keys, keep=False).to_numpy()
        if dup.any():
            raise InputError(
                "the same dose cell appears twice with the same replicate number",
                file=source,
                column="replicate",
                rows=_rows(dup),
            )
    return df


def harmonise_units(df: pd.DataFrame, target: str | None = None) -> pd.DataFrame:
    """Convert each drug's concentrations to one unit.

    Each drug (by name, across blocks) is converted to ``target`` if given, otherwise to
    the unit it is most often given in.  Rows with no unit are assumed to be in that unit
    already.
    """
    df = df.copy()
    ks = drug_indices(df)
    long = []
    for k in ks:
        sub = df[[f"drug{k}", f"conc_unit{k}"]].dropna()
        sub.columns = ["drug", "unit"]
        long.append(sub)
    if not long:
        return df
    allu = pd.concat(long)
    if target is not None:
        t = canonical_unit(target)
        if t is None:
            raise InputError(f"unknown target unit {target!r}")
        chosen = dict.fromkeys(allu["drug"].unique(), t)
    else:
        chosen = allu.groupby("drug")["unit"].agg(lambda s: s.value_counts().index[0]).to_dict()
    for k in ks:
        d, u, c = f"drug{k}", f"conc_unit{k}", f"conc{k}"
        tgt = df[d].map(chosen)
        src = df[u].where(df[u].notna(), tgt)
        f_src = src.map(lambda x: UNIT_TO_NM.get(str(x).lower(), np.nan))
        f_tgt = tgt.map(lambda x: UNIT_TO_NM.get(str(x).lower(), np.nan))
        factor = (f_src / f_tgt).fillna(1.0)
        df[c] = df[c] * factor
        df[u] = tgt
    return df


def n_drugs(df: pd.DataFrame) -> int:
    """Number of drug positions in the table."""
    return len(drug_indices(df))


def drug_columns(df: pd.DataFrame) -> tuple[list[str], list[str]]:
    """``(["drug1", ...], ["conc1", ...])`` for the table."""
    ks = drug_indices(df)
    return [f"drug{k}" for k in ks], [f"conc{k}" for k in ks]


def require_columns(df: pd.DataFrame, cols: Sequence[str], source: str) -> None:
    """Raise :class:`InputError` if any of ``cols`` is missing."""
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputError(f"missing required column(s); found {list(map(str, df.columns))}", file=source, column=missing)


INDUCTION_SCALES = ("as_is", "percent_max", "log2fc")


def induction_scale(df: pd.DataFrame, scale: str = "as_is", source: str = "<table>") -> pd.DataFrame:
    """Put raw induction readouts (e.g. CXCL10 in pg/mL) on an induction scale.

    Applied to the rows with ``response_kind == "induction"`` of a validated screen table,
    per block and readout, relative to the block's vehicle cell (all doses 0; replicates
    averaged):

    * ``as_is``: unchanged (the values already are an induction scale with 0 = vehicle).
    * ``log2fc``: ``log2(response / vehicle)``; needs positive signals.
    * ``percent_max``: ``100 (response - vehicle) / (max - vehicle)``, ``max`` the block's
      largest mean cell response: 0 = vehicle, 100 = the block's maximal induction.

    Parameters
    ----------
    df
        Output of :func:`validate_screen`.
    scale
        One of :data:`INDUCTION_SCALES`.
    source
        File name used in error messages.

    Returns
    -------
    DataFrame
        A copy with ``response`` rescaled and ``induction_scale`` recorded per row.

    Raises
    ------
    InputError
        A block without a vehicle cell, or (``log2fc``) non-positive signals, naming the rows.
    """
    if scale not in INDUCTION_SCALES:
        raise ValueError(f"induction scale must be one of {INDUCTION_SCALES}, not {scale!r}")
    if scale == "as_is" or "response_kind" not in df.columns:
        return df
    ind = (df["response_kind"] == "induction").to_numpy()
    if not ind.any():
        return df
    out = df.copy()
    out["induction_scale"] = np.where(ind, scale, "")
    sub = out[ind]
    concs = [c for c in sub.columns if re.fullmatch(r"conc\d+", str(c))]
    keys = ["block_id", "readout"]
    zero = (sub[concs].fillna(0) == 0).all(axis=1)
    veh = sub[zero].groupby(keys)["response"].mean()
    idx = pd.MultiIndex.from_frame(sub[keys])
    vehicle = veh.reindex(idx).to_numpy()
    missing = np.isnan(vehicle)
    if missing.any():
        raise InputError("an induction readout needs a vehicle cell (all doses 0) in every block to be "
                         f"rescaled to {scale!r}", file=source, column="response",
                         rows=_rows(np.isin(np.arange(len(df)), np.flatnonzero(ind)[missing])))
    r = sub["response"].to_numpy(dtype=float)
    if scale == "log2fc":
        badv = (r <= 0) | (vehicle <= 0)
        if badv.any():
            raise InputError("log2 fold change needs positive signals (zero or negative responses found)",
                             file=source, column="response",
                             rows=_rows(np.isin(np.arange(len(df)), np.flatnonzero(ind)[badv])))
        new = np.log2(r / vehicle)
    else:
        cell_cols = [*keys, *concs]
        cmax = sub.groupby(cell_cols, dropna=False)["response"].mean().groupby(level=[0, 1]).max()
        top = cmax.reindex(idx).to_numpy()
        span = top - vehicle
        flat = ~(span > 0)
        if flat.any():
            raise InputError("percent of maximal induction needs a block whose largest response exceeds its "
                             "vehicle", file=source, column="response",
                             rows=_rows(np.isin(np.arange(len(df)), np.flatnonzero(ind)[flat])))
        new = 100.0 * (r - vehicle) / span
    out.loc[ind, "response"] = new
    return out

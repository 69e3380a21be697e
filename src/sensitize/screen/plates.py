"""Per-plate normalisation of immune-activation screens and conversion to the screen table.

Input: the tidy per-well table of :func:`sensitize.io.plates.read_plates` (one row per
plate x well x readout with ``role``, drugs, ``raw`` and ``well_flag``).

Per plate x readout, with ``v`` the vehicle centre (median of the vehicle wells by
default) and ``p`` the positive-control centre of that readout:

============================  ======================================================
column                        definition
============================  ======================================================
``value``                     the signal normalised: ``raw``, or ``corrected`` when a
                              positional correction is requested
``pct_vehicle``               ``100 * value / v``
``fold_change``               ``value / v``
``log2_fc``                   ``log2(value / v)``; NaN (flag ``nonpositive_signal``)
                              when ``value <= 0``
``pct_positive``              ``100 * (value - v) / (p - v)``: 0 = vehicle, 100 =
                              positive control (percent of maximal induction for a
                              chemokine, percent killing relative to the killing control
                              for viability)
``pct_control``               ``100 * (value - p) / (v - p)``: viability scaled from the
                              killing control (0) to vehicle (100)
``rel_viability``             the well's viability ``fold_change`` (on chemokine rows)
``per_viable``                chemokine per viable cell: ``fold_change /
                              rel_viability``; NaN and flag ``low_viability`` when
                              ``rel_viability < min_viability`` (default 0.1, i.e. 10 %
                              of vehicle): a ratio to almost no cells is noise
``log2_per_viable``           ``log2(per_viable)``
``b_score``                   Brideau et al. (2003) B-score: median-polish residual
                              divided by the plate's scaled MAD of residuals
============================  ======================================================

References
----------
Brideau C, Gunter B, Pikounis B, Liaw A (2003). Improved statistical methods for hit
selection in high-throughput screening. *J Biomol Screen* 8:634-647.
Tukey JW (1977). *Exploratory Data Analysis*, median polish.
Mpindi JP et al. (2015). Impact of normalization methods on high-throughput screening data
with high hit rates and drug testing with dose-response data. *Bioinformatics* 31:3815-3821.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from sensitize.core.errors import InputError
from sensitize.core.results import Result
from sensitize.screen.qc import MAD_SCALE, QCResult, QCThresholds, plate_qc, positive_mask
from sensitize.screen.schema import harmonise_units, validate_screen

_ROWS = "ABCDEFGHIJKLMNOP"
_FORMATS = {96: (8, 12), 384: (16, 24)}


# --------------------------------------------------------------------------- median polish


def median_polish(
    x: np.ndarray,
    fit: np.ndarray | None = None,
    *,
    max_iter: int = 10,
    tol: float = 1e-6,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Tukey's median polish of a stack of plates, vectorised across plates.

    Parameters
    ----------
    x
        Array ``(n_plates, n_rows, n_cols)``; NaN for wells without a value.
    fit
        Boolean array of the same shape: wells used to estimate the effects (default: all
        finite wells).  Effects are then applied to every well.
    max_iter, tol
        Iterations stop when the sum of absolute residuals changes by less than ``tol``
        (relative), as in R's ``medpolish``.

    Returns
    -------
    overall, row, col, residual
        ``overall (n_plates,)``, ``row (n_plates, n_rows)``, ``col (n_plates, n_cols)`` and
        the residuals ``x - overall - row - col`` for **every** well (NaN where ``x`` is).
        A row or column with no fitting well gets effect 0.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim == 2:
        x = x[None]
    fitm = np.isfinite(x) if fit is None else (np.asarray(fit, dtype=bool) & np.isfinite(x))
    z = np.where(fitm, x, np.nan)
    n_p, n_r, n_c = z.shape
    t = np.zeros(n_p)
    r = np.zeros((n_p, n_r))
    c = np.zeros((n_p, n_c))
    old = np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for _ in range(max_iter):
            rdelta = np.nan_to_num(np.nanmedian(z, axis=2))
            z = z - rdelta[:, :, None]
            r = r + rdelta
            delta = np.nan_to_num(np.nanmedian(c, axis=1))
            c = c - delta[:, None]
            t = t + delta
            cdelta = np.nan_to_num(np.nanmedian(z, axis=1))
            z = z - cdelta[:, None, :]
            c = c + cdelta
            delta = np.nan_to_num(np.nanmedian(r, axis=1))
            r = r - delta[:, None]
            t = t + delta
            new = float(np.nansum(np.abs(z)))
            if new == 0 or abs(new - old) < tol * new:
                break
            old = new
    resid = x - t[:, None, None] - r[:, :, None] - c[:, None, :]
    return t, r, c, resid


def b_scores(residual: np.ndarray, fit: np.ndarray) -> np.ndarray:
    """B-scores: residuals divided by each plate's scaled MAD of fitted-well residuals."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        zr = np.where(fit & np.isfinite(residual), residual, np.nan)
        med = np.nanmedian(zr.reshape(len(zr), -1), axis=1)
        m = MAD_SCALE * np.nanmedian(np.abs(zr.reshape(len(zr), -1) - med[:, None]), axis=1)
    m = np.where(m > 0, m, np.nan)
    return residual / m[:, None, None]


# --------------------------------------------------------------------------- results


@dataclass
class NormalisedPlates(Result):
    """Normalised wells (``table``: one row per plate x well x readout) and their QC."""

    qc: QCResult = field(default_factory=lambda: QCResult(table=pd.DataFrame()))

    @property
    def readouts(self) -> list[str]:
        """Readouts in the table."""
        return list(dict.fromkeys(self.table["readout"].astype(str)))


@dataclass
class ScreenTable(Result):
    """The canonical screen table built from plates.

    ``table`` passes :func:`sensitize.screen.schema.validate_screen`; ``excluded`` lists the
    wells left out (plate, well, readout, reason), so nothing disappears silently.
    """

    excluded: pd.DataFrame = field(default_factory=pd.DataFrame)


# --------------------------------------------------------------------------- normalisation


def _flag(cur: pd.Series, mask: np.ndarray, name: str) -> pd.Series:
    cur = cur.fillna("").astype(str)
    add = np.where(cur == "", name, cur + ";" + name)
    return pd.Series(np.where(mask, add, cur), index=cur.index)


def _treatment_keys(df: pd.DataFrame) -> np.ndarray:
    """Integer code per well naming its treatment: role, cell line, readout and drugs/doses."""
    cols = [c for c in df.columns if c.startswith(("drug", "conc")) and not c.startswith("conc_unit")]
    keys = ["role", "readout", *(["cell_line"] if "cell_line" in df.columns else []), *sorted(cols)]
    return df[keys].astype(str).groupby(keys, sort=False, dropna=False).ngroup().to_numpy()


def _treatment_offsets(
    pr_codes: np.ndarray, t_codes: np.ndarray, v: np.ndarray, fit_rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Plate median + treatment median of each well (NaN where not estimable).

    ``pr_codes`` are plate x readout codes and ``t_codes`` treatment codes.  Wells of a
    treatment seen once carry no positional information and are not fitted.
    """
    s = pd.Series(np.where(fit_rows, v, np.nan))
    centred = s - s.groupby(pr_codes).transform("median")
    med = centred.groupby(t_codes).transform("median")
    cnt = centred.groupby(t_codes).transform("count")
    off = (s - centred + med).to_numpy(dtype=float)
    ok = fit_rows & (cnt.to_numpy() >= 2) & np.isfinite(off)
    return np.where(ok, off, np.nan), ok


def _polish(
    df: pd.DataFrame, value: np.ndarray, fit_rows: np.ndarray, scale: str,
    by_treatment: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row+column effects, corrected values and B-scores per plate x readout."""
    n = len(df)
    corrected = np.full(n, np.nan)
    bscore = np.full(n, np.nan)
    effect = np.full(n, np.nan)
    ri = df["row"].map(_ROWS.index).to_numpy()
    ci = df["col"].to_numpy(dtype=int) - 1
    # integer group codes (never join strings with NUL: pandas truncates them when hashing)
    gkey = df.groupby(["plate", "readout"], sort=False).ngroup().to_numpy()
    for fmt, idx in df.groupby("plate_format").indices.items():
        nr, nc = _FORMATS[int(str(fmt))]
        codes, uniq = pd.factorize(gkey[idx])
        g = len(uniq)
        x = np.full((g, nr, nc), np.nan)
        fit = np.zeros((g, nr, nc), dtype=bool)
        v = value[idx]
        if scale == "log":
            with np.errstate(divide="ignore", invalid="ignore"):
                v = np.where(v > 0, np.log(v), np.nan)
        x[codes, ri[idx], ci[idx]] = v
        fit[codes, ri[idx], ci[idx]] = fit_rows[idx]
        if by_treatment:
            # backfitting: treatment medians from the corrected values, then the polish
            # of the deviations from them, until the positional effects settle
            sub = df.iloc[idx]
            pr_codes = pd.factorize(gkey[idx])[0]
            t_codes = _treatment_keys(sub)
            e_w = np.zeros(len(idx))
            for _ in range(20):
                off, ok = _treatment_offsets(pr_codes, t_codes, v - e_w, fit_rows[idx])
                xt = np.full((g, nr, nc), np.nan)
                ft = np.zeros((g, nr, nc), dtype=bool)
                xt[codes, ri[idx], ci[idx]] = v - np.nan_to_num(off)
                ft[codes, ri[idx], ci[idx]] = ok
                _, r, c, _ = median_polish(xt, ft)
                new_e = (r[:, :, None] + c[:, None, :])[codes, ri[idx], ci[idx]]
                done = np.nanmax(np.abs(new_e - e_w), initial=0.0) < 1e-4 * (np.nanmedian(np.abs(v)) + 1e-12)
                e_w = new_e
                if done:
                    break
            _, _, _, resid = median_polish(x, fit)  # B-scores stay Brideau's
        else:
            _, r, c, resid = median_polish(x, fit)
        eff = r[:, :, None] + c[:, None, :]
        b = b_scores(resid, fit)
        e = eff[codes, ri[idx], ci[idx]]
        effect[idx] = e
        bscore[idx] = b[codes, ri[idx], ci[idx]]
        if scale == "log":
            corrected[idx] = value[idx] * np.exp(-e)
        else:
            corrected[idx] = value[idx] - e
    return effect, corrected, bscore


def normalise_plates(
    wells: pd.DataFrame,
    *,
    viability: str = "viability",
    qc: QCResult | None = None,
    thresholds: Mapping[str, QCThresholds] | None = None,
    robust_qc: bool = False,
    center: Literal["median", "mean"] = "median",
    correction: Literal["none", "median_polish", "treatment_polish"] = "none",
    polish_scale: Literal["raw", "log"] = "raw",
    polish_roles: Sequence[str] = ("sample",),
    min_viability: float = 0.1,
) -> NormalisedPlates:
    """Normalise every plate x readout to its vehicle wells; add B-scores and QC.

    Parameters
    ----------
    wells
        Per-well table from :func:`sensitize.io.plates.read_plates`.
    viability
        Name of the viability readout (used for ``per_viable``).  If absent, chemokine
        per viable cell is not computed.
    qc
        A precomputed :class:`~sensitize.screen.qc.QCResult`; computed with
        :func:`~sensitize.screen.qc.plate_qc` (``thresholds``, ``robust_qc``) if ``None``.
    center
        Vehicle and positive-control centre: ``median`` (default, robust to a dead
        control well) or ``mean``.
    correction
        ``none`` (default): normalise the raw signal.  ``median_polish``: remove row and
        column effects (edge effects, dispenser stripes) estimated by Tukey's median
        polish of the plate (Brideau 2003) before normalising; this assumes most wells
        are inactive and adds noise on plates dense with active wells (Mpindi 2015).
        ``treatment_polish``: the same polish fitted on each well's deviation from the
        median of its treatment (same drugs and doses, cell line and readout, across
        plates, after removing plate medians), which keeps the biology out of the
        row/column estimates; needs replicated treatments (replicate plates with
        different layouts, or in-plate replicates).  B-scores are Brideau's in every case.
    polish_scale
        Fit the polish on ``raw`` signals (additive effects, Brideau 2003) or on ``log``
        signals (multiplicative effects such as evaporation at the plate edge).
    polish_roles
        Roles of the wells that estimate the row/column effects (default: sample wells,
        as in Brideau 2003).  The effects are applied to all wells, controls included;
        this needs controls and samples spread over the rows and columns.
    min_viability
        Relative viability below which ``per_viable`` is not computed (flag
        ``low_viability``).

    Returns
    -------
    NormalisedPlates
        ``table``: the input columns plus ``value, row_col_effect, corrected, b_score,
        vehicle_center, positive_center, pct_vehicle, fold_change, log2_fc,
        pct_positive, pct_control, rel_viability, per_viable, log2_per_viable, qc_pass,
        qc_reason``; ``well_flag`` is extended.  ``qc``: the plate QC.  Failing plates
        are kept and flagged.
    """
    need = ["plate", "well", "row", "col", "plate_format", "role", "readout", "raw"]
    miss = [c for c in need if c not in wells.columns]
    if miss:
        raise InputError(f"missing column(s) for normalisation; found {list(wells.columns)}", column=miss)
    if center not in ("median", "mean"):
        raise InputError(f"center must be 'median' or 'mean'; got {center!r}")
    if correction not in ("none", "median_polish", "treatment_polish"):
        raise InputError(f"correction must be 'none', 'median_polish' or 'treatment_polish'; got {correction!r}")
    if polish_scale not in ("raw", "log"):
        raise InputError(f"polish_scale must be 'raw' or 'log'; got {polish_scale!r}")
    df = wells.reset_index(drop=True).copy()
    if "well_flag" not in df.columns:
        df["well_flag"] = ""
    if "control_readout" not in df.columns:
        df["control_readout"] = None
    if qc is None:
        qc = plate_qc(df, viability=viability, thresholds=thresholds, robust=robust_qc)
    raw = pd.to_numeric(df["raw"], errors="coerce").to_numpy(dtype=float)

    fit_rows = df["role"].isin(list(polish_roles)).to_numpy() & np.isfinite(raw)
    effect, corrected, bscore = _polish(df, raw, fit_rows, polish_scale,
                                        by_treatment=correction == "treatment_polish")
    df["row_col_effect"] = effect
    df["corrected"] = corrected
    df["b_score"] = bscore
    val = raw if correction == "none" else corrected
    df["value"] = val

    keys = ["plate", "readout"]
    veh = df["role"].eq("vehicle") & np.isfinite(val)
    pos = pd.Series(positive_mask(df), index=df.index) & np.isfinite(val)
    agg = "median" if center == "median" else "mean"
    vc = df.loc[veh].groupby(keys)["value"].agg(agg).rename("vehicle_center")
    pc = df.loc[pos].groupby(keys)["value"].agg(agg).rename("positive_center")
    df = df.merge(vc.reset_index(), on=keys, how="left").merge(pc.reset_index(), on=keys, how="left")
    v = df["vehicle_center"].to_numpy(dtype=float)
    p = df["positive_center"].to_numpy(dtype=float)
    x = df["value"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        vok = np.isfinite(v) & (v > 0)
        fc = np.where(vok, x / v, np.nan)
        df["pct_vehicle"] = 100 * fc
        df["fold_change"] = fc
        df["log2_fc"] = np.where(fc > 0, np.log2(fc), np.nan)
        span = p - v
        df["pct_positive"] = np.where(vok & np.isfinite(span) & (span != 0), 100 * (x - v) / span, np.nan)
        df["pct_control"] = np.where(vok & np.isfinite(span) & (span != 0), 100 * (x - p) / (v - p), np.nan)

    flags = df["well_flag"]
    flags = _flag(flags, (~np.isfinite(v)).astype(bool) & (df["role"] != "empty").to_numpy(), "no_vehicle")
    flags = _flag(flags, np.isfinite(v) & (v <= 0), "nonpositive_vehicle")
    flags = _flag(flags, np.isfinite(raw) & (raw <= 0) & (df["role"] != "empty").to_numpy(), "nonpositive_signal")

    # chemokine per viable cell
    df["rel_viability"] = np.nan
    df["per_viable"] = np.nan
    if viability in set(df["readout"]):
        via = df.loc[df["readout"] == viability, ["plate", "well", "fold_change"]].rename(
            columns={"fold_change": "_rv"})
        df = df.merge(via, on=["plate", "well"], how="left")
        chem = (df["readout"] != viability).to_numpy()
        rv = df["_rv"].to_numpy(dtype=float)
        df["rel_viability"] = np.where(chem, rv, np.nan)
        low = chem & np.isfinite(rv) & (rv < min_viability) & (df["role"] != "empty").to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            pv = np.where(chem & np.isfinite(rv) & (rv >= min_viability), df["fold_change"] / rv, np.nan)
        df["per_viable"] = pv
        flags = _flag(flags.reset_index(drop=True), low, "low_viability")
        df = df.drop(columns=["_rv"])
    with np.errstate(divide="ignore", invalid="ignore"):
        pvv = df["per_viable"].to_numpy(dtype=float)
        df["log2_per_viable"] = np.where(pvv > 0, np.log2(pvv), np.nan)
    df["well_flag"] = flags.to_numpy()

    q = qc.table[["plate", "readout", "qc_pass", "qc_reason"]]
    df = df.drop(columns=[c for c in ("qc_pass", "qc_reason") if c in df.columns]).merge(q, on=keys, how="left")
    df["qc_pass"] = df["qc_pass"].eq(True).to_numpy(dtype=bool)
    df["qc_reason"] = df["qc_reason"].fillna("no QC row")
    params = {
        "viability": viability, "center": center, "correction": correction,
        "polish_scale": polish_scale, "polish_roles": list(polish_roles),
        "min_viability": min_viability, "qc": qc.params,
    }
    return NormalisedPlates(table=df, params=params, qc=qc)


# --------------------------------------------------------------------------- screen table


def _drug_ks(df: pd.DataFrame) -> list[int]:
    import re

    return sorted(int(m.group(1)) for c in df.columns if (m := re.match(r"^drug(\d+)$", str(c))))


def to_screen_table(
    norm: NormalisedPlates,
    *,
    viability: str | None = None,
    viability_scale: Literal["pct_vehicle", "pct_control"] = "pct_vehicle",
    induction_scale: Literal["log2_fc", "pct_positive"] = "log2_fc",
    per_viable: bool = False,
    exclude_failed: bool = True,
    block_by: Sequence[str] = (),
    readouts: Sequence[str] | None = None,
) -> ScreenTable:
    """Build the canonical screen table (one row per well and readout) from normalised plates.

    Parameters
    ----------
    norm
        Output of :func:`normalise_plates`.
    viability
        Viability readout (default: the one used for normalisation).  Its rows get
        ``response_kind='viability'``; every other readout gets ``'induction'``.
    viability_scale
        ``pct_vehicle`` (100 = vehicle; default) or ``pct_control`` (0 = killing control,
        100 = vehicle).
    induction_scale
        ``log2_fc``: log2 fold change over vehicle (0 = vehicle; default) or
        ``pct_positive``: percent of the positive control's induction (0 = vehicle, 100 =
        positive control, e.g. IFN-gamma).
    per_viable
        Use chemokine per viable cell (``log2_per_viable``, or its percent of the positive
        control's per-viable induction) instead of the per-well signal.
    exclude_failed
        Leave out plates x readouts that fail QC (default); they are listed in
        ``excluded``.  With ``False`` they are kept and marked by ``qc_pass``.
    block_by
        Extra map columns that split blocks (e.g. a ``design`` column separating anchored
        and full-matrix plates).
    readouts
        Readouts to include (default: all).

    Returns
    -------
    ScreenTable
        ``table`` with ``block_id, drug1..K, conc1..K, conc_unit1..K, readout, response,
        response_kind, cell_line, replicate, plate, well`` plus ``qc_pass`` and
        ``well_flag``; ``excluded`` with the wells left out and why.

    Notes
    -----
    A block is one drug set (from the wells treated with two or more drugs) x cell line x
    readout (x ``block_by``).  It contains the combination wells, the wells of each subset
    of its drugs (monotherapies; e.g. the anchor alone, shared by every library drug's
    block) and, as the all-zero cell, the vehicle wells of the plates that hold any of
    them.  The drug order is the order in the combination wells (most frequent order if
    it varies).  Replicates are numbered per block and dose cell.
    """
    via = viability or str(norm.params.get("viability", "viability"))
    df = norm.table.copy()
    if readouts is not None:
        df = df.loc[df["readout"].isin(list(readouts))]
    for c in block_by:
        if c not in df.columns:
            raise InputError(f"block_by column {c!r} is not in the plate map", column=c)
    ks = _drug_ks(df)
    if "cell_line" not in df.columns:
        df["cell_line"] = None
    df = df.loc[df["role"].isin(["sample", "vehicle"])].reset_index(drop=True)

    # response on the requested scale
    is_via = (df["readout"] == via).to_numpy()
    vcol = "pct_vehicle" if viability_scale == "pct_vehicle" else "pct_control"
    if induction_scale not in ("log2_fc", "pct_positive"):
        raise InputError(f"induction_scale must be 'log2_fc' or 'pct_positive'; got {induction_scale!r}")
    if viability_scale not in ("pct_vehicle", "pct_control"):
        raise InputError(f"viability_scale must be 'pct_vehicle' or 'pct_control'; got {viability_scale!r}")
    if per_viable:
        if induction_scale == "log2_fc":
            ind = df["log2_per_viable"].to_numpy(dtype=float)
        else:
            full = norm.table
            pos = positive_mask(full) & np.isfinite(full["per_viable"].to_numpy(dtype=float))
            pcen = full.loc[pos].groupby(["plate", "readout"])["per_viable"].median().rename("_ppv")
            m = df[["plate", "readout"]].merge(pcen.reset_index(), on=["plate", "readout"], how="left")["_ppv"]
            with np.errstate(divide="ignore", invalid="ignore"):
                ind = np.where(np.isfinite(m) & (m != 1), 100 * (df["per_viable"] - 1) / (m - 1), np.nan)
    else:
        ind = df[induction_scale].to_numpy(dtype=float)
    df["response"] = np.where(is_via, df[vcol].to_numpy(dtype=float), ind)
    df["response_kind"] = np.where(is_via, "viability", "induction")

    excluded: list[pd.DataFrame] = []

    def _exclude(mask: np.ndarray, reason: str | pd.Series) -> None:
        if mask.any():
            e = df.loc[mask, ["plate", "well", "readout", "role", *[f"drug{k}" for k in ks], *[f"conc{k}" for k in ks]]].copy()
            e["reason"] = reason if isinstance(reason, str) else reason[mask].to_numpy()
            excluded.append(e)

    fail = ~df["qc_pass"].to_numpy(dtype=bool)
    if exclude_failed:
        _exclude(fail, "plate QC failed: " + df["qc_reason"].astype(str))
    keep = ~fail if exclude_failed else np.ones(len(df), dtype=bool)
    nan_resp = keep & ~np.isfinite(df["response"].to_numpy(dtype=float))
    why = df["well_flag"].replace("", "response undefined").map(lambda s: f"no response on this scale ({s})")
    _exclude(nan_resp, why)
    df = df.loc[keep & ~nan_resp].reset_index(drop=True)

    # drug sets
    names = np.empty(len(df), dtype=object)
    dmaps: list[dict[str, tuple[float, object]]] = []
    dlists = [(df[f"drug{k}"].tolist(), df[f"conc{k}"].tolist(), df[f"conc_unit{k}"].tolist()) for k in ks]
    for i in range(len(df)):
        d: dict[str, tuple[float, object]] = {}
        for dl, cl_, ul in dlists:
            dn = dl[i]
            if dn is not None and not (isinstance(dn, float) and np.isnan(dn)):
                d[str(dn)] = (float(cl_[i]), ul[i])
        dmaps.append(d)
        names[i] = tuple(d.keys())
    df["_drugs"] = names
    df["_set"] = [frozenset(n) for n in names]
    sample = (df["role"] == "sample").to_numpy()
    group_cols = ["cell_line", *block_by]
    df["_g"] = df[group_cols].astype(str).groupby(group_cols, sort=False, dropna=False).ngroup().to_numpy()
    combos = df.loc[sample & (df["_drugs"].map(len) >= 2)]
    set_list = df["_set"].tolist()
    rows = []
    used = np.zeros(len(df), dtype=bool)
    # group by a sorted tuple: frozensets only have a partial order, which sorting mishandles
    skey = combos["_set"].map(lambda z: tuple(sorted(z)))
    for (g, _), sub in combos.groupby([combos["_g"], skey], sort=True):
        s = sub["_set"].iloc[0]
        order = sub["_drugs"].value_counts().index[0]
        ing = (df["_g"] == g).to_numpy()
        member = ing & sample & np.fromiter((z <= s for z in set_list), dtype=bool, count=len(set_list))
        plates = set(df.loc[member, "plate"])
        vehm = ing & (df["role"] == "vehicle").to_numpy() & df["plate"].isin(plates).to_numpy()
        idx = np.flatnonzero(member | vehm)
        used[idx] = True
        part = df.iloc[idx]
        for readout, rsub in part.groupby("readout", sort=False):
            cl = rsub["cell_line"].iloc[0]
            extra = [str(rsub[c].iloc[0]) for c in block_by]
            bid = ":".join([str(cl), "+".join(order), *extra, str(readout)])
            out = pd.DataFrame({
                "block_id": bid,
                "readout": readout,
                "response": rsub["response"].to_numpy(),
                "response_kind": rsub["response_kind"].to_numpy(),
                "cell_line": cl,
                "plate": rsub["plate"].to_numpy(),
                "well": rsub["well"].to_numpy(),
                "qc_pass": rsub["qc_pass"].to_numpy(),
                "well_flag": rsub["well_flag"].to_numpy(),
            })
            for j, dn in enumerate(order, start=1):
                out[f"drug{j}"] = dn
                out[f"conc{j}"] = [dmaps[i].get(dn, (0.0, None))[0] for i in rsub.index]
                units = [dmaps[i].get(dn, (0.0, None))[1] for i in rsub.index]
                known = next((u for u in units if u is not None), None)
                out[f"conc_unit{j}"] = [u if u is not None else known for u in units]
            rows.append(out)
    lonely = sample & ~used
    if lonely.any():
        _exclude_after = df.loc[lonely, ["plate", "well", "readout", "role", *[f"drug{k}" for k in ks], *[f"conc{k}" for k in ks]]].copy()
        _exclude_after["reason"] = "not part of any combination block (no combination of its drugs)"
        excluded.append(_exclude_after)
    exc = pd.concat(excluded, ignore_index=True) if excluded else pd.DataFrame(
        columns=["plate", "well", "readout", "role", "reason"])
    params = {
        "viability": via, "viability_scale": viability_scale, "induction_scale": induction_scale,
        "per_viable": per_viable, "exclude_failed": exclude_failed, "block_by": list(block_by),
        "normalisation": norm.params,
    }
    if not rows:
        return ScreenTable(table=pd.DataFrame(), params=params, excluded=exc)
    table = pd.concat(rows, ignore_index=True)
    kmax = max(len(c) for c in combos["_drugs"])
    dcols = [x for j in range(1, kmax + 1) for x in (f"drug{j}", f"conc{j}", f"conc_unit{j}")]
    for c in dcols:
        if c not in table.columns:
            table[c] = None if not c.startswith("conc") or c.startswith("conc_unit") else 0.0
    cc = [f"conc{j}" for j in range(1, kmax + 1)]
    table = table.sort_values(["block_id", *cc, "plate", "well"]).reset_index(drop=True)
    table["replicate"] = table.groupby(["block_id", *cc]).cumcount() + 1
    cols = ["block_id", *dcols, "readout", "response", "response_kind", "cell_line", "replicate",
            "plate", "well", "qc_pass", "well_flag"]
    table = validate_screen(table[cols], source="normalised plates")
    table = harmonise_units(table)
    return ScreenTable(table=table, params=params, excluded=exc)

"""Plate quality control: Z'-factor, SSMD, control CVs and signal window per plate x readout.

The input is the tidy per-well table of :func:`sensitize.io.plates.read_plates` (or the
output of :func:`sensitize.screen.plates.normalise_plates`): one row per plate x well x
readout with ``role`` (``vehicle``, ``untreated``, ``positive_control``, ``sample``,
``empty``), ``control_readout`` (which readout a positive control is for; empty = all) and
``raw``.

Formulas (``p`` = positive control, ``n`` = vehicle (negative) control, sample SDs with
``ddof=1``):

* Z'-factor (Zhang, Chung & Oldenburg 1999, *J Biomol Screen* 4:67-73):
  ``Z' = 1 - 3 (sd_p + sd_n) / |mean_p - mean_n|``.
* robust Z': the same with medians and scaled MADs (``1.4826 * median|x - median x|``),
  as recommended for screens with outlying control wells (Birmingham et al. 2009,
  *Nat Methods* 6:569-575).
* SSMD (Zhang 2007, *Genomics* 89:552-561):
  ``SSMD = (mean_p - mean_n) / sqrt(sd_p^2 + sd_n^2)``; its robust version uses medians
  and scaled MADs (Zhang 2011, *J Biomol Screen* 16:775-785).
* signal window (Sittampalam et al. 1997; Iversen et al. 2006, *J Biomol Screen*
  11:247-252): ``SW = (|mean_hi - mean_lo| - 3 (sd_hi + sd_lo)) / sd_hi`` where ``hi`` is
  the control with the higher mean.
* CV (%) of each control: ``100 * sd / mean``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sensitize.core.errors import InputError
from sensitize.core.results import Result

MAD_SCALE = 1.4826


@dataclass(frozen=True)
class QCThresholds:
    """Pass/fail thresholds for one readout.

    Attributes
    ----------
    z_prime_min
        Minimum Z'-factor (robust Z' when ``plate_qc(robust=True)``).
    ssmd_min
        Minimum ``|SSMD|`` between the positive and vehicle controls.
    cv_max
        Maximum CV (%) of the vehicle wells (robust CV, ``100 * MAD / median``, when
        ``plate_qc(robust=True)``).
    max_bad_fraction
        Maximum fraction of non-empty wells with a missing or non-positive reading.
    min_controls
        Minimum number of vehicle and of positive-control wells with a reading.
    """

    z_prime_min: float = 0.5
    ssmd_min: float = 3.0
    cv_max: float = 20.0
    max_bad_fraction: float = 0.10
    min_controls: int = 3


#: default for the viability readout (CellTiter-Glo and similar): the classical Z' >= 0.5
#: of an "excellent assay" (Zhang 1999) and |SSMD| >= 3 for a strong killing control.
VIABILITY_THRESHOLDS = QCThresholds(z_prime_min=0.5, ssmd_min=3.0, cv_max=20.0)
#: default for chemokine readouts (ELISA, HTRF, reporter): secreted-protein assays are
#: noisier, so Z' >= 0.3, |SSMD| >= 2 (a "moderate" control, Zhang 2011) and vehicle CV <= 30 %.
CHEMOKINE_THRESHOLDS = QCThresholds(z_prime_min=0.3, ssmd_min=2.0, cv_max=30.0)


# --------------------------------------------------------------------------- formulas


def _arr(x: Any) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    return a[np.isfinite(a)]


def z_prime(positive: Any, negative: Any) -> float:
    """Z'-factor of two sets of control wells (Zhang, Chung & Oldenburg 1999).

    ``1 - 3 (sd_p + sd_n) / |mean_p - mean_n|`` with sample standard deviations
    (``ddof=1``).  NaN if either control has fewer than two finite values or the means
    are equal.
    """
    p, n = _arr(positive), _arr(negative)
    if len(p) < 2 or len(n) < 2:
        return float("nan")
    d = abs(p.mean() - n.mean())
    if d == 0:
        return float("nan")
    return float(1.0 - 3.0 * (p.std(ddof=1) + n.std(ddof=1)) / d)


def mad(x: Any) -> float:
    """Scaled median absolute deviation ``1.4826 * median|x - median(x)|``."""
    a = _arr(x)
    if len(a) == 0:
        return float("nan")
    return float(MAD_SCALE * np.median(np.abs(a - np.median(a))))


def robust_z_prime(positive: Any, negative: Any) -> float:
    """Robust Z'-factor: Z' with medians and scaled MADs (Birmingham et al. 2009)."""
    p, n = _arr(positive), _arr(negative)
    if len(p) < 2 or len(n) < 2:
        return float("nan")
    d = abs(np.median(p) - np.median(n))
    if d == 0:
        return float("nan")
    return float(1.0 - 3.0 * (mad(p) + mad(n)) / d)


def ssmd(positive: Any, negative: Any) -> float:
    """Strictly standardised mean difference (Zhang 2007).

    ``(mean_p - mean_n) / sqrt(sd_p^2 + sd_n^2)`` (method-of-moments estimate, sample
    SDs).  Negative when the positive control lies below the vehicle (killing control).
    """
    p, n = _arr(positive), _arr(negative)
    if len(p) < 2 or len(n) < 2:
        return float("nan")
    s = np.sqrt(p.var(ddof=1) + n.var(ddof=1))
    if s == 0:
        return float("nan")
    return float((p.mean() - n.mean()) / s)


def robust_ssmd(positive: Any, negative: Any) -> float:
    """Robust SSMD: ``(median_p - median_n) / sqrt(mad_p^2 + mad_n^2)`` (Zhang 2011)."""
    p, n = _arr(positive), _arr(negative)
    if len(p) < 2 or len(n) < 2:
        return float("nan")
    s = np.sqrt(mad(p) ** 2 + mad(n) ** 2)
    if s == 0:
        return float("nan")
    return float((np.median(p) - np.median(n)) / s)


def signal_window(positive: Any, negative: Any) -> float:
    """Signal window ``(|mean_hi - mean_lo| - 3 (sd_hi + sd_lo)) / sd_hi`` (Iversen et al. 2006)."""
    p, n = _arr(positive), _arr(negative)
    if len(p) < 2 or len(n) < 2:
        return float("nan")
    hi, lo = (p, n) if p.mean() >= n.mean() else (n, p)
    sd_hi = hi.std(ddof=1)
    if sd_hi == 0:
        return float("nan")
    return float((hi.mean() - lo.mean() - 3.0 * (sd_hi + lo.std(ddof=1))) / sd_hi)


def cv_percent(x: Any) -> float:
    """Coefficient of variation in percent, ``100 * sd / mean`` (``ddof=1``)."""
    a = _arr(x)
    if len(a) < 2 or a.mean() == 0:
        return float("nan")
    return float(100.0 * a.std(ddof=1) / abs(a.mean()))


# --------------------------------------------------------------------------- result


@dataclass
class QCResult(Result):
    """Per plate x readout quality control.

    ``table`` has one row per plate and readout with the control counts, means, SDs,
    CVs, ``z_prime``, ``z_prime_robust``, ``ssmd``, ``ssmd_robust``, ``signal_window``,
    the thresholds applied, ``qc_pass`` and ``qc_reason`` (``;``-separated, empty when the
    plate passes).
    """

    thresholds: dict[str, QCThresholds] = field(default_factory=dict)

    @property
    def failed(self) -> pd.DataFrame:
        """Rows of the plates x readouts that fail."""
        return self.table.loc[~self.table["qc_pass"]].reset_index(drop=True)

    def passed(self, plate: str, readout: str) -> bool:
        """Whether one plate x readout passes."""
        m = (self.table["plate"] == plate) & (self.table["readout"] == readout)
        if not m.any():
            raise KeyError(f"no QC row for plate {plate!r}, readout {readout!r}")
        return bool(self.table.loc[m, "qc_pass"].iloc[0])

    def summary(self) -> str:
        """A plain-text report: one line per plate x readout, failures first."""
        t = self.table.sort_values(["qc_pass", "plate", "readout"])
        lines = [f"{int((~self.table['qc_pass']).sum())} of {len(self.table)} plate x readout(s) fail QC"]
        for _, r in t.iterrows():
            status = "PASS" if r["qc_pass"] else "FAIL"
            lines.append(
                f"{status} {r['plate']} {r['readout']}: Z'={r['z_prime']:.2f} "
                f"(robust {r['z_prime_robust']:.2f}), SSMD={r['ssmd']:.2f}, "
                f"vehicle CV={r['cv_vehicle']:.1f}%"
                + (f" -- {r['qc_reason']}" if r["qc_reason"] else "")
            )
        return "\n".join(lines)


# --------------------------------------------------------------------------- plate QC


def positive_mask(df: pd.DataFrame) -> np.ndarray:
    """Rows that are positive controls for their row's readout."""
    cr = df["control_readout"] if "control_readout" in df.columns else pd.Series(None, index=df.index)
    applies = cr.isna() | (cr.astype(str) == df["readout"].astype(str))
    return ((df["role"] == "positive_control") & applies).to_numpy()


def resolve_thresholds(
    readouts: list[str], viability: str, thresholds: Mapping[str, QCThresholds] | None
) -> dict[str, QCThresholds]:
    """Thresholds per readout: the given ones, else viability / chemokine defaults."""
    out = {}
    for r in readouts:
        if thresholds is not None and r in thresholds:
            out[r] = thresholds[r]
        elif r == viability:
            out[r] = VIABILITY_THRESHOLDS
        else:
            out[r] = CHEMOKINE_THRESHOLDS
    return out


def plate_qc(
    wells: pd.DataFrame,
    *,
    viability: str = "viability",
    thresholds: Mapping[str, QCThresholds] | None = None,
    robust: bool = False,
    value: str = "raw",
) -> QCResult:
    """Quality control of each plate x readout from its control wells.

    Parameters
    ----------
    wells
        Per-well table with ``plate``, ``readout``, ``role``, ``control_readout``,
        ``value`` (default ``raw``) and optionally ``well_flag`` and ``cell_line``.
    viability
        Name of the viability readout (gets :data:`VIABILITY_THRESHOLDS`; every other
        readout gets :data:`CHEMOKINE_THRESHOLDS` unless ``thresholds`` names it).
    thresholds
        Per-readout :class:`QCThresholds` overriding the defaults.
    robust
        Judge pass/fail on the robust Z', robust SSMD and robust CV (medians and scaled
        MADs) instead of the classical, mean/SD-based ones; a single dead control well
        then does not fail the plate.  Both versions are always reported.
    value
        Column holding the signal (``raw`` by default; QC is on the raw reads).

    Returns
    -------
    QCResult
        One row per plate x readout.  A plate is never dropped: a plate without vehicle or
        positive-control wells, or with too few, fails with the reason stated.

    Notes
    -----
    A plate x readout passes when all hold: ``Z' >= z_prime_min``,
    ``|SSMD| >= ssmd_min``, vehicle CV ``<= cv_max``, at least ``min_controls`` vehicle and
    positive wells, and at most ``max_bad_fraction`` of its non-empty wells have a missing
    or non-positive reading.
    """
    need = ["plate", "readout", "role", value]
    missing = [c for c in need if c not in wells.columns]
    if missing:
        raise InputError(f"missing column(s) for plate QC; found {list(wells.columns)}", column=missing)
    df = wells.loc[:, [c for c in wells.columns if c in {*need, "control_readout", "cell_line", "well_flag"}]].copy()
    if "control_readout" not in df.columns:
        df["control_readout"] = None
    x = pd.to_numeric(df[value], errors="coerce").astype(float)
    df["_x"] = x.where(np.isfinite(x))
    df["_cls"] = np.select(
        [positive_mask(df), (df["role"] == "vehicle").to_numpy(), (df["role"] == "untreated").to_numpy()],
        ["pos", "veh", "unt"], default="other",
    )
    nonempty = df["role"] != "empty"
    df["_bad"] = nonempty & (df["_x"].isna() | (df["_x"] <= 0))
    df["_nonempty"] = nonempty
    readouts = list(dict.fromkeys(df["readout"].astype(str)))
    thr = resolve_thresholds(readouts, viability, thresholds)

    keys = ["plate", "readout"]
    base = df.groupby(keys, sort=True).agg(n_wells=("_nonempty", "sum"), n_bad=("_bad", "sum")).reset_index()
    if "cell_line" in df.columns:
        cl = df.groupby(keys)["cell_line"].agg(lambda s: ";".join(sorted({str(v) for v in s.dropna()})))
        base = base.merge(cl.reset_index(), on=keys, how="left")
    ctrl = df.loc[df["_cls"].isin(["pos", "veh", "unt"]) & df["_x"].notna()]
    stats = ctrl.groupby([*keys, "_cls"])["_x"].agg(
        n="size", mean="mean", sd=lambda s: s.std(ddof=1), median="median", mad=mad
    )
    names = {"pos": "positive", "veh": "vehicle", "unt": "untreated"}
    if len(stats):
        wide = stats.unstack("_cls")
        flat: list[Any] = list(wide.columns)
        wide.columns = [f"{t[0]}_{names[t[1]]}" for t in flat]
        out = base.merge(wide.reset_index(), on=keys, how="left")
    else:
        out = base.copy()
    for role in ("vehicle", "positive", "untreated"):
        for s in ("n", "mean", "sd", "median", "mad"):
            c = f"{s}_{role}"
            if c not in out.columns:
                out[c] = np.nan
        out[f"n_{role}"] = out[f"n_{role}"].fillna(0).astype(int)

    # vectorised formulas from the group statistics (identical to the scalar functions)
    mp, mn, sp, sn = out["mean_positive"], out["mean_vehicle"], out["sd_positive"], out["sd_vehicle"]
    ok = (out["n_positive"] >= 2) & (out["n_vehicle"] >= 2)
    diff = (mp - mn).abs()
    out["z_prime"] = np.where(ok & (diff > 0), 1 - 3 * (sp + sn) / diff.replace(0, np.nan), np.nan)
    den = (sp**2 + sn**2) ** 0.5
    out["ssmd"] = np.where(ok & (den > 0), (mp - mn) / den.replace(0, np.nan), np.nan)
    rmp, rmn, rsp, rsn = out["median_positive"], out["median_vehicle"], out["mad_positive"], out["mad_vehicle"]
    rdiff = (rmp - rmn).abs()
    out["z_prime_robust"] = np.where(ok & (rdiff > 0), 1 - 3 * (rsp + rsn) / rdiff.replace(0, np.nan), np.nan)
    rden = (rsp**2 + rsn**2) ** 0.5
    out["ssmd_robust"] = np.where(ok & (rden > 0), (rmp - rmn) / rden.replace(0, np.nan), np.nan)
    hi_is_p = mp >= mn
    sd_hi = np.where(hi_is_p, sp, sn)
    sd_lo = np.where(hi_is_p, sn, sp)
    with np.errstate(divide="ignore", invalid="ignore"):
        sw = (diff - 3 * (sd_hi + sd_lo)) / sd_hi
    out["signal_window"] = np.where(ok & (sd_hi > 0), sw, np.nan)
    for role in ("vehicle", "positive", "untreated"):
        m, sdv = out[f"mean_{role}"], out[f"sd_{role}"]
        md, ma = out[f"median_{role}"], out[f"mad_{role}"]
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"cv_{role}"] = np.where((out[f"n_{role}"] >= 2) & (m != 0), 100 * sdv / m.abs(), np.nan)
            out[f"cv_{role}_robust"] = np.where((out[f"n_{role}"] >= 2) & (md != 0), 100 * ma / md.abs(), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["fold_positive_over_vehicle"] = np.where(mn != 0, mp / mn, np.nan)
    out["bad_fraction"] = np.where(out["n_wells"] > 0, out["n_bad"] / out["n_wells"].clip(lower=1), np.nan)

    reasons: list[str] = []
    passes: list[bool] = []
    for _, r in out.iterrows():
        t = thr[str(r["readout"])]
        why = []
        if r["n_vehicle"] == 0:
            why.append("no vehicle wells")
        elif r["n_vehicle"] < t.min_controls:
            why.append(f"only {r['n_vehicle']} vehicle well(s) < {t.min_controls}")
        if r["n_positive"] == 0:
            why.append(f"no positive-control wells for {r['readout']}")
        elif r["n_positive"] < t.min_controls:
            why.append(f"only {r['n_positive']} positive-control well(s) < {t.min_controls}")
        zcol = "z_prime_robust" if robust else "z_prime"
        z = r[zcol]
        if np.isfinite(z) and z < t.z_prime_min:
            why.append(f"{'robust ' if robust else ''}Z'={z:.2f} < {t.z_prime_min:g}")
        elif not np.isfinite(z) and r["n_vehicle"] >= 2 and r["n_positive"] >= 2:
            why.append("Z' undefined (controls equal or constant)")
        sv = r["ssmd_robust"] if robust else r["ssmd"]
        if np.isfinite(sv) and abs(sv) < t.ssmd_min:
            why.append(f"|SSMD|={abs(sv):.2f} < {t.ssmd_min:g}")
        cv = r["cv_vehicle_robust"] if robust else r["cv_vehicle"]
        if np.isfinite(cv) and cv > t.cv_max:
            why.append(f"vehicle {'robust ' if robust else ''}CV={cv:.1f}% > {t.cv_max:g}%")
        if np.isfinite(r["bad_fraction"]) and r["bad_fraction"] > t.max_bad_fraction:
            why.append(f"{100 * r['bad_fraction']:.0f}% of wells missing or non-positive > {100 * t.max_bad_fraction:.0f}%")
        reasons.append("; ".join(why))
        passes.append(not why)
    out["qc_pass"] = np.array(passes, dtype=bool)
    out["qc_reason"] = reasons
    out["z_prime_min"] = out["readout"].map(lambda r: thr[str(r)].z_prime_min)
    out["ssmd_min"] = out["readout"].map(lambda r: thr[str(r)].ssmd_min)
    out["cv_max"] = out["readout"].map(lambda r: thr[str(r)].cv_max)
    front = [c for c in ("plate", "readout", "cell_line") if c in out.columns]
    cols = [
        *front,
        "qc_pass", "qc_reason", "z_prime", "z_prime_robust", "ssmd", "ssmd_robust", "signal_window",
        "n_vehicle", "mean_vehicle", "sd_vehicle", "cv_vehicle", "median_vehicle", "mad_vehicle",
        "cv_vehicle_robust",
        "n_positive", "mean_positive", "sd_positive", "cv_positive", "median_positive", "mad_positive",
        "cv_positive_robust",
        "n_untreated", "mean_untreated", "sd_untreated", "cv_untreated",
        "fold_positive_over_vehicle", "n_wells", "n_bad", "bad_fraction",
        "z_prime_min", "ssmd_min", "cv_max",
    ]
    params = {
        "viability": viability, "robust": robust, "value": value,
        "thresholds": {k: asdict(v) for k, v in thr.items()},
    }
    return QCResult(table=out[cols].reset_index(drop=True), params=params, thresholds=thr)

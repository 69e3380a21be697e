"""Association of biomarkers with response: AUC (DeLong CI), Mann-Whitney, logistic regression.

Direction: a higher biomarker value is taken to predict response, so AUC > 0.5 means
responders have higher values.

* AUC = Mann-Whitney W / (n_R n_NR), W = #{(r, nr): x_r > x_nr} + ½ #{ties}.
* DeLong, DeLong & Clarke-Pearson (1988) variance from the structural components
  :math:`V_{10}(r) = \\frac{1}{n_{NR}}\\sum_{nr}\\psi(x_r, x_{nr})` and
  :math:`V_{01}(nr)`: :math:`\\mathrm{Var} = s^2_{10}/n_R + s^2_{01}/n_{NR}`; the Wald
  95% interval is clipped to [0, 1] (as pROC's ``ci.auc(method = "delong")``).
* Mann-Whitney p: normal approximation with tie-corrected variance and continuity
  correction (R ``wilcox.test(exact = FALSE, correct = TRUE)``), via SciPy.
* Logistic regression (statsmodels GLM, binomial, logit link): odds ratio per unit and
  per SD with optional covariates; likelihood-ratio and Wald p.
* Across biomarkers: Benjamini-Hochberg FDR (statsmodels ``multipletests``).

References
----------
DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Comparing the areas under two or more
correlated receiver operating characteristic curves: a nonparametric approach.
Biometrics 44:837-845.
Hanley JA, McNeil BJ (1982). The meaning and use of the area under a ROC curve.
Radiology 143:29-36.
Benjamini Y, Hochberg Y (1995). Controlling the false discovery rate. JRSS-B 57:289-300.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sensitize.core.errors import InputError
from sensitize.core.results import Result

_Z95 = float(stats.norm.ppf(0.975))


def _psi(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Kernel 1 if a > b, ½ if equal, 0 otherwise (matrix over all pairs)."""
    diff = a[:, None] - b[None, :]
    return (diff > 0).astype(float) + 0.5 * (diff == 0)


def auc_delong(x_pos: np.ndarray, x_neg: np.ndarray) -> tuple[float, float]:
    """AUC and its DeLong standard error for positives vs negatives (higher = positive)."""
    xp = np.asarray(x_pos, dtype=float)
    xn = np.asarray(x_neg, dtype=float)
    m, n = len(xp), len(xn)
    if m == 0 or n == 0:
        return float("nan"), float("nan")
    psi = _psi(xp, xn)
    auc = float(psi.mean())
    if m < 2 or n < 2:
        return auc, float("nan")
    v10 = psi.mean(axis=1)
    v01 = psi.mean(axis=0)
    var = v10.var(ddof=1) / m + v01.var(ddof=1) / n
    return auc, float(np.sqrt(var))


def roc_curve(x_pos: np.ndarray, x_neg: np.ndarray) -> pd.DataFrame:
    """Empirical ROC curve (``threshold``, ``fpr``, ``tpr``), predicting positive when x >= threshold."""
    xp = np.asarray(x_pos, dtype=float)
    xn = np.asarray(x_neg, dtype=float)
    thr = np.unique(np.r_[xp, xn])[::-1]
    tpr = np.array([(xp >= c).mean() for c in thr]) if len(xp) else np.zeros(len(thr))
    fpr = np.array([(xn >= c).mean() for c in thr]) if len(xn) else np.zeros(len(thr))
    return pd.DataFrame({"threshold": np.r_[np.inf, thr], "fpr": np.r_[0.0, fpr],
                         "tpr": np.r_[0.0, tpr]})


@dataclass
class ResponseAssociation(Result):
    """Association of biomarkers with a binary response.

    ``table``: one row per biomarker with ``biomarker``, ``n``, ``n_responders``,
    ``n_nonresponders``, ``n_excluded``, ``mean_R``, ``mean_NR``, ``AUC``,
    ``AUC_lower95``, ``AUC_upper95``, ``AUC_se``, ``p`` (Mann-Whitney), ``fdr``, and
    logistic ``OR``, ``OR_lower95``, ``OR_upper95``, ``OR_per_SD``, ``logit_p``
    (likelihood ratio), ``logit_wald_p``, ``logit_note``.
    ``roc``: biomarker -> ROC curve table.  ``values``: long table of the analysed values
    (``biomarker``, ``sample``, ``value``, ``responder``) for plots.
    """

    roc: dict[str, pd.DataFrame] = field(default_factory=dict)
    values: pd.DataFrame = field(default_factory=pd.DataFrame)


def logistic_biomarker(
    y: pd.Series, x: pd.Series, covariates: pd.DataFrame | None = None
) -> dict[str, Any]:
    """Logistic regression of response (1/0) on a biomarker (+ covariates), per unit and per SD.

    Returns a dict with ``OR``, ``OR_lower95``, ``OR_upper95``, ``OR_per_SD``,
    ``logit_p`` (likelihood-ratio test of the biomarker), ``logit_wald_p``, ``n`` and
    ``logit_note`` (e.g. perfect separation).
    """
    import statsmodels.api as sm

    df = pd.DataFrame({"y": y.astype(float), "x": x.astype(float)})
    cov_cols: list[str] = []
    if covariates is not None and covariates.shape[1]:
        for c in covariates.columns:
            col = covariates.loc[df.index, c]
            num = pd.to_numeric(col, errors="coerce")
            if num.notna().sum() == col.notna().sum() and col.nunique(dropna=True) > 2:
                df[str(c)] = num.astype(float)
                cov_cols.append(str(c))
            else:
                dm = pd.get_dummies(col.astype("string"), prefix=str(c), drop_first=True, dtype=float)
                dm[col.isna().to_numpy()] = np.nan
                for dcol in dm.columns:
                    df[str(dcol)] = dm[dcol]
                    cov_cols.append(str(dcol))
    df = df.dropna()
    out: dict[str, Any] = {"logit_n": len(df), "OR": np.nan, "OR_lower95": np.nan,
                           "OR_upper95": np.nan, "OR_per_SD": np.nan, "logit_p": np.nan,
                           "logit_wald_p": np.nan, "logit_note": ""}
    if len(df) < 4 or df["y"].nunique() < 2 or df["x"].nunique() < 2:
        out["logit_note"] = "too few samples or no variation"
        return out
    sd = float(df["x"].std(ddof=1))
    full = sm.add_constant(df[["x", *cov_cols]], has_constant="add")
    red = sm.add_constant(df[cov_cols], has_constant="add") if cov_cols else pd.DataFrame(
        {"const": np.ones(len(df))}, index=df.index)
    notes = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            f1 = sm.GLM(df["y"], full, family=sm.families.Binomial()).fit()
            f0 = sm.GLM(df["y"], red, family=sm.families.Binomial()).fit()
        except Exception as exc:  # perfect separation, singular design
            out["logit_note"] = f"logistic fit failed: {type(exc).__name__}"
            return out
    for w in caught:
        m = str(w.message).split("\n")[0]
        if "separation" in m.lower() or "overflow" in m.lower() or "converge" in m.lower():
            notes.append(m)
    b = float(f1.params["x"])
    se = float(f1.bse["x"])
    out.update({
        "OR": float(np.exp(b)), "OR_lower95": float(np.exp(b - _Z95 * se)),
        "OR_upper95": float(np.exp(b + _Z95 * se)), "OR_per_SD": float(np.exp(b * sd)),
        "logit_wald_p": float(f1.pvalues["x"]),
        "logit_p": float(stats.chi2.sf(max(0.0, 2 * (f1.llf - f0.llf)), 1)),
    })
    if notes or not np.isfinite(se) or se > 1e3:
        out["logit_note"] = "possible (quasi-)complete separation; OR unreliable"
    return out


def response_association(
    features: Mapping[str, pd.Series] | pd.DataFrame,
    response: pd.Series,
    covariates: pd.DataFrame | None = None,
    *,
    logistic: bool = True,
) -> ResponseAssociation:
    """AUC with DeLong CI, Mann-Whitney p, logistic regression and BH-FDR per biomarker.

    Parameters
    ----------
    features
        ``{name: Series}`` (or a samples x biomarkers DataFrame) indexed by sample.
    response
        1 (responder) / 0 (non-responder) / NaN, indexed by sample.  NaN labels and
        missing biomarker values are excluded and counted in ``n_excluded``.
    covariates
        Adjustment covariates for the logistic regression (AUC and Mann-Whitney are
        unadjusted).
    """
    feats: dict[str, pd.Series] = {str(k): v for k, v in features.items()}
    r = response.astype(float)
    bad = r.notna() & ~r.isin([0.0, 1.0])
    if bad.any():
        raise InputError("response labels must be 1 (responder) / 0 (non-responder)",
                         rows=[int(i) + 1 for i in np.flatnonzero(bad.to_numpy())])
    rows = []
    rocs: dict[str, pd.DataFrame] = {}
    vals = []
    for name, x in feats.items():
        xv = x.astype(float).reindex(r.index)
        ok = r.notna() & xv.notna()
        xr = xv[ok & (r == 1)].to_numpy()
        xn = xv[ok & (r == 0)].to_numpy()
        auc, se = auc_delong(xr, xn)
        row: dict[str, Any] = {
            "biomarker": name, "n": int(ok.sum()), "n_responders": len(xr),
            "n_nonresponders": len(xn), "n_excluded": int((~ok).sum()),
            "mean_R": float(np.mean(xr)) if len(xr) else np.nan,
            "mean_NR": float(np.mean(xn)) if len(xn) else np.nan,
            "AUC": auc,
            "AUC_lower95": float(max(0.0, auc - _Z95 * se)) if np.isfinite(se) else np.nan,
            "AUC_upper95": float(min(1.0, auc + _Z95 * se)) if np.isfinite(se) else np.nan,
            "AUC_se": se, "p": np.nan,
        }
        if len(xr) and len(xn):
            if np.ptp(np.r_[xr, xn]) == 0:
                row["p"] = 1.0
            else:
                row["p"] = float(stats.mannwhitneyu(xr, xn, alternative="two-sided",
                                                    method="asymptotic", use_continuity=True).pvalue)
            rocs[name] = roc_curve(xr, xn)
        if logistic:
            row.update(logistic_biomarker(r[ok], xv[ok], covariates))
        rows.append(row)
        vals.append(pd.DataFrame({"biomarker": name, "sample": xv.index[ok], "value": xv[ok].to_numpy(),
                                  "responder": r[ok].to_numpy()}))
    table = pd.DataFrame(rows)
    if len(table):
        table.insert(int(list(table.columns).index("p")) + 1, "fdr", bh_fdr(table["p"].to_numpy()))
    params = {"direction": "higher value predicts response", "ci": "DeLong, clipped to [0, 1]",
              "test": "Mann-Whitney, normal approximation, continuity correction",
              "fdr": "Benjamini-Hochberg over the biomarkers in this table",
              "covariates": [] if covariates is None else [str(c) for c in covariates.columns]}
    return ResponseAssociation(table, params, roc=rocs,
                               values=pd.concat(vals, ignore_index=True) if vals else pd.DataFrame())


def bh_fdr(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (NaN kept as NaN)."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p, dtype=float)
    out = np.full(len(p), np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method="fdr_bh")[1]
    return out

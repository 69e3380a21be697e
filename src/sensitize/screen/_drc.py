"""Emulation of SynergyFinder 3.x single-drug dose-response fitting (drc 3.0-1).

SynergyFinder's ``FitDoseResponse`` fits a four-parameter log-logistic curve with the R
package *drc* (``drm(response ~ dose, fct = LL.4(fixed = c(NA, Emin, Emax, NA)))``) and, when
that call raises an error, refits a four-parameter logistic on log dose
(``drm(response ~ log(dose), fct = L.4(...))``).  Its synergy scores depend on *which* local
optimum drc's optimiser reaches, so this module re-implements drc's algorithm step by step
(independently written from the published algorithm, not copied):

* **Scaling** (``drm``): for LL.4, dose and response are divided by
  ``10**floor(log10(median))`` (1 when the median is <= 0 or below 1e-15); L.4 is not scaled.
* **Self-starter** (``llogistic.ssf`` / ``logistic.ssf``, method "1"):
  ``c0 = min(y) - 0.001 * range(y)``, ``d0 = max(y) + 0.001 * range(y)``; the logit
  ``log((d0 - y) / (y - c0))`` is regressed on ``log(x)`` (LL.4, zero doses dropped) or ``x``
  (L.4); ``b0`` is the slope and ``e0 = exp(-intercept / slope)`` (LL.4) or
  ``-intercept / slope`` (L.4).  Fixed parameters are simply left out of the start vector.
* **Objective**: residual sum of squares on the scaled data.
* **Optimiser**: R's ``optim(method = "BFGS")`` (Nash's variable-metric ``vmmin``) with
  ``reltol = 1e-7``, ``maxit = 500``, ``parscale = |start|`` (entries below 1e-4 set to 1) and
  central finite-difference gradients with ``ndeps = 1e-3`` in the scaled parameter space.
  A non-finite starting value or a non-finite finite-difference gradient is an error; so is a
  non-finite gradient during the Hessian evaluation that ``optim(hessian = TRUE)`` performs at
  the solution.  drc turns such an error into "convergence failed", which SynergyFinder answers
  with the L.4 refit.

Empirical finding (checked against SynergyFinder 3.14 outputs): the LL.4 fit is made on the
**raw doses with the zero dose kept** (``log(0 / e) = -Inf`` puts the zero-dose point on the
curve's left asymptote); only the L.4 fallback replaces dose 0 by 1e-10 before taking logs.
With ``1e-10`` in the LL.4 fit, the block ZIP scores agree within 0.5 for only ~68 % of the
Mathews blocks; with the zero kept they all do.

References
----------
Ritz C, Baty F, Streibig JC, Gerhard D (2015). Dose-Response Analysis Using R. PLoS ONE
10(12): e0146021.
Nash JC (1990). Compact Numerical Methods for Computers, 2nd ed. Adam Hilger (Algorithm 21).
Zheng S, Wang W, Aldahdooh J, et al. (2022). SynergyFinder Plus. Genomics Proteomics
Bioinformatics 20(3): 587-596.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "DrcFit",
    "fit_drc",
    "fit_drc_batch",
    "predict_drc",
    "zip_matrices_sf",
]

_ZERO_DOSE_LOG = 1e-10
_MODELS = ("LL.4", "L.4", "failed")


@dataclass(frozen=True)
class DrcFit:
    """A fitted four-parameter curve as SynergyFinder would obtain it.

    Attributes
    ----------
    b, c, d : float
        Slope, lower and upper limit (drc's parameterisation; ``c`` is the response at the
        high-dose end when ``b > 0``).
    e : float
        Inflection point on the dose scale (``exp(e_log)`` for an L.4 fit).
    e_log : float
        Inflection point on the log-dose scale (``log(e)`` for an LL.4 fit).
    model : str
        ``"LL.4"``, ``"L.4"`` (fallback on log dose) or ``"failed"`` (both fits failed).
    converged : bool
        ``optim``'s convergence code was 0 (iteration limit not reached).
    rss : float
        Residual sum of squares on the original response scale.
    """

    b: float
    c: float
    d: float
    e: float
    e_log: float
    model: str
    converged: bool
    rss: float


def fit_drc(x: ArrayLike, y: ArrayLike, fixed_c: float | None = None,
            fixed_d: float | None = None) -> DrcFit:
    """Fit one dose-response curve the way SynergyFinder 3.x ``FitDoseResponse`` does.

    Parameters
    ----------
    x : array_like
        Doses (>= 0; a zero dose is allowed and used as such in the LL.4 fit).
    y : array_like
        Responses (% inhibition); same length as ``x``, no missing values.
    fixed_c, fixed_d : float, optional
        Values at which drc's ``c`` (Emin) and ``d`` (Emax) are held fixed.

    Returns
    -------
    DrcFit
        The LL.4 fit, else the L.4 fit on log dose (dose 0 -> 1e-10), else a ``"failed"`` fit
        whose parameters are NaN.
    """
    xa = np.asarray(x, dtype=float)
    ya = np.asarray(y, dtype=float)
    if xa.shape != ya.shape or xa.ndim != 1:
        raise ValueError("x and y must be 1-D arrays of equal length")
    r = fit_drc_batch(xa[None], ya[None], np.ones((1, xa.size), dtype=bool),
                      [math.nan if fixed_c is None else fixed_c],
                      [math.nan if fixed_d is None else fixed_d])
    return DrcFit(b=float(r["b"][0]), c=float(r["c"][0]), d=float(r["d"][0]), e=float(r["e"][0]),
                  e_log=float(r["e_log"][0]), model=_MODELS[int(r["model"][0])],
                  converged=bool(r["converged"][0]), rss=float(r["rss"][0]))


def predict_drc(fit: DrcFit, dose: ArrayLike) -> NDArray[np.float64]:
    """Fitted response at ``dose`` (NaN for a failed fit).

    For LL.4, dose 0 gives the left asymptote; for L.4, dose 0 is evaluated at log(1e-10)
    as SynergyFinder does.
    """
    xa = np.asarray(dose, dtype=float)
    with np.errstate(all="ignore"):
        if fit.model == "LL.4":
            return fit.c + (fit.d - fit.c) / (1.0 + np.exp(fit.b * np.log(xa / fit.e)))
        if fit.model == "L.4":
            lx = np.log(np.where(xa == 0, _ZERO_DOSE_LOG, xa))
            return fit.c + (fit.d - fit.c) / (1.0 + np.exp(fit.b * (lx - fit.e_log)))
    return np.full(xa.shape, np.nan)


def fit_drc_batch(X: ArrayLike, Y: ArrayLike, mask: ArrayLike | None = None,
                  fixed_c: ArrayLike | None = None, fixed_d: ArrayLike | None = None
                  ) -> dict[str, NDArray[np.float64]]:
    """Fit many curves (rows of ``X``/``Y``) with the compiled kernel.

    Parameters
    ----------
    X, Y : array_like, shape (n_curves, n_points)
        Doses and responses.
    mask : array_like of bool, optional
        Points to use (default: all finite points).
    fixed_c, fixed_d : array_like, shape (n_curves,), optional
        Per-curve fixed limits; NaN means free.

    Returns
    -------
    dict of ndarray
        ``b, c, d, e, e_log, rss`` (float), ``model`` (0 = LL.4, 1 = L.4, 2 = failed) and
        ``converged`` (1.0/0.0), each of length ``n_curves``.
    """
    import numba

    from sensitize.screen._drcjit import fit_many, fit_many_parallel

    xa = np.atleast_2d(np.asarray(X, dtype=float))
    ya = np.atleast_2d(np.asarray(Y, dtype=float))
    m = np.isfinite(xa) & np.isfinite(ya) if mask is None else np.asarray(mask, dtype=bool)
    n = ya.shape[0]
    fc = np.full(n, np.nan) if fixed_c is None else np.broadcast_to(np.asarray(fixed_c, dtype=float), (n,))
    fd = np.full(n, np.nan) if fixed_d is None else np.broadcast_to(np.asarray(fixed_d, dtype=float), (n,))
    # many curves: spread over Numba's threads (each curve's numbers are the same either way)
    kernel = fit_many_parallel if n >= 256 and numba.get_num_threads() > 1 else fit_many
    res = kernel(np.ascontiguousarray(np.where(m, xa, 1.0)), np.ascontiguousarray(np.where(m, ya, 0.0)),
                 np.ascontiguousarray(m), np.ascontiguousarray(fc), np.ascontiguousarray(fd))
    return {"b": res[:, 0], "c": res[:, 1], "d": res[:, 2], "e": res[:, 3], "e_log": res[:, 4],
            "rss": res[:, 5], "model": res[:, 7], "converged": res[:, 6]}


def zip_matrices_sf(conc1: ArrayLike, conc2: ArrayLike, response: ArrayLike
                    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """SynergyFinder 3.x ZIP reference and fitted matrices for one two-drug block.

    Parameters
    ----------
    conc1, conc2 : array_like
        Sorted unique concentrations of drug 1 (rows) and drug 2 (columns), starting at 0.
    response : array_like, shape (len(conc1), len(conc2))
        % inhibition.

    Returns
    -------
    ref, fit : ndarray
        ``ZIP_ref`` (``f1 + f2 - f1 f2 / 100`` from the single-drug fits) and ``ZIP_fit`` (mean
        of the row and column fits, each with ``c`` fixed at the slice's zero-dose response).
        Cells where a drug is absent hold the observed response.  The ZIP delta is
        ``fit - ref``.  Yadav B et al. (2015) Comput Struct Biotechnol J 13:504-513.
    """
    c1 = np.asarray(conc1, dtype=float)
    c2 = np.asarray(conc2, dtype=float)
    m = np.asarray(response, dtype=float)

    def curve(x: NDArray[np.float64], y: NDArray[np.float64], c: float | None) -> NDArray[np.float64]:
        f = fit_drc(x, y, fixed_c=c)
        return y.copy() if f.model == "failed" else predict_drc(f, x)

    p1 = curve(c1, m[:, 0], None)
    p2 = curve(c2, m[0, :], None)
    ref = p1[:, None] + p2[None, :] - p1[:, None] * p2[None, :] / 100.0
    f_col = m.copy()
    f_row = m.copy()
    for j in range(1, c2.size):
        f_col[:, j] = curve(c1, m[:, j], float(m[0, j]))
    for i in range(1, c1.size):
        f_row[i, :] = curve(c2, m[i, :], float(m[i, 0]))
    fit = (f_col + f_row) / 2.0
    ref[0, :] = m[0, :]
    ref[:, 0] = m[:, 0]
    fit[0, :] = m[0, :]
    fit[:, 0] = m[:, 0]
    return ref, fit

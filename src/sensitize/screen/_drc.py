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
from collections.abc import Callable
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

_RELTOL = 1e-7
_MAXIT = 500
_NDEPS = 1e-3
_STEPREDN = 0.2
_ACCTOL = 1e-4
_RELTEST = 10.0
_ZERO_DOSE_LOG = 1e-10


class _FitError(Exception):
    """An error that drc's ``drmOpt`` turns into a failed fit."""


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


_FAILED = DrcFit(
    b=math.nan, c=math.nan, d=math.nan, e=math.nan, e_log=math.nan,
    model="failed", converged=False, rss=math.nan,
)


def _vmmin(fn: Callable[[NDArray[np.float64]], float], p0: NDArray[np.float64]
           ) -> tuple[NDArray[np.float64], float, int]:
    """Minimise ``fn`` with R's BFGS variable-metric method (``vmmin``).

    ``fn`` is evaluated on the parameters divided by ``parscale``; gradients are central
    differences with step ``_NDEPS``.  Returns (parameters, minimum, convergence code).
    """
    n = p0.size

    def grad(p: NDArray[np.float64]) -> NDArray[np.float64]:
        g = np.empty(n)
        for i in range(n):
            q = p.copy()
            q[i] = p[i] + _NDEPS
            v1 = fn(q)
            q[i] = p[i] - _NDEPS
            v2 = fn(q)
            g[i] = (v1 - v2) / (2.0 * _NDEPS)
            if not math.isfinite(g[i]):
                raise _FitError("non-finite finite-difference value")
        return g

    b = p0.astype(float).copy()
    f = fn(b)
    if not math.isfinite(f):
        raise _FitError("initial value in 'vmmin' is not finite")
    fmin = f
    g = grad(b)
    gradcount = 1
    it = 1
    ilast = gradcount
    hinv = np.eye(n)
    count = 0
    while True:
        if ilast == gradcount:
            hinv = np.eye(n)  # only the lower triangle is used
        x_old = b.copy()
        g_old = g.copy()
        t = np.empty(n)
        gradproj = 0.0
        for i in range(n):  # R's loop order (lower triangle of the symmetric matrix)
            s = 0.0
            for j in range(i + 1):
                s -= hinv[i, j] * g[j]
            for j in range(i + 1, n):
                s -= hinv[j, i] * g[j]
            t[i] = s
            gradproj += s * g[i]
        if gradproj < 0.0:
            step = 1.0
            accpoint = False
            while True:
                b = x_old + step * t
                count = int(np.count_nonzero(_RELTEST + x_old == _RELTEST + b))
                if count < n:
                    f = fn(b)
                    accpoint = math.isfinite(f) and f <= fmin + gradproj * step * _ACCTOL
                    if not accpoint:
                        step *= _STEPREDN
                if count == n or accpoint:
                    break
            enough = abs(f - fmin) > _RELTOL * (abs(fmin) + _RELTOL)
            if not enough:
                count = n
                fmin = f
            if count < n:
                fmin = f
                g = grad(b)
                gradcount += 1
                it += 1
                t = step * t
                dg = g - g_old
                d1 = 0.0
                for i in range(n):
                    d1 += t[i] * dg[i]
                if d1 > 0:
                    hx = np.empty(n)
                    d2 = 0.0
                    for i in range(n):
                        s = 0.0
                        for j in range(i + 1):
                            s += hinv[i, j] * dg[j]
                        for j in range(i + 1, n):
                            s += hinv[j, i] * dg[j]
                        hx[i] = s
                        d2 += s * dg[i]
                    d2 = 1.0 + d2 / d1
                    for i in range(n):
                        for j in range(i + 1):
                            hinv[i, j] += (d2 * t[i] * t[j] - hx[i] * t[j] - t[i] * hx[j]) / d1
                else:
                    ilast = gradcount
            elif ilast < gradcount:
                count = 0
                ilast = gradcount
        else:
            count = 0
            if ilast == gradcount:
                count = n
            else:
                ilast = gradcount
        if it >= _MAXIT:
            break
        if gradcount - ilast > 2 * n:
            ilast = gradcount
        if count == n and ilast == gradcount:
            break
    return b, fmin, 0 if it < _MAXIT else 1


def _check_hessian(fn: Callable[[NDArray[np.float64]], float], p: NDArray[np.float64]) -> None:
    """Raise if ``optimhess`` would meet a non-finite finite-difference gradient."""
    n = p.size
    for i in range(n):
        for sign in (1.0, -1.0):
            q = p.copy()
            q[i] += sign * _NDEPS
            for j in range(n):
                r = q.copy()
                r[j] = q[j] + _NDEPS
                v1 = fn(r)
                r[j] = q[j] - _NDEPS
                v2 = fn(r)
                if not math.isfinite((v1 - v2) / (2.0 * _NDEPS)):
                    raise _FitError("non-finite finite-difference value (Hessian)")


def _scaling(v: NDArray[np.float64]) -> float:
    med = float(np.median(v))
    if not med > 0:
        return 1.0
    s = 10.0 ** math.floor(math.log10(med))
    return s if s >= 1e-15 else 1.0


def _drm(x: NDArray[np.float64], y: NDArray[np.float64], model: str,
         fixed_c: float | None, fixed_d: float | None) -> DrcFit:
    """One ``drc::drm`` call (LL.4 on dose, or L.4 on ``x`` = log dose)."""
    if model == "LL.4":
        ds, rs = _scaling(x), _scaling(y)
    else:
        ds, rs = 1.0, 1.0
    xs, ys = x / ds, y / rs
    yr = float(ys.max() - ys.min())
    c0 = float(ys.min()) - 1e-3 * yr
    d0 = float(ys.max()) + 1e-3 * yr
    with np.errstate(all="ignore"):
        z = np.log((d0 - ys) / (ys - c0))
        if model == "LL.4":
            lx = np.where(xs > 0, np.log(np.where(xs > 0, xs, 1.0)), np.nan)
        else:
            lx = xs
    ok = np.isfinite(lx) & np.isfinite(z)
    if ok.sum() < 2 or np.ptp(lx[ok]) == 0:
        raise _FitError("self-starter regression is not estimable")
    lxo, zo = lx[ok], z[ok]
    mx = lxo.sum() / lxo.size
    mz = zo.sum() / zo.size
    slope = float(((lxo - mx) * (zo - mz)).sum() / ((lxo - mx) ** 2).sum())
    intercept = float(mz - slope * mx)
    with np.errstate(all="ignore"):
        e0 = float(np.exp(-intercept / slope)) if model == "LL.4" else float(-intercept / slope)
    fc = None if fixed_c is None else fixed_c / rs
    fd = None if fixed_d is None else fixed_d / rs
    start = np.array([slope] + ([c0] if fc is None else []) + ([d0] if fd is None else []) + [e0])
    if not np.all(np.isfinite(start)):
        raise _FitError("non-finite value supplied by optim")
    ps = np.abs(start)
    ps[ps < 1e-4] = 1.0

    def unpack(p: NDArray[np.float64]) -> tuple[float, float, float, float]:
        k = 1
        c = fc if fc is not None else p[k]
        k += fc is None
        d = fd if fd is not None else p[k]
        k += fd is None
        return float(p[0]), float(c), float(d), float(p[k])

    def rss(q: NDArray[np.float64]) -> float:
        b, c, d, e = unpack(q * ps)
        with np.errstate(all="ignore"):
            if model == "LL.4":
                pr = c + (d - c) / (1.0 + np.exp(b * np.log(xs / e)))
            else:
                pr = c + (d - c) / (1.0 + np.exp(b * (xs - e)))
            return float(np.sum((ys - pr) ** 2))

    q, val, code = _vmmin(rss, start / ps)
    _check_hessian(rss, q)
    b, c, d, e = unpack(q * ps)
    if model == "LL.4":
        e_dose = e * ds
        with np.errstate(all="ignore"):
            e_log = math.log(e_dose) if e_dose > 0 else math.nan
    else:
        e_log = e
        e_dose = math.exp(e) if e < 700 else math.inf
    return DrcFit(b=b, c=c * rs, d=d * rs, e=e_dose, e_log=e_log, model=model,
                  converged=code == 0, rss=val * rs * rs)


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
    ya = np.asarray(y, dtype=float).copy()
    if xa.shape != ya.shape or xa.ndim != 1:
        raise ValueError("x and y must be 1-D arrays of equal length")
    if ya.size > 1 and np.var(ya) == 0:
        ya[-1] += 1e-10
    try:
        return _drm(xa, ya, "LL.4", fixed_c, fixed_d)
    except _FitError:
        pass
    try:
        xl = np.log(np.where(xa == 0, _ZERO_DOSE_LOG, xa))
        return _drm(xl, ya, "L.4", fixed_c, fixed_d)
    except _FitError:
        return _FAILED


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
    """Fit many curves (rows of ``X``/``Y``); loops over :func:`fit_drc`.

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
        ``converged`` (bool), each of length ``n_curves``.
    """
    xa = np.atleast_2d(np.asarray(X, dtype=float))
    ya = np.atleast_2d(np.asarray(Y, dtype=float))
    m = np.isfinite(xa) & np.isfinite(ya) if mask is None else np.asarray(mask, dtype=bool)
    n = xa.shape[0]
    fc = np.full(n, np.nan) if fixed_c is None else np.asarray(fixed_c, dtype=float)
    fd = np.full(n, np.nan) if fixed_d is None else np.asarray(fixed_d, dtype=float)
    out = {k: np.full(n, np.nan) for k in ("b", "c", "d", "e", "e_log", "rss")}
    model = np.full(n, 2, dtype=np.int8)
    conv = np.zeros(n, dtype=bool)
    codes = {"LL.4": 0, "L.4": 1, "failed": 2}
    for i in range(n):
        f = fit_drc(xa[i, m[i]], ya[i, m[i]],
                    None if np.isnan(fc[i]) else float(fc[i]),
                    None if np.isnan(fd[i]) else float(fd[i]))
        for k in out:
            out[k][i] = getattr(f, k)
        model[i] = codes[f.model]
        conv[i] = f.converged
    return {**out, "model": model.astype(float), "converged": conv.astype(float)}


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

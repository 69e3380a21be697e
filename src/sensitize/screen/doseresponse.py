"""Four-parameter log-logistic dose-response fits, vectorised across many curves.

The model is drc's ``LL.4`` (Ritz et al. 2015), the one SynergyFinder uses:

.. math::

    f(x) = c + \\frac{d - c}{1 + \\exp\\{b(\\log x - \\log e)\\}}

with slope ``b``, plateaus ``c`` (reached as ``x -> 0`` when ``b < 0``) and ``d``, and
relative IC50 ``e``.  SynergyFinder falls back to drc's ``L.4`` on ``log(x)`` when the
``LL.4`` optimisation fails; ``L.4`` on log-dose is the same family of curves, so here the
fit is always made on ``log e`` (which keeps ``e > 0``) and the ``L.4`` fallback is
implicit.  Zero doses are evaluated at ``1e-10`` as in SynergyFinder.

All curves of a batch are fitted at once by a damped Gauss-Newton (Levenberg-Marquardt)
iteration with per-curve damping, convergence masks and several starting points; the
least-squares optimum with the lowest residual sum of squares is kept.  Parameters can be
fixed per curve (``fixed_c``/``fixed_d``, NaN = free), as ZIP requires.

References
----------
Ritz C, Baty F, Streibig JC, Gerhard D (2015). Dose-Response Analysis Using R. PLoS ONE
10(12): e0146021.
Marquardt DW (1963). An algorithm for least-squares estimation of nonlinear parameters.
J Soc Ind Appl Math 11:431-441.
Zheng S et al. (2022). SynergyFinder Plus. Genomics Proteomics Bioinformatics 20:587-596.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit

from sensitize.screen._drc import fit_drc_batch

ZERO_DOSE = 1e-10
_B_MAX = 60.0


def ll4(x: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray, e: np.ndarray,
        zero_dose: np.ndarray | float = ZERO_DOSE) -> np.ndarray:
    """Evaluate the LL.4 curve (broadcasting).

    Zero doses are taken as ``zero_dose`` (default ``1e-10``; ``0`` puts them on the
    curve's left asymptote, as drc's LL.4 does).
    """
    x = np.asarray(x, dtype=float)
    x = np.where(x <= 0, zero_dose, x)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        z = np.asarray(b) * (np.log(x) - np.log(e))
        return np.asarray(c) + (np.asarray(d) - np.asarray(c)) * expit(-z)


@dataclass
class CurveFits:
    """Fitted LL.4 parameters of a batch of curves (arrays of length K).

    Attributes
    ----------
    b, c, d, e
        Slope, plateau at zero dose (for ``b < 0``), plateau at infinite dose, relative IC50.
    rss, r2
        Residual sum of squares and coefficient of determination.
    n
        Number of points per curve.
    converged
        Whether the iteration met its tolerance.
    flat
        Whether the responses have no variance (the curve is the constant response).
    model
        Which fit was kept: 0 = LL.4, 1 = L.4 on log dose (SynergyFinder's fallback),
        2 = failed (parameters NaN; callers use the observed responses).  ``None`` for the
        Levenberg-Marquardt fitter (always 0).
    zero_dose
        Dose at which a zero dose is evaluated, per curve (``0`` = left asymptote for drc's
        LL.4; ``1e-10`` otherwise).  ``None`` means ``1e-10`` for all.
    """

    b: np.ndarray
    c: np.ndarray
    d: np.ndarray
    e: np.ndarray
    rss: np.ndarray
    r2: np.ndarray
    n: np.ndarray
    converged: np.ndarray
    flat: np.ndarray
    model: np.ndarray | None = None
    zero_dose: np.ndarray | None = None

    @property
    def failed(self) -> np.ndarray:
        """Curves whose fit failed (no parameters)."""
        if self.model is None:
            return ~np.isfinite(self.b)
        return self.model == 2

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predict at doses ``x`` of shape (K, m) or (K,)."""
        x = np.asarray(x, dtype=float)
        z = ZERO_DOSE if self.zero_dose is None else self.zero_dose
        if x.ndim == 1:
            return ll4(x, self.b, self.c, self.d, self.e, z)
        zz = z if np.ndim(z) == 0 else np.asarray(z)[:, None]
        return ll4(x, self.b[:, None], self.c[:, None], self.d[:, None], self.e[:, None], zz)

    def __len__(self) -> int:
        return len(self.b)

    def take(self, idx: np.ndarray) -> CurveFits:
        """Subset of the curves."""
        vals: dict[str, Any] = {f: getattr(self, f) for f in self.__dataclass_fields__}
        sub: dict[str, Any] = {k: (None if v is None else v[idx]) for k, v in vals.items()}
        return CurveFits(**sub)


def _model_and_jac(
    u: np.ndarray, p: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Model values (K, m) and Jacobian (K, m, 4) w.r.t. (b, c, d, log e)."""
    b, c, d, le = p[:, 0:1], p[:, 1:2], p[:, 2:3], p[:, 3:4]
    z = b * (u - le)
    s = expit(-z)
    f = c + (d - c) * s
    ds = s * (1.0 - s)
    jac = np.empty((*u.shape, 4))
    jac[..., 0] = -(d - c) * ds * (u - le)
    jac[..., 1] = 1.0 - s
    jac[..., 2] = s
    jac[..., 3] = (d - c) * ds * b
    return f, jac


def _self_start(u: np.ndarray, y: np.ndarray, w: np.ndarray, fc: np.ndarray, fd: np.ndarray) -> np.ndarray:
    """Starting values in the spirit of drc's LL.4 self-starter (logit regression)."""
    big = np.where(w > 0, y, -np.inf).max(axis=1)
    small = np.where(w > 0, y, np.inf).min(axis=1)
    rng = np.maximum(big - small, 1e-8)
    c0 = np.where(np.isnan(fc), small - 1e-3 * rng, fc)
    d0 = np.where(np.isnan(fd), big + 1e-3 * rng, fd)
    lo = np.minimum(c0, d0)[:, None]
    hi = np.maximum(c0, d0)[:, None]
    span = np.maximum(hi - lo, 1e-8)
    yy = np.clip(y, lo + 1e-3 * span, hi - 1e-3 * span)
    with np.errstate(divide="ignore", invalid="ignore"):
        zz = np.log((d0[:, None] - yy) / (yy - c0[:, None]))
    ok = (w > 0) & np.isfinite(zz)
    nw = ok.sum(axis=1)
    um = np.where(ok, u, 0).sum(axis=1) / np.maximum(nw, 1)
    zm = np.where(ok, zz, 0).sum(axis=1) / np.maximum(nw, 1)
    suu = np.where(ok, (u - um[:, None]) ** 2, 0).sum(axis=1)
    suz = np.where(ok, (u - um[:, None]) * (zz - zm[:, None]), 0).sum(axis=1)
    slope = np.where(suu > 0, suz / np.where(suu > 0, suu, 1), 0.0)
    b0 = np.where(np.abs(slope) > 1e-3, slope, -1.0)
    b0 = np.clip(b0, -10, 10)
    le0 = um - zm / b0
    umin = np.where(w > 0, u, np.inf).min(axis=1)
    umax = np.where(w > 0, u, -np.inf).max(axis=1)
    le0 = np.clip(le0, umin - 5, umax + 5)
    return np.stack([b0, c0, d0, le0], axis=1)


def _lm(
    u: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    p0: np.ndarray,
    free: np.ndarray,
    max_iter: int,
    tol: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised Levenberg-Marquardt on a batch. Returns params, rss, converged."""
    k = p0.shape[0]
    p = p0.copy()
    with np.errstate(over="ignore", invalid="ignore"):
        f, jac = _model_and_jac(u, p)
    r = (f - y) * w
    rss = np.einsum("km,km->k", r, r)
    rss = np.where(np.isfinite(rss), rss, np.inf)
    lam = np.full(k, 1e-3)
    active = np.ones(k, dtype=bool)
    converged = np.zeros(k, dtype=bool)
    eye = np.eye(4)
    freef = free.astype(float)
    for _ in range(max_iter):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        pa, ua, ya, wa = p[idx], u[idx], y[idx], w[idx]
        with np.errstate(over="ignore", invalid="ignore"):
            f, jac = _model_and_jac(ua, pa)
        jac = jac * wa[..., None] * freef[idx][:, None, :]
        r = (f - ya) * wa
        jtj = np.einsum("kmi,kmj->kij", jac, jac)
        jtr = np.einsum("kmi,km->ki", jac, r)
        diag = np.einsum("kii->ki", jtj)
        damp = lam[idx, None] * np.maximum(diag, 1e-12)
        a = jtj + damp[:, :, None] * eye + (1.0 - freef[idx])[:, :, None] * eye
        try:
            step = np.linalg.solve(a, -jtr[..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = np.zeros_like(jtr)
            for i in range(len(idx)):
                step[i] = np.linalg.lstsq(a[i], -jtr[i], rcond=None)[0]
        step *= freef[idx]
        pn = pa + step
        pn[:, 0] = np.clip(pn[:, 0], -_B_MAX, _B_MAX)
        with np.errstate(over="ignore", invalid="ignore"):
            fn, _ = _model_and_jac(ua, pn)
        rn = (fn - ya) * wa
        rssn = np.einsum("km,km->k", rn, rn)
        better = np.isfinite(rssn) & (rssn <= rss[idx])
        old = rss[idx]
        p[idx[better]] = pn[better]
        rss[idx[better]] = rssn[better]
        lam[idx] = np.where(better, np.maximum(lam[idx] / 3.0, 1e-12), np.minimum(lam[idx] * 4.0, 1e12))
        rel = np.abs(old - rssn) / np.maximum(old, 1e-12)
        small_step = np.max(np.abs(step), axis=1) < 1e-10 * (1 + np.max(np.abs(pa), axis=1))
        done = (better & ((rel < tol) | (rssn < 1e-20))) | small_step | (lam[idx] >= 1e12)
        converged[idx[done]] = (lam[idx[done]] < 1e12) | (rss[idx[done]] < 1e-20)
        active[idx[done]] = False
    return p, rss, converged


def fit_ll4(
    x: np.ndarray,
    y: np.ndarray,
    mask: np.ndarray | None = None,
    fixed_c: np.ndarray | float | None = None,
    fixed_d: np.ndarray | float | None = None,
    max_iter: int = 200,
    tol: float = 1e-12,
) -> CurveFits:
    """Fit LL.4 curves to a batch of dose-response series.

    Parameters
    ----------
    x, y
        Doses and responses, shape (K, m); zero doses are allowed (taken as ``1e-10``).
    mask
        Boolean (K, m), True where a point is present (default: finite ``y``).
    fixed_c, fixed_d
        Values at which to fix ``c`` (the zero-dose plateau) or ``d`` per curve; NaN
        leaves the parameter free.
    max_iter, tol
        Iteration limit and relative-RSS tolerance.

    Returns
    -------
    CurveFits
        The least-squares fits (best over several starts).  Curves without variance
        are returned as flat curves at the constant response (``flat=True``).
    """
    x = np.atleast_2d(np.asarray(x, dtype=float))
    y = np.atleast_2d(np.asarray(y, dtype=float))
    if x.shape != y.shape:
        x = np.broadcast_to(x, y.shape)
    k, _m = y.shape
    if mask is None:
        mask = np.isfinite(y) & np.isfinite(x)
    w = mask.astype(float)
    y0 = np.where(mask, y, 0.0)
    u = np.log(np.where((x > 0) & mask, x, ZERO_DOSE))
    fc = np.full(k, np.nan) if fixed_c is None else np.broadcast_to(np.asarray(fixed_c, dtype=float), (k,)).copy()
    fd = np.full(k, np.nan) if fixed_d is None else np.broadcast_to(np.asarray(fixed_d, dtype=float), (k,)).copy()
    free = np.stack([np.ones(k, bool), np.isnan(fc), np.isnan(fd), np.ones(k, bool)], axis=1)
    n = mask.sum(axis=1)
    mean = y0.sum(axis=1) / np.maximum(n, 1)
    sst = (((y0 - mean[:, None]) * w) ** 2).sum(axis=1)
    flat = sst <= 1e-20

    starts = []
    s1 = _self_start(u, y0, w, fc, fd)
    starts.append(s1)
    umid = np.where(mask, u, 0).sum(axis=1) / np.maximum(n, 1)
    for b0 in (-1.0, 1.0):
        s = s1.copy()
        s[:, 0] = b0
        s[:, 3] = umid
        starts.append(s)
    best_p = None
    best_rss = np.full(k, np.inf)
    best_conv = np.zeros(k, dtype=bool)
    for s in starts:
        s = s.copy()
        s[:, 1] = np.where(np.isnan(fc), s[:, 1], fc)
        s[:, 2] = np.where(np.isnan(fd), s[:, 2], fd)
        p, rss, conv = _lm(u, y0, w, s, free, max_iter, tol)
        with np.errstate(invalid="ignore"):
            better = rss < best_rss - 1e-12 * np.maximum(np.nan_to_num(best_rss, posinf=1e300), 1)
        if best_p is None:
            best_p = p
            best_rss, best_conv = rss, conv
        else:
            best_p = np.where(better[:, None], p, best_p)
            best_rss = np.where(better, rss, best_rss)
            best_conv = np.where(better, conv, best_conv)
    assert best_p is not None
    b, c, d, le = best_p.T
    le = np.clip(le, -700.0, 700.0)
    # flat curves: constant prediction
    c = np.where(flat & np.isnan(fc), mean, c)
    d = np.where(flat & np.isnan(fd), mean, d)
    r2 = np.where(sst > 0, 1.0 - best_rss / np.where(sst > 0, sst, 1.0), 1.0)
    return CurveFits(
        b=b,
        c=c,
        d=d,
        e=np.exp(le),
        rss=best_rss,
        r2=r2,
        n=n,
        converged=best_conv | flat,
        flat=flat,
    )


def fit_ll4_drc(
    x: np.ndarray,
    y: np.ndarray,
    mask: np.ndarray | None = None,
    fixed_c: np.ndarray | float | None = None,
    fixed_d: np.ndarray | float | None = None,
) -> CurveFits:
    """Fit LL.4 curves exactly as SynergyFinder 3.x does (drc 3.0-1 emulation, batched).

    drc's ``drm(LL.4)`` on the raw doses (zero dose on the left asymptote) with drc's
    scaling and self-starter, optimised by an emulation of R's ``optim(method="BFGS")``;
    on failure drc's ``L.4`` on log dose (zero dose at ``1e-10``), as SynergyFinder's
    ``FitDoseResponse`` does.  See :mod:`sensitize.screen._drc` for the recipe and the
    measured agreement.

    Parameters
    ----------
    x, y
        Doses and responses, shape (K, m) (``x`` may be (m,) and is broadcast).
    mask
        Boolean (K, m), True where a point is present (default: finite ``x`` and ``y``).
    fixed_c, fixed_d
        Values at which ``c`` / ``d`` are held fixed per curve (NaN leaves it free).

    Returns
    -------
    CurveFits
        With ``model`` (0 LL.4, 1 L.4 fallback, 2 failed) and ``zero_dose`` set.

    References
    ----------
    Ritz C, Baty F, Streibig JC, Gerhard D (2015). Dose-Response Analysis Using R. PLoS ONE
    10(12): e0146021.
    Zheng S et al. (2022). SynergyFinder Plus. Genomics Proteomics Bioinformatics 20:587-596.
    """
    y = np.atleast_2d(np.asarray(y, dtype=float))
    x = np.broadcast_to(np.atleast_2d(np.asarray(x, dtype=float)), y.shape)
    if mask is None:
        mask = np.isfinite(y) & np.isfinite(x)
    mask = np.asarray(mask, dtype=bool)
    r = fit_drc_batch(x, y, mask, fixed_c, fixed_d)
    w = mask.astype(float)
    y0 = np.where(mask, y, 0.0)
    n = mask.sum(axis=1)
    mean = y0.sum(axis=1) / np.maximum(n, 1)
    sst = (((y0 - mean[:, None]) * w) ** 2).sum(axis=1)
    flat = sst <= 1e-20
    # the kernel's RSS is already on the original response scale (NaN for failed fits)
    model = r["model"].astype(np.int8)
    rss = r["rss"]
    r2 = np.where(sst > 0, 1.0 - rss / np.where(sst > 0, sst, 1.0), np.where(model == 2, np.nan, 1.0))
    return CurveFits(b=r["b"], c=r["c"], d=r["d"], e=r["e"], rss=rss, r2=r2, n=n,
                     converged=r["converged"] == 1.0, flat=flat, model=model,
                     zero_dose=np.where(model == 0, 0.0, ZERO_DOSE))


def relative_ic50(fits: CurveFits, max_dose: np.ndarray) -> np.ndarray:
    """Relative IC50 (the ``e`` parameter), capped at the highest tested dose.

    SynergyFinder reports ``e`` capped at the top dose (a curve whose midpoint lies above
    the tested range is reported at the top dose).
    """
    return np.minimum(fits.e, max_dose)


def sensitivity_score(fits: CurveFits, log10_lo: np.ndarray, log10_hi: np.ndarray) -> np.ndarray:
    """Area under the fitted curve over the log10-dose range, as % of the range.

    This is SynergyFinder's relative inhibition (RI) / DSS-style score with threshold 0:

    .. math::

        RI = \\frac{1}{x_2 - x_1}\\int_{x_1}^{x_2} f(10^x)\\,dx

    computed analytically, with ``x1``, ``x2`` the log10 of the lowest non-zero and the
    highest dose (Yadav et al. 2014; Zheng et al. 2021).

    References
    ----------
    Yadav B et al. (2014). Quantitative scoring of differential drug sensitivity for
    individually optimized anticancer therapies. Sci Rep 4:5193.
    Malyutina A et al. (2019). Drug combination sensitivity scoring facilitates the
    discovery of synergistic and efficacious drug combinations in cancer. PLoS Comput
    Biol 15(5):e1006752.
    """
    b, c, d, e = fits.b, fits.c, fits.d, fits.e
    with np.errstate(divide="ignore", invalid="ignore"):
        m = np.log10(e)  # e = 0 (a degenerate fit) gives -inf: the curve is at its plateau
    # f(10^x) = c + (d - c) / (1 + 10^{b (x - m)}); integral of 1/(1+10^{b(x-m)}) is
    # -(1/(b ln 10)) ln(1 + 10^{-b (x - m)})
    def prim(x: np.ndarray) -> np.ndarray:
        t = -b * (x - m) * np.log(10.0)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            lg = np.logaddexp(0.0, t)
            val = np.where(np.abs(b) > 1e-12, -lg / (b * np.log(10.0)), x / 2.0)
        return val

    width = log10_hi - log10_lo
    with np.errstate(divide="ignore", invalid="ignore"):
        integ = c * width + (d - c) * (prim(log10_hi) - prim(log10_lo))
        score = np.where(width > 0, integ / width, np.nan)
    return score

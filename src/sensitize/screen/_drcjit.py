"""Compiled (Numba) kernel of the drc 3.0-1 / SynergyFinder fit emulation.

The algorithm is documented in :mod:`sensitize.screen._drc` (its public face) and
``docs/drc_emulation.md``: drc's scaling and self-starter, R's ``vmmin`` BFGS with central
finite differences (R's loop order), the ``optimhess`` finiteness check, and the ``L.4``
fallback on log dose.  Each curve is fitted by a compiled loop, so the cost per curve is
arithmetic rather than NumPy call overhead; curves are independent, so results do not depend
on how curves are batched or threaded.

References
----------
Nash JC (1990). Compact Numerical Methods for Computers, 2nd ed. Adam Hilger (Algorithm 21).
Ritz C, Baty F, Streibig JC, Gerhard D (2015). Dose-Response Analysis Using R. PLoS ONE
10(12): e0146021.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

_RELTOL = 1e-7
_MAXIT = 500
_NDEPS = 1e-3
_STEPREDN = 0.2
_ACCTOL = 1e-4
_RELTEST = 10.0
_ZERO_DOSE_LOG = 1e-10


@njit(cache=True, error_model="numpy")
def _unpack(q, ps, fcv, fdv, cfree, dfree):  # type: ignore[no-untyped-def]
    """(b, c, d, e) from scaled free parameters ``q`` and the fixed ``c``/``d``."""
    b = q[0] * ps[0]
    k = 1
    if cfree:
        c = q[k] * ps[k]
        k += 1
    else:
        c = fcv
    if dfree:
        d = q[k] * ps[k]
        k += 1
    else:
        d = fdv
    return b, c, d, q[k] * ps[k]


@njit(cache=True, error_model="numpy")
def _rss(q, ps, xs, ys, n_pts, fcv, fdv, cfree, dfree, loglog, lr, ex):  # type: ignore[no-untyped-def]
    """Residual sum of squares at ``q``; leaves ``log(x / e)`` (or ``x - e``) in ``lr`` and
    ``exp(b * lr)`` in ``ex`` for :func:`_grad`."""
    b, c, d, e = _unpack(q, ps, fcv, fdv, cfree, dfree)
    s = 0.0
    for i in range(n_pts):
        if loglog:
            ratio = xs[i] / e
            if ratio > 0:
                lk = math.log(ratio)
            elif ratio == 0:
                lk = -math.inf
            else:
                lk = math.nan
        else:
            lk = xs[i] - e
        ek = _expo(b * lk)
        lr[i] = lk
        ex[i] = ek
        r = ys[i] - _pred(c, d, ek)
        s += r * r
    return s


@njit(cache=True, error_model="numpy")
def _pred(c, d, ex):  # type: ignore[no-untyped-def]
    return c + (d - c) / (1.0 + ex)


@njit(cache=True, error_model="numpy")
def _expo(arg):  # type: ignore[no-untyped-def]
    return math.inf if arg > 709.0 else math.exp(arg)


@njit(cache=True, error_model="numpy")
def _grad(q, ps, xs, ys, n_pts, fcv, fdv, cfree, dfree, loglog, g, lr, ex, base_ok, lr2, ex2):  # type: ignore[no-untyped-def]
    """Central differences of the RSS in each scaled parameter (R's ``fmingr`` order).

    Bit for bit what :func:`_rss` would give at each perturbed point, but reusing the
    terms a perturbation leaves unchanged: ``log(x / e)`` (or ``x - e``) when ``b`` moves,
    and ``exp(b * log(x / e))`` when ``c`` or ``d`` moves; only ``e`` needs full passes.
    ``lr``/``ex`` hold those terms at ``q`` when ``base_ok`` (the last :func:`_rss` call was
    at ``q``); ``lr2``/``ex2`` are scratch.
    """
    n = q.size
    _, c, d, _ = _unpack(q, ps, fcv, fdv, cfree, dfree)
    if not base_ok:
        _rss(q, ps, xs, ys, n_pts, fcv, fdv, cfree, dfree, loglog, lr, ex)
    ic = 1 if cfree else -1
    for i in range(n):
        qi = q[i]
        vp = 0.0
        for j in range(2):
            qp = qi + _NDEPS if j == 0 else qi - _NDEPS
            if i == n - 1:  # e: everything moves
                q[i] = qp
                s = _rss(q, ps, xs, ys, n_pts, fcv, fdv, cfree, dfree, loglog, lr2, ex2)
                q[i] = qi
            elif i == 0:
                bp = qp * ps[0]
                s = 0.0
                for k in range(n_pts):
                    r = ys[k] - _pred(c, d, _expo(bp * lr[k]))
                    s += r * r
            elif i == ic:
                cp = qp * ps[i]
                s = 0.0
                for k in range(n_pts):
                    r = ys[k] - _pred(cp, d, ex[k])
                    s += r * r
            else:  # d
                dp = qp * ps[i]
                s = 0.0
                for k in range(n_pts):
                    r = ys[k] - _pred(c, dp, ex[k])
                    s += r * r
            if j == 0:
                vp = s
            else:
                g[i] = (vp - s) / (2.0 * _NDEPS)
        if not math.isfinite(g[i]):
            return False
    return True


@njit(cache=True, error_model="numpy")
def _vmmin(q, ps, xs, ys, n_pts, fcv, fdv, cfree, dfree, loglog, W, Bw):  # type: ignore[no-untyped-def]
    """R's vmmin on scaled parameters ``q`` (modified in place); returns (ok, fmin, code).

    ``W`` (at least 11 rows of at least ``max(n_pts, 4)``) and ``Bw`` (4, 4) are scratch,
    so that a fit allocates nothing.
    """
    n = q.size
    lr = W[0, :n_pts]
    ex = W[1, :n_pts]
    lr2 = W[2, :n_pts]
    ex2 = W[3, :n_pts]
    f = _rss(q, ps, xs, ys, n_pts, fcv, fdv, cfree, dfree, loglog, lr, ex)
    if not math.isfinite(f):
        return False, math.nan, 1
    fmin = f
    g = W[4, :n]
    if not _grad(q, ps, xs, ys, n_pts, fcv, fdv, cfree, dfree, loglog, g, lr, ex, True, lr2, ex2):
        return False, math.nan, 1
    gradcount = 1
    it = 1
    ilast = gradcount
    B = Bw[:n, :n]  # set to the identity by the first pass of the loop (ilast == gradcount)
    x_old = W[5, :n]
    g_old = W[6, :n]
    t = W[7, :n]
    X = W[8, :n]
    cc = W[9, :n]
    count = 0
    while True:
        if ilast == gradcount:
            for i in range(n):
                for j in range(n):
                    B[i, j] = 1.0 if i == j else 0.0
        for i in range(n):
            x_old[i] = q[i]
            g_old[i] = g[i]
        gradproj = 0.0
        for i in range(n):
            s = 0.0
            for j in range(i + 1):
                s -= B[i, j] * g[j]
            for j in range(i + 1, n):
                s -= B[j, i] * g[j]
            t[i] = s
            gradproj += s * g[i]
        if gradproj < 0.0:
            step = 1.0
            accpoint = False
            while True:
                count = 0
                for i in range(n):
                    q[i] = x_old[i] + step * t[i]
                    if _RELTEST + x_old[i] == _RELTEST + q[i]:
                        count += 1
                if count < n:
                    f = _rss(q, ps, xs, ys, n_pts, fcv, fdv, cfree, dfree, loglog, lr, ex)
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
                # the accepted point was the last one evaluated: its terms are in lr/ex
                if not _grad(q, ps, xs, ys, n_pts, fcv, fdv, cfree, dfree, loglog, g, lr, ex, True, lr2, ex2):
                    return False, math.nan, 1
                gradcount += 1
                it += 1
                d1 = 0.0
                for i in range(n):
                    t[i] = step * t[i]
                    X[i] = g[i] - g_old[i]  # temporarily the gradient change
                    d1 += t[i] * X[i]
                if d1 > 0:
                    for i in range(n):
                        cc[i] = X[i]
                    d2 = 0.0
                    for i in range(n):
                        s = 0.0
                        for j in range(i + 1):
                            s += B[i, j] * cc[j]
                        for j in range(i + 1, n):
                            s += B[j, i] * cc[j]
                        X[i] = s
                        d2 += s * cc[i]
                    d2 = 1.0 + d2 / d1
                    for i in range(n):
                        for j in range(i + 1):
                            B[i, j] += (d2 * t[i] * t[j] - X[i] * t[j] - t[i] * X[j]) / d1
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
    # optim(hessian = TRUE): finite differences of the gradient must be finite
    gh = W[10, :n]
    for i in range(n):
        for sgn in (1.0, -1.0):
            qi = q[i]
            q[i] = qi + sgn * _NDEPS
            okh = _grad(q, ps, xs, ys, n_pts, fcv, fdv, cfree, dfree, loglog, gh, lr, ex, False, lr2, ex2)
            q[i] = qi
            if not okh:
                return False, math.nan, 1
    return True, fmin, 0 if it < _MAXIT else 1


@njit(cache=True, error_model="numpy")
def _median(v, tmp):  # type: ignore[no-untyped-def]
    """Median of ``v`` (mean of the two middle values for even sizes), sorting in ``tmp``."""
    m = v.size
    for i in range(m):
        a = v[i]
        if a != a:
            return math.nan
        j = i
        while j > 0 and tmp[j - 1] > a:
            tmp[j] = tmp[j - 1]
            j -= 1
        tmp[j] = a
    h = m // 2
    if m % 2 == 1:
        return tmp[h]
    return (tmp[h - 1] + tmp[h]) / 2


@njit(cache=True, error_model="numpy")
def _scaling(v, tmp):  # type: ignore[no-untyped-def]
    med = _median(v, tmp)
    if not med > 0:
        return 1.0
    s = 10.0 ** math.floor(math.log10(med))
    if s * 10.0 <= med:
        s *= 10.0
    elif s > med:
        s /= 10.0
    return s if s >= 1e-15 else 1.0


@njit(cache=True, error_model="numpy")
def _drm(x, y, fcv, fdv, cfree, dfree, loglog, out, W, Bw, P):  # type: ignore[no-untyped-def]
    """One drm call; fills out = [b, c, d, e, e_log, rss, converged]; returns ok.

    ``W`` (16 rows), ``Bw`` and ``P`` (4, 4) are scratch (see :func:`_workspace`).
    """
    m = x.size
    if loglog:
        ds = _scaling(x, W[15])
        rs = _scaling(y, W[15])
    else:
        ds = 1.0
        rs = 1.0
    xs = W[11, :m]
    ys = W[12, :m]
    for i in range(m):
        xs[i] = x[i] / ds
        ys[i] = y[i] / rs
    ymin = ys.min()
    ymax = ys.max()
    yr = ymax - ymin
    c0 = ymin - 1e-3 * yr
    d0 = ymax + 1e-3 * yr
    # self-starter: least-squares line of the logit on log dose
    nk = 0
    sx = 0.0
    sz = 0.0
    lxa = W[13]
    za = W[14]
    for i in range(m):
        if loglog:
            if not xs[i] > 0:
                continue
            lx = math.log(xs[i])
        else:
            lx = xs[i]
        num = d0 - ys[i]
        den = ys[i] - c0
        ratio = num / den
        if not (ratio > 0 and math.isfinite(ratio)):
            continue
        z = math.log(ratio)
        if not (math.isfinite(lx) and math.isfinite(z)):
            continue
        lxa[nk] = lx
        za[nk] = z
        nk += 1
    if nk < 2:
        return False
    for i in range(nk):
        sx += lxa[i]
        sz += za[i]
    mx = sx / nk
    mz = sz / nk
    sxx = 0.0
    sxz = 0.0
    for i in range(nk):
        sxx += (lxa[i] - mx) * (lxa[i] - mx)
        sxz += (lxa[i] - mx) * (za[i] - mz)
    if not sxx > 0:
        return False
    slope = sxz / sxx
    intercept = mz - slope * mx
    e0 = math.exp(-intercept / slope) if loglog else -intercept / slope
    n = 2 + (1 if cfree else 0) + (1 if dfree else 0)
    start = P[0, :n]
    start[0] = slope
    k = 1
    if cfree:
        start[k] = c0
        k += 1
    if dfree:
        start[k] = d0
        k += 1
    start[k] = e0
    for i in range(n):
        if not math.isfinite(start[i]):
            return False
    ps = P[1, :n]
    q = P[2, :n]
    for i in range(n):
        ps[i] = abs(start[i])
        if ps[i] < 1e-4:
            ps[i] = 1.0
        q[i] = start[i] / ps[i]
    fcs = fcv / rs
    fds = fdv / rs
    ok, fmin, code = _vmmin(q, ps, xs, ys, m, fcs, fds, cfree, dfree, loglog, W, Bw)
    if not ok:
        return False
    b, c, d, e = _unpack(q, ps, fcs, fds, cfree, dfree)
    if loglog:
        e_dose = e * ds
        e_log = math.log(e_dose) if e_dose > 0 else math.nan
    else:
        e_log = e
        e_dose = math.exp(e) if e < 700 else math.inf
    out[0] = b
    out[1] = c * rs
    out[2] = d * rs
    out[3] = e_dose
    out[4] = e_log
    out[5] = fmin * rs * rs
    out[6] = 1.0 if code == 0 else 0.0
    return True


@njit(cache=True, error_model="numpy")
def _workspace(m):  # type: ignore[no-untyped-def]
    """Scratch for fitting curves of up to ``m`` points: (W, Bw, P, S)."""
    mm = max(m, 8)
    return np.empty((16, mm)), np.empty((4, 4)), np.empty((4, 4)), np.empty((4, mm))


@njit(cache=True, error_model="numpy")
def _fit_row(r, x, y, w, fc, fd, res, W, Bw, P, S):  # type: ignore[no-untyped-def]
    """Fit row ``r`` into ``res[r]`` (b, c, d, e, e_log, rss, converged, model).

    ``W, Bw, P, S`` come from :func:`_workspace`; nothing is allocated per fit.
    """
    m = y.shape[1]
    out = S[0, :7]
    xx = S[1]
    yy = S[2]
    npt = 0
    for i in range(m):
        if w[r, i]:
            xx[npt] = x[r, i]
            yy[npt] = y[r, i]
            npt += 1
    xv = xx[:npt]
    yv = yy[:npt]
    if npt > 1:
        mu = 0.0
        for i in range(npt):
            mu += yv[i]
        mu /= npt
        var = 0.0
        for i in range(npt):
            var += (yv[i] - mu) * (yv[i] - mu)
        if var == 0.0:
            yv[npt - 1] += 1e-10
    cfree = math.isnan(fc[r])
    dfree = math.isnan(fd[r])
    res[r, 7] = 2.0
    if npt < 2:
        return
    if _drm(xv, yv, fc[r], fd[r], cfree, dfree, True, out, W, Bw, P):
        res[r, :7] = out
        res[r, 7] = 0.0
        return
    xl = S[3, :npt]
    for i in range(npt):
        xl[i] = math.log(_ZERO_DOSE_LOG if xv[i] == 0 else xv[i])
    if _drm(xl, yv, fc[r], fd[r], cfree, dfree, False, out, W, Bw, P):
        res[r, :7] = out
        res[r, 7] = 1.0


@njit(cache=True, error_model="numpy")
def fit_many(x, y, w, fc, fd):  # type: ignore[no-untyped-def]
    """Fit every row in this thread; returns (K, 8): b, c, d, e, e_log, rss, converged, model.

    Rows are independent: the result of a row does not depend on the other rows.
    """
    K = y.shape[0]
    res = np.full((K, 8), np.nan)
    W, Bw, P, S = _workspace(y.shape[1])
    for r in range(K):
        _fit_row(r, x, y, w, fc, fd, res, W, Bw, P, S)
    return res


_CHUNKS = 64


@njit(cache=True, error_model="numpy", parallel=True)
def fit_many_parallel(x, y, w, fc, fd):  # type: ignore[no-untyped-def]
    """:func:`fit_many` with rows spread over Numba's threads (same numbers, row by row).

    Rows are dealt round-robin to ``_CHUNKS`` chunks, each with its own scratch, so that
    slow (non-converging) fits spread evenly over the threads.
    """
    K = y.shape[0]
    res = np.full((K, 8), np.nan)
    nch = min(K, _CHUNKS)
    for ci in prange(nch):
        W, Bw, P, S = _workspace(y.shape[1])
        for r in range(ci, K, nch):
            _fit_row(r, x, y, w, fc, fd, res, W, Bw, P, S)
    return res

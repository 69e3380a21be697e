"""Vectorised emulation of drc 3.0-1 / R ``optim(method = "BFGS")`` over many curves.

The algorithm is the one documented in :mod:`sensitize.screen._drc` (SynergyFinder 3.x
``FitDoseResponse``: LL.4 fit on scaled data, drc self-starter, R's variable-metric ``vmmin``
with central finite-difference gradients, the ``optimhess`` check, and the L.4 fallback on
log dose).  Here every curve of a batch runs its own copy of ``vmmin`` in lock-step: each
curve is a small state machine (start of an iteration, line-search trial, line-search
evaluation, gradient, end of iteration), and at each tick the objective is evaluated at once
for every curve that needs a function value or a gradient.  The per-curve arithmetic follows
R's loops (sequential accumulation, lower-triangular inverse-Hessian update), so each curve
takes the same path as the scalar emulation.

References
----------
Nash JC (1990). Compact Numerical Methods for Computers, 2nd ed. Adam Hilger (Algorithm 21).
Ritz C, Baty F, Streibig JC, Gerhard D (2015). Dose-Response Analysis Using R. PLoS ONE
10(12): e0146021.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["drc_fit_arrays"]

_RELTOL = 1e-7
_MAXIT = 500
_NDEPS = 1e-3
_STEPREDN = 0.2
_ACCTOL = 1e-4
_RELTEST = 10.0
_ZERO_DOSE_LOG = 1e-10

# vmmin states
_INIT_F, _INIT_G, _START, _LS_TRIAL, _LS_EVAL, _LS_DONE, _GRAD, _END, _DONE, _FAIL = range(10)

Arr = NDArray[np.float64]


class _Problem:
    """Objective of a batch: scaled data and which of (b, c, d, e) are free."""

    def __init__(self, xs: Arr, ys: Arr, w: NDArray[np.bool_], fc: Arr | None, fd: Arr | None,
                 ps: Arr, loglog: bool) -> None:
        self.xs, self.ys, self.w = xs, ys, w
        self.fc, self.fd, self.ps = fc, fd, ps
        self.loglog = loglog
        with np.errstate(divide="ignore"):
            self.lx = None if loglog else xs

    def unpack(self, p: Arr, idx: NDArray[np.intp]) -> tuple[Arr, Arr, Arr, Arr]:
        """(b, c, d, e) from unscaled free parameters ``p`` (k, ..., n)."""
        extra = (1,) * (p.ndim - 2)
        k = 1
        if self.fc is None:
            c = p[..., k]
            k += 1
        else:
            c = self.fc[idx].reshape((-1, *extra))
        if self.fd is None:
            d = p[..., k]
            k += 1
        else:
            d = self.fd[idx].reshape((-1, *extra))
        return p[..., 0], c, d, p[..., k]

    def rss(self, q: Arr, idx: NDArray[np.intp]) -> Arr:
        """Residual sums of squares at scaled points ``q`` of shape (k, P, n) -> (k, P)."""
        p = q * self.ps[idx][:, None, :]
        b, c, d, e = self.unpack(p, idx)
        xs = self.xs[idx][:, None, :]
        ys = self.ys[idx][:, None, :]
        with np.errstate(all="ignore"):
            if self.loglog:
                arg = b[..., None] * np.log(xs / e[..., None])
            else:
                arg = b[..., None] * (xs - e[..., None])
            pr = c[..., None] + (d - c)[..., None] / (1.0 + np.exp(arg))
            r = (ys - pr) ** 2
        r = np.where(self.w[idx][:, None, :], r, 0.0)
        return r.sum(axis=-1)


def _grad_points(q: Arr) -> Arr:
    """The 2n central-difference points around each row of ``q`` (k, n) -> (k, 2n, n)."""
    n = q.shape[1]
    pts = np.repeat(q[:, None, :], 2 * n, axis=1)
    for i in range(n):
        pts[:, 2 * i, i] = q[:, i] + _NDEPS
        pts[:, 2 * i + 1, i] = q[:, i] - _NDEPS
    return pts


def _grad_from(vals: Arr) -> Arr:
    """Central differences from the values at :func:`_grad_points` (k, 2n) -> (k, n)."""
    return (vals[:, 0::2] - vals[:, 1::2]) / (2.0 * _NDEPS)


def _vmmin_batch(prob: _Problem, q0: Arr, maxit: int = _MAXIT) -> tuple[Arr, Arr, NDArray[np.bool_], NDArray[np.bool_]]:
    """Run R's ``vmmin`` for every row of ``q0`` (scaled start); returns q, fmin, ok, converged."""
    K, n = q0.shape
    q = q0.copy()
    f = np.full(K, np.nan)
    fmin = np.full(K, np.nan)
    g = np.zeros((K, n))
    B = np.zeros((K, n, n))
    x_old = np.zeros((K, n))
    g_old = np.zeros((K, n))
    t = np.zeros((K, n))
    gradproj = np.zeros(K)
    step = np.ones(K)
    count = np.zeros(K, dtype=np.int64)
    gradcount = np.zeros(K, dtype=np.int64)
    it = np.zeros(K, dtype=np.int64)
    ilast = np.zeros(K, dtype=np.int64)
    state = np.full(K, _INIT_F, dtype=np.int8)
    eye = np.eye(n)

    def do_start(ix: NDArray[np.intp]) -> None:
        reset = ix[ilast[ix] == gradcount[ix]]
        B[reset] = eye
        x_old[ix] = q[ix]
        g_old[ix] = g[ix]
        Bi, gi = B[ix], g[ix]
        tt = np.zeros((len(ix), n))
        gp = np.zeros(len(ix))
        for i in range(n):
            s = np.zeros(len(ix))
            for j in range(i + 1):
                s = s - Bi[:, i, j] * gi[:, j]
            for j in range(i + 1, n):
                s = s - Bi[:, j, i] * gi[:, j]
            tt[:, i] = s
            gp = gp + s * gi[:, i]
        t[ix] = tt
        gradproj[ix] = gp
        down = gp < 0.0
        d_ix = ix[down]
        step[d_ix] = 1.0
        state[d_ix] = _LS_TRIAL
        u_ix = ix[~down]
        just = ilast[u_ix] == gradcount[u_ix]
        count[u_ix] = np.where(just, n, 0)
        ilast[u_ix[~just]] = gradcount[u_ix[~just]]
        state[u_ix] = _END

    def do_trial(ix: NDArray[np.intp]) -> None:
        xo = x_old[ix]
        bt = xo + step[ix][:, None] * t[ix]
        q[ix] = bt
        cnt = np.count_nonzero(_RELTEST + xo == _RELTEST + bt, axis=1)
        count[ix] = cnt
        state[ix] = np.where(cnt < n, _LS_EVAL, _LS_DONE)

    def do_ls_done(ix: NDArray[np.intp]) -> None:
        fi, fm = f[ix], fmin[ix]
        with np.errstate(invalid="ignore"):
            enough = np.abs(fi - fm) > _RELTOL * (np.abs(fm) + _RELTOL)
        cnt = np.where(enough, count[ix], n)
        fmin[ix] = np.where(enough, fm, fi)
        count[ix] = cnt
        prog = cnt < n
        p_ix = ix[prog]
        fmin[p_ix] = f[p_ix]
        state[p_ix] = _GRAD
        np_ix = ix[~prog]
        back = np_ix[ilast[np_ix] < gradcount[np_ix]]
        count[back] = 0
        ilast[back] = gradcount[back]
        state[np_ix] = _END

    def do_end(ix: NDArray[np.intp]) -> None:
        stop_it = it[ix] >= maxit
        state[ix[stop_it]] = _DONE
        rest = ix[~stop_it]
        per = rest[gradcount[rest] - ilast[rest] > 2 * n]
        ilast[per] = gradcount[per]
        fin = (count[rest] == n) & (ilast[rest] == gradcount[rest])
        state[rest[fin]] = _DONE
        state[rest[~fin]] = _START

    def after_grad(ix: NDArray[np.intp], gn: Arr) -> None:
        g[ix] = gn
        gradcount[ix] += 1
        it[ix] += 1
        st = step[ix][:, None] * t[ix]
        t[ix] = st
        cc = gn - g_old[ix]
        d1 = np.zeros(len(ix))
        for i in range(n):
            d1 = d1 + st[:, i] * cc[:, i]
        upd = d1 > 0
        u = np.flatnonzero(upd)
        if u.size:
            Bi = B[ix[u]]
            tu, cu, d1u = st[u], cc[u], d1[u]
            X = np.zeros((u.size, n))
            d2 = np.zeros(u.size)
            for i in range(n):
                s = np.zeros(u.size)
                for j in range(i + 1):
                    s = s + Bi[:, i, j] * cu[:, j]
                for j in range(i + 1, n):
                    s = s + Bi[:, j, i] * cu[:, j]
                X[:, i] = s
                d2 = d2 + s * cu[:, i]
            d2 = 1.0 + d2 / d1u
            for i in range(n):
                for j in range(i + 1):
                    Bi[:, i, j] = Bi[:, i, j] + (d2 * tu[:, i] * tu[:, j] - X[:, i] * tu[:, j] - tu[:, i] * X[:, j]) / d1u
            B[ix[u]] = Bi
        nu = ix[~upd]
        ilast[nu] = gradcount[nu]
        state[ix] = _END

    handlers = ((_START, do_start), (_LS_TRIAL, do_trial), (_LS_DONE, do_ls_done), (_END, do_end))
    for _tick in range(100 * maxit):
        # advance every curve to its next evaluation (or to the end)
        for _pass in range(10 * n + 10):
            any_moved = False
            for st_code, fn in handlers:
                ix = np.flatnonzero(state == st_code)
                if ix.size:
                    fn(ix)
                    any_moved = True
            if not any_moved:
                break
        fe = np.flatnonzero((state == _INIT_F) | (state == _LS_EVAL))
        ge = np.flatnonzero((state == _INIT_G) | (state == _GRAD))
        if fe.size == 0 and ge.size == 0:
            break
        if fe.size:
            val = prob.rss(q[fe][:, None, :], fe)[:, 0]
            init = state[fe] == _INIT_F
            ii = fe[init]
            bad = ~np.isfinite(val[init])
            state[ii[bad]] = _FAIL
            good = ii[~bad]
            f[good] = val[init][~bad]
            fmin[good] = f[good]
            state[good] = _INIT_G
            ls = fe[~init]
            fv = val[~init]
            f[ls] = fv
            with np.errstate(invalid="ignore"):
                acc = np.isfinite(fv) & (fv <= fmin[ls] + gradproj[ls] * step[ls] * _ACCTOL)
            step[ls[~acc]] *= _STEPREDN
            state[ls] = np.where(acc, _LS_DONE, _LS_TRIAL)
        if ge.size:
            vals = prob.rss(_grad_points(q[ge]), ge)
            gn = _grad_from(vals)
            ok = np.all(np.isfinite(gn), axis=1)
            state[ge[~ok]] = _FAIL
            ge_ok, gn_ok = ge[ok], gn[ok]
            init = state[ge_ok] == _INIT_G
            ii = ge_ok[init]
            g[ii] = gn_ok[init]
            gradcount[ii] = 1
            it[ii] = 1
            ilast[ii] = 1
            state[ii] = _START
            rest = ~init
            if rest.any():
                after_grad(ge_ok[rest], gn_ok[rest])
    done = state == _DONE
    # optim(hessian = TRUE): gradients around each coordinate shift must be finite
    dix = np.flatnonzero(done)
    if dix.size:
        qd = q[dix]
        pts = []
        for i in range(n):
            for sign in (1.0, -1.0):
                qi = qd.copy()
                qi[:, i] = qi[:, i] + sign * _NDEPS
                pts.append(_grad_points(qi))
        allp = np.concatenate(pts, axis=1)
        vals = prob.rss(allp, dix).reshape(len(dix), 2 * n, 2 * n)
        gr = (vals[:, :, 0::2] - vals[:, :, 1::2]) / (2.0 * _NDEPS)
        hok = np.all(np.isfinite(gr), axis=(1, 2))
        done[dix[~hok]] = False
    return q, fmin, done, it < maxit


def _scaling(v: Arr, w: NDArray[np.bool_]) -> Arr:
    """drc's scaling factor ``10**floor(log10(median))`` per row (1 if median <= 0 or < 1e-15)."""
    med = np.nanmedian(np.where(w, v, np.nan), axis=1)
    out = np.ones(len(med))
    pos = med > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.floor(np.log10(np.where(pos, med, 1.0)))
    s = 10.0 ** k
    # guard the floor against log10 rounding at exact powers of ten
    s = np.where(s * 10.0 <= med, s * 10.0, s)
    s = np.where(s > med, s / 10.0, s)
    out = np.where(pos & (s >= 1e-15), s, 1.0)
    return out


def _drm_batch(x: Arr, y: Arr, w: NDArray[np.bool_], fc: Arr | None, fd: Arr | None,
               model: str) -> dict[str, Arr]:
    """One ``drm`` call per row; returns b, c, d, e, e_log, rss, ok, converged."""
    K = x.shape[0]
    loglog = model == "LL.4"
    if loglog:
        ds, rs = _scaling(x, w), _scaling(y, w)
    else:
        ds, rs = np.ones(K), np.ones(K)
    xs = x / ds[:, None]
    ys = y / rs[:, None]
    big = np.where(w, ys, -np.inf).max(axis=1)
    small = np.where(w, ys, np.inf).min(axis=1)
    yr = big - small
    c0 = small - 1e-3 * yr
    d0 = big + 1e-3 * yr
    with np.errstate(all="ignore"):
        z = np.log((d0[:, None] - ys) / (ys - c0[:, None]))
        lx = np.log(np.where(xs > 0, xs, np.nan)) if loglog else xs
    ok = w & np.isfinite(lx) & np.isfinite(z)
    nk = ok.sum(axis=1)
    lxm = np.where(ok, lx, 0.0)
    zm = np.where(ok, z, 0.0)
    with np.errstate(all="ignore"):
        mx = lxm.sum(axis=1) / nk
        mz = zm.sum(axis=1) / nk
        dx = np.where(ok, lx - mx[:, None], 0.0)
        sxx = (dx * dx).sum(axis=1)
        slope = (dx * np.where(ok, z - mz[:, None], 0.0)).sum(axis=1) / sxx
        intercept = mz - slope * mx
        e0 = np.exp(-intercept / slope) if loglog else -intercept / slope
    estimable = (nk >= 2) & (sxx > 0)
    fcs = None if fc is None else fc / rs
    fds = None if fd is None else fd / rs
    cols = [slope] + ([c0] if fc is None else []) + ([d0] if fd is None else []) + [e0]
    start = np.stack(cols, axis=1)
    good = estimable & np.all(np.isfinite(start), axis=1)
    res = {k: np.full(K, np.nan) for k in ("b", "c", "d", "e", "e_log", "rss")}
    res["ok"] = np.zeros(K, dtype=bool)
    res["converged"] = np.zeros(K, dtype=bool)
    gi = np.flatnonzero(good)
    if gi.size == 0:
        return res
    st = start[gi]
    ps = np.abs(st)
    ps[ps < 1e-4] = 1.0
    prob = _Problem(xs[gi], ys[gi], w[gi], None if fcs is None else fcs[gi],
                    None if fds is None else fds[gi], ps, loglog)
    q, fmin, fit_ok, conv = _vmmin_batch(prob, st / ps)
    p = q * ps
    b, c, d, e = prob.unpack(p, np.arange(gi.size))
    rsg = rs[gi]
    if loglog:
        e_dose = e * ds[gi]
        with np.errstate(all="ignore"):
            e_log = np.where(e_dose > 0, np.log(np.where(e_dose > 0, e_dose, 1.0)), np.nan)
    else:
        e_log = e
        with np.errstate(over="ignore"):
            e_dose = np.where(e < 700, np.exp(np.minimum(e, 700)), np.inf)
    res["b"][gi] = b
    res["c"][gi] = c * rsg
    res["d"][gi] = d * rsg
    res["e"][gi] = e_dose
    res["e_log"][gi] = e_log
    res["rss"][gi] = fmin * rsg * rsg
    res["ok"][gi] = fit_ok
    res["converged"][gi] = conv
    return res


def drc_fit_arrays(x: Arr, y: Arr, w: NDArray[np.bool_] | None = None, fixed_c: Arr | None = None,
                   fixed_d: Arr | None = None) -> dict[str, Arr]:
    """Fit many curves the way SynergyFinder 3.x ``FitDoseResponse`` does (vectorised).

    Parameters
    ----------
    x, y : ndarray, shape (K, m)
        Doses (>= 0, zero allowed) and responses.
    w : ndarray of bool, shape (K, m), optional
        Points present (default: finite ``x`` and ``y``).
    fixed_c, fixed_d : ndarray, shape (K,), optional
        Values at which ``c`` / ``d`` are fixed (NaN: free).

    Returns
    -------
    dict of ndarray
        ``b, c, d, e, e_log, rss`` and ``model`` (0 = LL.4, 1 = L.4 fallback, 2 = failed),
        ``converged`` (bool).
    """
    x = np.asarray(x, dtype=float)
    y = np.array(y, dtype=float)
    K, m = y.shape
    if w is None:
        w = np.isfinite(x) & np.isfinite(y)
    w = np.asarray(w, dtype=bool)
    x = np.where(w, x, 1.0)
    y = np.where(w, y, 0.0)
    fc = np.full(K, np.nan) if fixed_c is None else np.broadcast_to(np.asarray(fixed_c, dtype=float), (K,))
    fd = np.full(K, np.nan) if fixed_d is None else np.broadcast_to(np.asarray(fixed_d, dtype=float), (K,))
    # SynergyFinder: a response vector without variance gets 1e-10 added to its last point
    nw = w.sum(axis=1)
    mean = np.where(w, y, 0.0).sum(axis=1) / np.maximum(nw, 1)
    var0 = (np.where(w, (y - mean[:, None]) ** 2, 0.0).sum(axis=1) == 0) & (nw > 1)
    if var0.any():
        last = m - 1 - np.argmax(w[:, ::-1], axis=1)
        rows = np.flatnonzero(var0)
        y[rows, last[rows]] += 1e-10
    out = {k: np.full(K, np.nan) for k in ("b", "c", "d", "e", "e_log", "rss")}
    model = np.full(K, 2.0)
    conv = np.zeros(K, dtype=bool)
    pending = np.ones(K, dtype=bool)
    xl = np.log(np.where(x == 0, _ZERO_DOSE_LOG, x))
    for mname, code, xx in (("LL.4", 0.0, x), ("L.4", 1.0, xl)):
        for cfree in (True, False):
            for dfree in (True, False):
                sel = pending & (np.isnan(fc) == cfree) & (np.isnan(fd) == dfree)
                ix = np.flatnonzero(sel)
                if ix.size == 0:
                    continue
                r = _drm_batch(xx[ix], y[ix], w[ix], None if cfree else fc[ix],
                               None if dfree else fd[ix], mname)
                okk = r["ok"]
                for k in out:
                    out[k][ix[okk]] = r[k][okk]
                model[ix[okk]] = code
                conv[ix[okk]] = r["converged"][okk]
                pending[ix[okk]] = False
    return {**out, "model": model, "converged": conv}

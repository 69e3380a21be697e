"""Compiled (Numba) kernel of the exact Loewe solve in :func:`sensitize.screen.models.loewe_reference`.

Per combination cell it evaluates ``g(y) = sum_k x_k / ED_k(y) - 1`` on the block's effect
levels, takes the first sign change (or the plateau ends when ``g`` keeps its sign), and
bisects (at most 60 times), exactly the arithmetic of the NumPy formulation it replaces, one
cell at a time instead of whole (blocks x cells x levels) temporaries; it stops once the
bracket no longer moves, since the remaining steps would leave it as it is.

References
----------
Loewe S (1953). The problem of synergism and antagonism of combined drugs.
Arzneimittelforschung 3:285-290.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange


@njit(cache=True, error_model="numpy")
def _terms(y, xs, b, c, d, e, blk, cell):  # type: ignore[no-untyped-def]
    """``sum_k x_k / ED_k(y)`` for one cell (drugs on the first axis of the inputs).

    ``ED_k`` inverts drug k's LL.4 fit; a drug absent from the cell adds 0, one whose
    zero-dose plateau is at or beyond ``y`` adds ``Inf``, one that cannot reach ``y`` adds 0.
    """
    total = 0.0
    for k in range(xs.shape[0]):
        xk = xs[k, blk, cell]
        if not xk > 0:
            continue
        total = _add_term(total, xk, _ed(y, k, b, c, d, e, blk))
    return total


@njit(cache=True, error_model="numpy")
def _add_term(total, xk, ed):  # type: ignore[no-untyped-def]
    """``total`` plus drug k's dose ratio given its :func:`_ed` value."""
    if ed == math.inf:
        return total + math.inf
    if ed > 0:
        return total + xk / ed
    return total


@njit(cache=True, error_model="numpy")
def _ed(y, k, b, c, d, e, blk):  # type: ignore[no-untyped-def]
    """Drug k's equivalent dose at effect ``y``: ``Inf`` at or beyond its zero-dose
    plateau, ``0`` where it cannot reach ``y`` (then it adds nothing), else ``ED_k(y)``."""
    bk = b[k, blk]
    ck = c[k, blk]
    dk = d[k, blk]
    lo = ck if bk < 0 else dk  # effect at zero dose
    hi = dk if bk < 0 else ck  # effect at infinite dose
    below = y <= lo if hi > lo else y >= lo
    if below:
        return math.inf
    r = (dk - y) / (y - ck)
    if r > 0:
        ed = e[k, blk] * r ** (1.0 / bk)
        if math.isfinite(ed) and ed > 0:
            return ed
    return 0.0


@njit(cache=True, error_model="numpy")
def _g(y, xs, b, c, d, e, blk, cell):  # type: ignore[no-untyped-def]
    return _terms(y, xs, b, c, d, e, blk, cell) - 1.0


@njit(cache=True, error_model="numpy")
def _g_tab(tab, j, xs, blk, cell):  # type: ignore[no-untyped-def]
    """:func:`_g` at scan level ``j`` from the block's table of equivalent doses."""
    total = 0.0
    for k in range(xs.shape[0]):
        xk = xs[k, blk, cell]
        if not xk > 0:
            continue
        total = _add_term(total, xk, tab[k, j])
    return total - 1.0


@njit(cache=True, error_model="numpy", parallel=True)
def loewe_ci(y, xs, b, c, d, e):  # type: ignore[no-untyped-def]
    """Combination index ``sum_k x_k / ED_k(y)`` of every cell at effects ``y`` (B, M)."""
    _, nb, m = xs.shape
    out = np.empty((nb, m))
    for blk in prange(nb):
        for cell in range(m):
            out[blk, cell] = _terms(y[blk, cell], xs, b, c, d, e, blk, cell)
    return out


@njit(cache=True, error_model="numpy", parallel=True)
def loewe_exact(xs, b, c, d, e, levels, lo_all, hi_all):  # type: ignore[no-untyped-def]
    """Loewe reference of every cell; NaN where no bracket was found.

    ``xs`` (K, B, M) doses; ``b, c, d, e`` (K, B) fits; ``levels`` (B, G) effect levels
    strictly inside ``[lo_all, hi_all]`` (B,).
    """
    _, nb, m = xs.shape
    ng = levels.shape[1]
    out = np.full((nb, m), np.nan)
    nk = xs.shape[0]
    for blk in prange(nb):
        span = hi_all[blk] - lo_all[blk]
        # equivalent doses at the scan levels do not depend on the cell: once per block
        tab = np.empty((nk, ng))
        for k in range(nk):
            for j in range(ng):
                tab[k, j] = _ed(levels[blk, j], k, b, c, d, e, blk)
        for cell in range(m):
            first_pos = _g_tab(tab, 0, xs, blk, cell) > 0
            prev = first_pos
            found = -1
            last_pos = first_pos
            for j in range(1, ng):
                cur = _g_tab(tab, j, xs, blk, cell) > 0
                if prev and not cur:
                    found = j - 1
                    break
                prev = cur
                last_pos = cur
            # precedence of the NumPy formulation: positive to the last level without a sign
            # change, then non-positive at the first level, then the first sign change
            if found < 0 and last_pos:
                lo = levels[blk, ng - 1]
                hi = hi_all[blk]
            elif not first_pos:
                lo = lo_all[blk]
                hi = levels[blk, 0]
            elif found >= 0:
                lo = levels[blk, found]
                hi = levels[blk, found + 1]
            else:
                continue
            for _ in range(60):
                mid = 0.5 * (lo + hi)
                if _g(mid, xs, b, c, d, e, blk, cell) > 0:
                    if mid == lo:
                        break  # the bracket no longer moves: the remaining steps change nothing
                    lo = mid
                else:
                    if mid == hi:
                        break
                    hi = mid
            if span > 0:
                out[blk, cell] = 0.5 * (lo + hi)
    return out

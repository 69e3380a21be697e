"""Synergy reference models on dense effect grids, vectorised over blocks.

All functions take an effect grid ``Y`` of shape (B, n_1, ..., n_K) on the effect scale
(0 = untreated, larger = stronger effect; SynergyFinder's % inhibition) with the zero dose
at index 0 of every axis, and return reference grids of the same shape.  Cells where a
drug is absent get the observed response as reference (delta 0), as in SynergyFinder 3.

References
----------
Berenbaum MC (1989). What is synergy? Pharmacol Rev 41:93-141 (HSA).
Bliss CI (1939). The toxicity of poisons applied jointly. Ann Appl Biol 26:585-615.
Loewe S (1953). The problem of synergism and antagonism of combined drugs.
Arzneimittelforschung 3:285-290.
Yadav B, Wennerberg K, Aittokallio T, Tang J (2015). Searching for drug synergy in complex
dose-response landscapes using an interaction potency model. Comput Struct Biotechnol J
13:504-513 (ZIP).
Ianevski A, Giri AK, Aittokallio T (2022). SynergyFinder 3.0. Nucleic Acids Res 50:W739-W743.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

from sensitize.screen._loewejit import loewe_ci, loewe_exact
from sensitize.screen.doseresponse import CurveFits, fit_ll4

Fitter = Callable[..., CurveFits]


def row_sum(a: np.ndarray) -> np.ndarray:
    """Sum of each row of a (B, n) array, in the same (sequential) order whatever B is.

    numpy may reorder a reduction along the last axis depending on the number of rows,
    which changes the last bits; per-block results must not depend on how blocks are
    batched (serial, chunked, multi-process and Dask runs give identical numbers).
    """
    return np.cumsum(a, axis=1)[:, -1] if a.shape[1] else np.zeros(a.shape[0])


def _mono_index(k: int, ndim: int) -> tuple[slice | int, ...]:
    idx: list[slice | int] = [0] * ndim
    idx[k] = slice(None)
    return (slice(None), *idx)


def monotherapies(effect: np.ndarray) -> list[np.ndarray]:
    """Single-drug responses (B, n_k) of each drug with the others at dose 0."""
    k = effect.ndim - 1
    return [effect[_mono_index(i, k)] for i in range(k)]


def _expand(v: np.ndarray, k: int, ndrugs: int) -> np.ndarray:
    """Reshape (B, n_k) to broadcast along axis k of a (B, n_1, ..., n_K) grid."""
    shape = [v.shape[0]] + [1] * ndrugs
    shape[k + 1] = v.shape[1]
    return v.reshape(shape)


def combination_mask(shape: tuple[int, ...]) -> np.ndarray:
    """True where every drug is present (all dose indices > 0); shape (n_1, ..., n_K)."""
    grids = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    m = np.ones(shape, dtype=bool)
    for g in grids:
        m &= g > 0
    return m


def _keep_observed(ref: np.ndarray, effect: np.ndarray) -> np.ndarray:
    comb = combination_mask(effect.shape[1:])
    return np.where(comb[None], ref, effect)


def hsa_reference(effect: np.ndarray) -> np.ndarray:
    """Highest single agent: the largest monotherapy effect at the cell's doses."""
    nd = effect.ndim - 1
    ref = None
    for k, m in enumerate(monotherapies(effect)):
        e = _expand(m, k, nd)
        ref = e if ref is None else np.maximum(ref, e)
    assert ref is not None
    return _keep_observed(np.broadcast_to(ref, effect.shape), effect)


def bliss_from_monos(monos: list[np.ndarray], nd: int) -> np.ndarray:
    """Bliss independence ``100 * (1 - prod(1 - y_k / 100))`` from per-drug effects."""
    prod = None
    for k, m in enumerate(monos):
        e = 1.0 - _expand(m, k, nd) / 100.0
        prod = e if prod is None else prod * e
    assert prod is not None
    return 100.0 * (1.0 - prod)


def bliss_reference(effect: np.ndarray) -> np.ndarray:
    """Bliss independence from the observed monotherapy effects."""
    nd = effect.ndim - 1
    ref = bliss_from_monos(monotherapies(effect), nd)
    return _keep_observed(np.broadcast_to(ref, effect.shape), effect)


def fit_monotherapies(effect: np.ndarray, conc: list[np.ndarray], fitter: Fitter = fit_ll4) -> list[CurveFits]:
    """LL.4 fit of each drug's monotherapy series (including the zero-dose cell)."""
    return [fitter(conc[k], m) for k, m in enumerate(monotherapies(effect))]


def correct_baseline(effect: np.ndarray, mono_fits: list[CurveFits], conc: list[np.ndarray], method: str) -> np.ndarray:
    """SynergyFinder's baseline correction.

    The baseline is the smallest fitted monotherapy effect over the tested doses of all
    drugs; ``"part"`` corrects only negative effects, ``"all"`` every cell:
    ``y - (100 - y) / 100 * baseline``.  ``"non"`` returns the grid unchanged.
    """
    if method == "non":
        return effect
    if method not in ("part", "all"):
        raise ValueError("correct_baseline must be 'non', 'part' or 'all'")
    base = None
    for k, f in enumerate(mono_fits):
        pred = f.predict(conc[k]).min(axis=1)
        base = pred if base is None else np.minimum(base, pred)
    assert base is not None
    b = base.reshape((-1,) + (1,) * (effect.ndim - 1))
    adj = effect - (100.0 - effect) / 100.0 * b
    if method == "part":
        return np.where(effect < 0, adj, effect)
    return adj


def zip_surfaces(
    effect: np.ndarray,
    conc: list[np.ndarray],
    mono_fits: list[CurveFits],
    fitter: Fitter = fit_ll4,
) -> tuple[np.ndarray, np.ndarray]:
    """ZIP fitted and reference surfaces (Yadav et al. 2015; SynergyFinder 3 variant).

    The reference is Bliss independence of the *fitted* monotherapy curves.  The fitted
    surface averages, over drugs, an LL.4 fit of each dose-response slice along that
    drug's axis (other drugs held at a non-zero dose) with the zero-dose plateau fixed
    at the slice's observed response at that drug's zero dose and the other plateau free.
    A slice with a single non-zero dose is not fitted (its observed value is used).
    """
    nb = effect.shape[0]
    nd = effect.ndim - 1
    # a failed monotherapy fit contributes its observed responses (as in SynergyFinder)
    obs_monos = monotherapies(effect)
    pred_monos = []
    for k, f in enumerate(mono_fits):
        pm = f.predict(conc[k])
        pred_monos.append(np.where(np.isfinite(pm), pm, obs_monos[k]))
    zref = bliss_from_monos(pred_monos, nd)
    zref = np.broadcast_to(zref, effect.shape)
    acc = np.zeros(effect.shape)
    for k in range(nd):
        # move drug k's axis last: (B, others..., n_k)
        moved = np.moveaxis(effect, k + 1, -1)
        others_shape = moved.shape[1:-1]
        n_k = moved.shape[-1]
        flat = moved.reshape(nb, -1, n_k)  # (B, S, n_k)
        s = flat.shape[1]
        x = np.broadcast_to(conc[k][:, None, :], (nb, s, n_k)).reshape(-1, n_k)
        y = flat.reshape(-1, n_k)
        if n_k >= 3:
            fits = fitter(x, y, fixed_c=y[:, 0])
            pred = fits.predict(x)
            pred = np.where(np.isfinite(pred), pred, y)
        else:
            pred = y.copy()
        pred = pred.reshape(nb, *others_shape, n_k)
        acc += np.moveaxis(pred, -1, k + 1)
    return _keep_observed(acc / nd, effect), _keep_observed(zref, effect)


def _r_pow(base: np.ndarray, expo: np.ndarray) -> np.ndarray:
    """``base ** expo`` with R's ``^`` semantics at the edges (``R_pow`` in R's arithmetic.c).

    IEEE ``pow`` and R differ only for ``-Inf`` raised to a non-integer power (R: NaN, C:
    0 or Inf); SynergyFinder's equivalent-dose formula reaches that case on a plateau.
    """
    with np.errstate(all="ignore"):
        out = np.power(base, expo)
    bad = np.isneginf(base) & np.isfinite(expo) & (np.floor(expo) != expo)
    return np.where(bad, np.nan, out)


def _sf_equivalent_dose(y: np.ndarray, f: CurveFits) -> np.ndarray:
    """SynergyFinder 3's ``.SolveExpDose``: dose of one drug that gives effect ``y``.

    ``y`` has the curves of ``f`` on its first axis.  LL.4 fits use
    ``e * ((y - d) / (c - y)) ^ (1 / b)``, L.4 fits ``exp(log(e) + log((d - y) / (y - c)) / b)``;
    a NaN result (``y`` outside the curve's range) becomes ``Inf`` when ``y`` lies above both
    plateaus and ``0`` otherwise.
    """
    shape = (-1,) + (1,) * (y.ndim - 1)
    b, c, d, e = (np.asarray(v).reshape(shape) for v in (f.b, f.c, f.d, f.e))
    model = np.zeros(b.shape, dtype=np.int64) if f.model is None else np.asarray(f.model).reshape(shape)
    with np.errstate(all="ignore"):
        ll = e * _r_pow((y - d) / (c - y), 1.0 / b)
        l4 = np.exp(np.log(e) + np.log((d - y) / (y - c)) / b)
        res = np.where(model == 1, l4, ll)
    return np.where(np.isnan(res), np.where(y > np.maximum(c, d), np.inf, 0.0), res)


def _loewe_sf_grid(
    effect: np.ndarray, xs: list[np.ndarray], mono_fits: list[CurveFits], n_grid: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SynergyFinder 3's Loewe reference (``Loewe``/``.SolveLoewe``, nsteps = 100).

    For each combination cell, with observed effect ``y`` and doses ``x_k``:

    * if no drug can reach ``y`` (every ``.SolveExpDose`` infinite), the reference is the
      highest single-drug prediction at the total dose ``sum(x_k)``;
    * otherwise ``n_grid`` effect levels ``seq(min_k min(c_k, d_k), max_k max(c_k, d_k))``
      are tried and the first level minimising ``|sum_k x_k / ED_k(level) - 1|`` is kept.

    The combination index is ``sum_k x_k / ED_k(y)``.  All arrays are (B, M).
    """
    nb, m = xs[0].shape
    lo = np.stack([np.minimum(f.c, f.d) for f in mono_fits], 0).min(0)
    hi = np.stack([np.maximum(f.c, f.d) for f in mono_fits], 0).max(0)
    # R's seq(from, to, length.out = n): from + i * ((to - from) / (n - 1)), last = to
    step = (hi - lo) / (n_grid - 1)
    levels = lo[:, None] + np.arange(n_grid)[None, :] * step[:, None]
    levels[:, -1] = hi
    eds = [_sf_equivalent_dose(levels, f) for f in mono_fits]  # (B, G): per level, not per cell
    ref = np.empty((nb, m))
    step_b = max(1, 2**22 // max(1, m * n_grid))  # bounds the (blocks, cells, levels) temporaries
    for s0 in range(0, nb, step_b):
        sl = slice(s0, s0 + step_b)
        total = np.zeros((len(range(nb)[sl]), m, n_grid))
        with np.errstate(all="ignore"):
            for xk, ed in zip(xs, eds, strict=True):
                total += xk[sl, :, None] / ed[sl, None, :]
        dist = np.abs(total - 1.0)
        all_nan = np.isnan(dist).all(axis=2)  # min(dist, na.rm = TRUE) has nothing to choose from
        dist = np.where(np.isnan(dist), np.inf, dist)
        best = dist.argmin(axis=2)  # the first minimum, as which(dist == min(dist))[1]
        ref[sl] = np.where(all_nan, np.nan, np.take_along_axis(levels[sl], best, 1))
    obs = effect.reshape(nb, m)
    with np.errstate(all="ignore"):
        caps = [_sf_equivalent_dose(obs, f) for f in mono_fits]
        ci = np.sum([xk / ck for xk, ck in zip(xs, caps, strict=True)], axis=0)
    fallback = np.all([~np.isfinite(ck) for ck in caps], axis=0)
    tot_dose = np.sum(xs, axis=0)
    fb = np.max(np.stack([f.predict(tot_dose) for f in mono_fits], 0), axis=0)
    ref = np.where(fallback, fb, ref)
    failed = np.any([~np.isfinite(f.b)[:, None] | ~np.isfinite(f.e)[:, None] for f in mono_fits], axis=0)
    ref = np.where(failed & ~fallback, np.nan, ref)
    return ref, ci, fallback


def loewe_reference(
    effect: np.ndarray,
    conc: list[np.ndarray],
    mono_fits: list[CurveFits],
    method: str = "exact",
    n_grid: int = 100,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Loewe additivity reference, combination index and fallback flag.

    The Loewe expected effect ``y`` at doses ``x_k`` solves
    ``sum_k x_k / ED_k(y) = 1`` with ``ED_k`` the inverse of drug k's fitted LL.4 curve.
    A drug that cannot reach ``y`` contributes 0 (infinite equivalent dose).

    ``method="exact"`` brackets the root on a coarse grid of effect levels and refines it
    by bisection to machine precision; when no solution exists the reference falls back to
    the strongest single-drug curve at the total dose.  ``method="grid"`` reproduces
    SynergyFinder 3 (``Loewe``/``.SolveLoewe``): the first of ``n_grid`` equally spaced
    effect levels from the lowest to the highest plateau of the drugs that minimises
    ``|sum_k x_k / ED_k(y) - 1|`` (resolution ``(max - min) / (n_grid - 1)``), and the
    single-drug fallback only where the observed effect is beyond every drug's reach.
    Fallback cells are flagged.

    Returns
    -------
    ref, ci, fallback
        Reference grid, combination index at the observed effect
        (``sum_k x_k / ED_k(observed)``), and a boolean grid of fallback cells.
    """
    nb = effect.shape[0]
    nd = effect.ndim - 1
    shape = effect.shape[1:]
    grids = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    m = int(np.prod(shape))
    xs = [conc[k][:, grids[k].ravel()] for k in range(nd)]  # (B, M)
    comb = combination_mask(shape)[None]
    if method == "grid":
        ref, ci, fallback = _loewe_sf_grid(effect, xs, mono_fits, n_grid)
        ref = np.where(comb, ref.reshape(effect.shape), effect)
        ci = np.where(comb, ci.reshape(effect.shape), np.nan)
        return ref, ci, fallback.reshape(effect.shape) & comb
    lo_all = np.stack([np.minimum(f.c, f.d) for f in mono_fits], 0).min(0)
    hi_all = np.stack([np.maximum(f.c, f.d) for f in mono_fits], 0).max(0)
    span = hi_all - lo_all
    ng = 64
    levels = lo_all[:, None] + span[:, None] * np.linspace(0, 1, ng + 2)[None, 1:-1]  # (B, ng)
    stack = lambda name: np.ascontiguousarray(np.stack([getattr(f, name) for f in mono_fits], 0), dtype=float)  # noqa: E731
    xk = np.ascontiguousarray(np.stack(xs, 0), dtype=float)
    pars = (stack("b"), stack("c"), stack("d"), stack("e"))
    ref = loewe_exact(xk, *pars, np.ascontiguousarray(levels), lo_all.astype(float), hi_all.astype(float))
    # fallback: strongest single-drug curve at the total dose
    total = np.sum(xs, axis=0)
    fb = np.max(np.stack([f.predict(total) for f in mono_fits], 0), axis=0)
    fallback = ~np.isfinite(ref)
    ref = np.where(fallback, fb, ref)
    # combination index at the observed effect
    obs = effect.reshape(nb, m)
    ci = loewe_ci(np.ascontiguousarray(obs, dtype=float), xk, *pars)
    ref = np.where(comb, ref.reshape(effect.shape), effect)
    ci = np.where(comb, ci.reshape(effect.shape), np.nan)
    fallback = fallback.reshape(effect.shape) & comb
    return ref, ci, fallback


def most_synergistic_area(delta: np.ndarray, window: int = 3) -> np.ndarray:
    """Highest mean delta over a ``window`` x ``window`` square of combination cells.

    For two-drug grids (B, n1, n2); the window slides over the cells where both drugs
    are present (as in SynergyFinder 2 / DrugComb).  Grids smaller than the window use
    the whole combination area.  NaN for grids with more than two drugs.
    """
    if delta.ndim != 3:
        return np.full(delta.shape[0], np.nan)
    comb = delta[:, 1:, 1:]
    n1, n2 = comb.shape[1:]
    w1, w2 = min(window, n1), min(window, n2)
    best = np.full(delta.shape[0], -np.inf)
    for i, j in itertools.product(range(n1 - w1 + 1), range(n2 - w2 + 1)):
        cells = comb[:, i : i + w1, j : j + w2].reshape(comb.shape[0], -1)
        best = np.maximum(best, row_sum(cells) / cells.shape[1])
    return best

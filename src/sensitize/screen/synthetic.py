"""Seeded synthetic two-drug screens drawn from the MuSyC model, for tests and benchmarks.

Each block is a full ``grid x grid`` dose-response matrix (including the zero-dose row and
column) of one drug pair in one cell line, reported as % viability.  The true surface is
the two-dimensional Hill equation of MuSyC (Meyer et al. 2019) with cooperativity
``gamma = 1``: a four-state Markov model (unaffected ``U``, affected by drug 1 only
``A1``, by drug 2 only ``A2``, by both ``A12``) whose transition rates are

* ``U -> A1`` and ``A2 -> A12``: ``(d1 / C1)^h1`` and ``(alpha12 d1 / C1)^h1``;
* ``U -> A2`` and ``A1 -> A12``: ``(d2 / C2)^h2`` and ``(alpha21 d2 / C2)^h2``;
* every reverse transition: rate 1;

and ``E = E0 p_U + E1 p_A1 + E2 p_A2 + E3 p_A12`` with ``p`` the steady state.  The
steady state is computed in closed form with the Markov-chain tree theorem (each state's
weight is the sum, over the four spanning trees of the 4-cycle, of the product of the
rates directed towards it), so ``alpha12`` and ``alpha21`` are drawn independently and
detailed balance is not imposed.  ``alpha12 > 1`` means drug 2 raises the potency of
drug 1 (synergistic potency) and ``E3 < min(E1, E2)`` synergistic efficacy.

Per-block parameters: ``E0 = 100``; ``E1, E2 ~ U(0, 90)``; ``E3 = min(E1, E2) -
U(-15, 25)`` clipped to ``[0, 100]``; ``h1, h2 ~ logN(0, 0.35)``; top concentrations
``~ logU(1, 30)`` uM with dilution factor 4 (``grid - 1`` non-zero levels plus 0);
``C1, C2`` log-uniform between the second-lowest non-zero dose and the top dose;
``log10 alpha12, log10 alpha21 ~ U(-1, 1)``.  Observed response = true viability plus
Gaussian noise of standard deviation ``noise`` (percentage points), independently per
replicate.

Generation is vectorised over blocks in fixed internal batches of
:data:`BATCH_BLOCKS` blocks; batch ``j`` uses ``numpy.random.default_rng([seed, j])``, so
the data of a block depend only on ``seed`` and the block number, whatever the number of
blocks requested or the chunk size used to write a file.

References
----------
Meyer CT, Wooten DJ, Paudel BB, et al. (2019). Quantifying drug combination synergy along
potency and efficacy axes. Cell Systems 8:97-108.e16.
Wooten DJ, Meyer CT, Lubbock ALR, Quaranta V, Lopez CF (2021). MuSyC is a consensus
framework that unifies multi-drug synergy metrics for combinatorial drug discovery.
Nat Commun 12:4607.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

#: blocks generated per internal random batch (fixes the mapping block -> random stream)
BATCH_BLOCKS = 4096

#: column order of the generated canonical table
COLUMNS = (
    "block_id",
    "drug1",
    "drug2",
    "conc1",
    "conc2",
    "conc_unit1",
    "conc_unit2",
    "response",
    "response_kind",
    "readout",
    "cell_line",
    "replicate",
)

_PARAM_NAMES = ("E0", "E1", "E2", "E3", "h1", "h2", "C1", "C2", "alpha12", "alpha21", "top1", "top2")
_N_DRUGS = 200
_N_CELL_LINES = 20


def musyc_surface(
    d1: np.ndarray,
    d2: np.ndarray,
    E0: np.ndarray | float,
    E1: np.ndarray | float,
    E2: np.ndarray | float,
    E3: np.ndarray | float,
    h1: np.ndarray | float,
    h2: np.ndarray | float,
    C1: np.ndarray | float,
    C2: np.ndarray | float,
    alpha12: np.ndarray | float,
    alpha21: np.ndarray | float,
) -> np.ndarray:
    """MuSyC two-drug effect surface with ``gamma12 = gamma21 = 1`` (broadcasting).

    Parameters
    ----------
    d1, d2
        Concentrations (>= 0), same unit as ``C1``/``C2``.
    E0, E1, E2, E3
        Effect with no drug, drug 1 alone at saturation, drug 2 alone at saturation and
        both at saturation.
    h1, h2, C1, C2
        Hill slopes and EC50s of the single drugs.
    alpha12, alpha21
        Synergistic potency: the EC50 of drug 1 is divided by ``alpha12`` when drug 2 is
        saturating, that of drug 2 by ``alpha21`` when drug 1 is saturating.

    Returns
    -------
    numpy.ndarray
        The effect ``E(d1, d2)``.

    Notes
    -----
    Steady state of the four-state model of Meyer et al. (2019) by the Markov-chain
    tree theorem; without detailed balance (``alpha21^h2 != alpha12^h1``) this is the
    general ``gamma = 1`` solution.  With ``d2 = 0`` it reduces to the Hill equation
    ``E0 + (E1 - E0) d1^h1 / (C1^h1 + d1^h1)``.
    """
    x1 = np.power(np.asarray(d1, dtype=float) / C1, h1)
    x2 = np.power(np.asarray(d2, dtype=float) / C2, h2)
    y1 = np.power(np.asarray(alpha12, dtype=float) * np.asarray(d1, dtype=float) / C1, h1)
    y2 = np.power(np.asarray(alpha21, dtype=float) * np.asarray(d2, dtype=float) / C2, h2)
    # cycle U - A1 - A12 - A2 - U with forward rates U->A1 = x1, A1->A12 = y2,
    # A2->A12 = y1, U->A2 = x2 and every reverse rate 1.  Weight of a state = sum over
    # the four spanning trees (the cycle less one edge) of the product of the rates on
    # the tree's edges oriented towards that state.
    w_u = 2.0 + y1 + y2
    w_a1 = x1 * (2.0 + y1) + x2 * y1
    w_a2 = x2 * (2.0 + y2) + x1 * y2
    w_a12 = x1 * y2 + x2 * y1 + y1 * y2 * (x1 + x2)
    total = w_u + w_a1 + w_a2 + w_a12
    out: np.ndarray = (E0 * w_u + E1 * w_a1 + E2 * w_a2 + E3 * w_a12) / total
    return out


def _batch_params(seed: int, batch: int, n: int, grid: int) -> dict[str, np.ndarray]:
    """Draw the parameters of ``n`` blocks of internal batch ``batch``."""
    rng = np.random.default_rng([int(seed), int(batch)])
    e1 = rng.uniform(0.0, 90.0, n)
    e2 = rng.uniform(0.0, 90.0, n)
    e3 = np.clip(np.minimum(e1, e2) - rng.uniform(-15.0, 25.0, n), 0.0, 100.0)
    h1 = rng.lognormal(0.0, 0.35, n)
    h2 = rng.lognormal(0.0, 0.35, n)
    top1 = np.exp(rng.uniform(np.log(1.0), np.log(30.0), n))
    top2 = np.exp(rng.uniform(np.log(1.0), np.log(30.0), n))
    # EC50 between the second-lowest non-zero dose and the top dose
    span = np.log(4.0) * max(grid - 3, 0)
    c1 = top1 * np.exp(-rng.uniform(0.0, 1.0, n) * span)
    c2 = top2 * np.exp(-rng.uniform(0.0, 1.0, n) * span)
    a12 = 10.0 ** rng.uniform(-1.0, 1.0, n)
    a21 = 10.0 ** rng.uniform(-1.0, 1.0, n)
    drugs = rng.integers(0, _N_DRUGS, size=(n, 2))
    same = drugs[:, 0] == drugs[:, 1]
    drugs[same, 1] = (drugs[same, 1] + 1) % _N_DRUGS
    cl = rng.integers(0, _N_CELL_LINES, n)
    return {
        "E0": np.full(n, 100.0), "E1": e1, "E2": e2, "E3": e3, "h1": h1, "h2": h2,
        "C1": c1, "C2": c2, "alpha12": a12, "alpha21": a21, "top1": top1, "top2": top2,
        "drug_a": drugs[:, 0], "drug_b": drugs[:, 1], "cell_line": cl,
    }


def _check(n_blocks: int, grid: int, replicates: int, noise: float) -> None:
    if int(n_blocks) != n_blocks or n_blocks < 0:
        raise ValueError(f"n_blocks must be a non-negative integer, got {n_blocks!r}")
    if int(grid) != grid or grid < 3:
        raise ValueError(f"grid must be an integer >= 3, got {grid!r}")
    if int(replicates) != replicates or replicates < 1:
        raise ValueError(f"replicates must be an integer >= 1, got {replicates!r}")
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be finite and >= 0, got {noise!r}")


def _batch_frame(seed: int, batch: int, start: int, n: int, grid: int, replicates: int, noise: float) -> pd.DataFrame:
    """Canonical table of blocks ``start .. start + n - 1`` (all in internal batch ``batch``)."""
    p = _batch_params(seed, batch, BATCH_BLOCKS, grid)
    off = start - batch * BATCH_BLOCKS
    sel = slice(off, off + n)
    levels = 4.0 ** -np.arange(grid - 2, -1, -1, dtype=float)  # ascending, top = 1
    rel = np.concatenate([[0.0], levels])  # grid levels including 0
    d1 = p["top1"][sel, None, None] * rel[None, :, None]  # (n, grid, 1)
    d2 = p["top2"][sel, None, None] * rel[None, None, :]  # (n, 1, grid)

    def col(name: str) -> np.ndarray:
        return p[name][sel, None, None]

    truth = musyc_surface(
        d1, d2, col("E0"), col("E1"), col("E2"), col("E3"), col("h1"), col("h2"),
        col("C1"), col("C2"), col("alpha12"), col("alpha21"),
    )  # (n, grid, grid)
    # noise: one stream per batch, drawn for the whole batch so any slice is reproducible
    nrng = np.random.default_rng([int(seed), int(batch), 1])
    eps = nrng.standard_normal((BATCH_BLOCKS, grid, grid, replicates))[sel]
    resp = truth[..., None] + noise * eps  # (n, grid, grid, replicates)
    cells = grid * grid * replicates
    bidx = np.repeat(np.arange(start, start + n), cells)
    i1 = np.tile(np.repeat(np.arange(grid), grid * replicates), n)
    i2 = np.tile(np.repeat(np.arange(grid), replicates), n * grid)
    rep = np.tile(np.arange(1, replicates + 1), n * grid * grid)
    local = bidx - start
    names = np.asarray([f"D{k:03d}" for k in range(_N_DRUGS)], dtype=object)
    lines = np.asarray([f"CL{k:02d}" for k in range(_N_CELL_LINES)], dtype=object)
    n_rows = len(bidx)
    df = pd.DataFrame(
        {
            "block_id": bidx + 1,
            "drug1": names[p["drug_a"][sel]][local],
            "drug2": names[p["drug_b"][sel]][local],
            "conc1": (p["top1"][sel][local] * rel[i1]),
            "conc2": (p["top2"][sel][local] * rel[i2]),
            "conc_unit1": np.full(n_rows, "uM", dtype=object),
            "conc_unit2": np.full(n_rows, "uM", dtype=object),
            "response": resp.reshape(-1),
            "response_kind": np.full(n_rows, "viability", dtype=object),
            "readout": np.full(n_rows, "viability", dtype=object),
            "cell_line": lines[p["cell_line"][sel]][local],
            "replicate": rep,
        },
        columns=list(COLUMNS),
    )
    return df


def _iter_frames(
    n_blocks: int, grid: int, replicates: int, noise: float, seed: int, chunk_blocks: int
) -> Iterator[pd.DataFrame]:
    """Yield the canonical table in pieces of at most ``chunk_blocks`` whole blocks."""
    start = 0
    while start < n_blocks:
        batch = start // BATCH_BLOCKS
        end = min(n_blocks, (batch + 1) * BATCH_BLOCKS, start + chunk_blocks)
        yield _batch_frame(seed, batch, start, end - start, grid, replicates, noise)
        start = end


def synthetic_screen(
    n_blocks: int,
    grid: int = 6,
    replicates: int = 1,
    noise: float = 3.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Seeded synthetic screen of full-matrix two-drug blocks from the MuSyC model.

    Parameters
    ----------
    n_blocks
        Number of blocks (``block_id`` 1 .. ``n_blocks``).
    grid
        Dose levels per drug including 0 (dilution factor 4); each block has
        ``grid * grid * replicates`` rows.
    replicates
        Replicate wells per dose cell (``replicate`` 1 .. ``replicates``).
    noise
        Standard deviation of the Gaussian noise added to the true % viability.
    seed
        Seed; block ``b`` is identical for every ``n_blocks >= b``.

    Returns
    -------
    pandas.DataFrame
        Canonical tidy table (:mod:`sensitize.screen.schema`) with columns
        :data:`COLUMNS`, ``response_kind = "viability"`` and concentrations in uM.

    References
    ----------
    Meyer CT et al. (2019). Quantifying drug combination synergy along potency and
    efficacy axes. Cell Systems 8:97-108.
    """
    _check(n_blocks, grid, replicates, noise)
    frames = list(_iter_frames(int(n_blocks), int(grid), int(replicates), float(noise), seed, BATCH_BLOCKS))
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=float if c in ("conc1", "conc2", "response") else object) for c in COLUMNS})
    return pd.concat(frames, ignore_index=True)


def synthetic_params(n_blocks: int, grid: int = 6, seed: int = 0) -> pd.DataFrame:
    """True MuSyC parameters of the blocks generated by :func:`synthetic_screen`.

    Returns
    -------
    pandas.DataFrame
        One row per block: ``block_id``, ``E0, E1, E2, E3, h1, h2, C1, C2, alpha12,
        alpha21`` (C in uM) and the top concentrations ``top1, top2``.
    """
    _check(n_blocks, grid, 1, 0.0)
    out = []
    for batch in range((int(n_blocks) + BATCH_BLOCKS - 1) // BATCH_BLOCKS):
        p = _batch_params(seed, batch, BATCH_BLOCKS, int(grid))
        n = min(BATCH_BLOCKS, int(n_blocks) - batch * BATCH_BLOCKS)
        d = {"block_id": np.arange(batch * BATCH_BLOCKS, batch * BATCH_BLOCKS + n) + 1}
        d |= {k: p[k][:n] for k in _PARAM_NAMES}
        out.append(pd.DataFrame(d))
    if not out:
        return pd.DataFrame(columns=["block_id", *_PARAM_NAMES])
    return pd.concat(out, ignore_index=True)


def write_synthetic_csv(
    path: str | os.PathLike[str],
    n_blocks: int,
    grid: int = 6,
    replicates: int = 1,
    noise: float = 3.0,
    seed: int = 0,
    chunk_blocks: int = BATCH_BLOCKS,
) -> Path:
    """Write :func:`synthetic_screen` to a CSV file in chunks (bounded memory).

    The file is written to a temporary name in the same folder and renamed when
    complete, so a partial file never has the final name.  Its content equals
    ``synthetic_screen(n_blocks, grid, replicates, noise, seed).to_csv(index=False)``
    whatever ``chunk_blocks`` is.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    _check(n_blocks, grid, replicates, noise)
    if chunk_blocks < 1:
        raise ValueError("chunk_blocks must be >= 1")
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            header = True
            for frame in _iter_frames(int(n_blocks), int(grid), int(replicates), float(noise), seed, int(chunk_blocks)):
                frame.to_csv(fh, index=False, header=header)
                header = False
            if header:
                pd.DataFrame(columns=list(COLUMNS)).to_csv(fh, index=False)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path

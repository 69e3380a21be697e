"""Cost of the drc-emulation fit kernel per curve, on the fits a real scoring run makes.

Scores a seeded synthetic 6x6 screen, capturing every batch of curves the engine hands to
the kernel (monotherapies, ZIP slices, RI, CSS), then refits all of them serially in one
thread and reports microseconds per fit, by call site and overall, the share of fits that run
to drc's 500 iterations, and how much of the time the slowest fits take.

    python benchmarks/bench_drc_kernel.py [--blocks 2000] [--seed 1]
"""

from __future__ import annotations

import argparse
import time
import traceback
from collections import defaultdict
from typing import Any

import numpy as np

import sensitize.screen.doseresponse as dr
from sensitize.screen._drc import fit_drc_batch
from sensitize.screen._drcjit import fit_many
from sensitize.screen.engine import score_screen
from sensitize.screen.synthetic import synthetic_screen


def capture(n_blocks: int, seed: int) -> list[tuple[str, tuple[np.ndarray, ...]]]:
    """Every (call site, kernel arguments) of scoring ``n_blocks`` synthetic blocks."""
    calls: list[tuple[str, tuple[np.ndarray, ...]]] = []

    def spy(X: Any, Y: Any, mask: Any = None, fixed_c: Any = None, fixed_d: Any = None) -> Any:
        site = next((f.name for f in reversed(traceback.extract_stack(limit=6)[:-2])
                     if f.name not in ("fit_ll4_drc", "<listcomp>")), "?")
        y = np.atleast_2d(np.asarray(Y, dtype=float))
        x = np.broadcast_to(np.atleast_2d(np.asarray(X, dtype=float)), y.shape)
        m = np.isfinite(x) & np.isfinite(y) if mask is None else np.asarray(mask, dtype=bool)
        n = y.shape[0]
        fc = np.full(n, np.nan) if fixed_c is None else np.broadcast_to(np.asarray(fixed_c, dtype=float), (n,))
        fd = np.full(n, np.nan) if fixed_d is None else np.broadcast_to(np.asarray(fixed_d, dtype=float), (n,))
        calls.append((site, tuple(np.ascontiguousarray(a) for a in
                                  (np.where(m, x, 1.0), np.where(m, y, 0.0), m, fc, fd))))
        return fit_drc_batch(X, Y, mask, fixed_c, fixed_d)

    orig = dr.fit_drc_batch
    dr.fit_drc_batch = spy  # type: ignore[assignment]
    try:
        score_screen(synthetic_screen(n_blocks, grid=6, seed=seed), n_boot=0)
    finally:
        dr.fit_drc_batch = orig  # type: ignore[assignment]
    return calls


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--blocks", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args(argv)
    calls = capture(a.blocks, a.seed)
    fit_many(*calls[0][1])  # compile / load the cache
    by_site: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    best = np.inf
    for _ in range(a.repeats):
        tot = 0.0
        for _site, args in calls:
            t0 = time.perf_counter()
            fit_many(*args)
            dt = time.perf_counter() - t0
            tot += dt
        best = min(best, tot)
    for site, args in calls:
        t0 = time.perf_counter()
        fit_many(*args)
        by_site[site][0] += args[1].shape[0]
        by_site[site][1] += time.perf_counter() - t0
    n = sum(v[0] for v in by_site.values())
    print(f"{a.blocks} synthetic 6x6 blocks: {n} fits ({n / a.blocks:.0f} per block), one thread")
    print(f"{'call site':<24}{'fits':>9}{'us/fit':>10}")
    for site, (k, dt) in sorted(by_site.items(), key=lambda kv: -kv[1][1]):
        print(f"{site:<24}{int(k):>9}{1e6 * dt / k:>10.1f}")
    print(f"{'all (best of ' + str(a.repeats) + ')':<24}{n:>9}{1e6 * best / n:>10.1f}")
    # per-fit times on a sample: how much of the time the slowest fits take
    rows = [(args, r) for _, args in calls for r in range(0, args[1].shape[0], 7)]
    ts = np.empty(len(rows))
    conv = np.empty(len(rows))
    for k, (args, r) in enumerate(rows):
        one = tuple(x[r:r + 1] for x in args)
        t0 = time.perf_counter()
        res = fit_many(*one)
        ts[k] = time.perf_counter() - t0
        conv[k] = res[0, 6]
    srt = np.sort(ts)[::-1]
    share = np.cumsum(srt) / srt.sum()
    print(f"sample of {len(ts)} fits: median {1e6 * np.median(ts):.1f} us; "
          f"{100 * np.mean(conv == 0):.1f} % stop at drc's 500 iterations; "
          f"the slowest 10 % take {100 * share[len(ts) // 10]:.0f} % of the time")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

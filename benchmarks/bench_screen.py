"""Throughput benchmark of the sensitize screen engine on synthetic MuSyC screens.

Run ``python benchmarks/bench_screen.py --quick`` (about 3-5 minutes on 2 cores) or
``python benchmarks/bench_screen.py --sizes 1000,10000,100000 --big 750000``.

Measures: blocks/s of ``score_screen`` with the default models (ZIP, HSA, Bliss, Loewe
plus IC50/RI/CSS/S) on 6x6 and 8x8 blocks, without and with 3 replicates (n_boot 100
and 0); peak RSS; a scaling series; the ``synergy`` Python package (GPL, a benchmark peer
only, never imported by sensitize) fitting ZIP on a sample of the same blocks; R
SynergyFinder when installed; optionally streaming ``score_file`` on a big CSV.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from sensitize.screen.engine import score_screen
from sensitize.screen.synthetic import synthetic_screen, write_synthetic_csv


class PeakRSS:
    """Sample the RSS of this process and its children every 50 ms; peak in MiB."""

    def __init__(self, children: bool = False) -> None:
        self.children = children
        self.peak = 0
        self._stop = threading.Event()
        self._proc = psutil.Process()

    def _rss(self) -> int:
        total = self._proc.memory_info().rss
        if self.children:
            for c in self._proc.children(recursive=True):
                try:
                    total += c.memory_info().rss
                except psutil.Error:
                    pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            self._stop.wait(0.05)

    def __enter__(self) -> PeakRSS:
        self.peak = self._rss()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self._rss())

    @property
    def mib(self) -> float:
        return self.peak / 2**20


def timed(fn: Callable[[], Any], children: bool = False) -> tuple[float, float, Any]:
    with PeakRSS(children) as mem:
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
    return dt, mem.mib, out


def row(*cols: object, widths: tuple[int, ...] = (34, 9, 10, 11, 14, 10)) -> str:
    return "".join(f"{c!s:<{w}}" if i == 0 else f"{c!s:>{w}}" for i, (c, w) in enumerate(zip(cols, widths, strict=False)))


def throughput(n: int, n_rep: int, seed: int) -> list[tuple[str, int, float, float, int]]:
    configs = [
        ("6x6, 1 rep, n_boot=0", 6, 1, 0, n),
        ("8x8, 1 rep, n_boot=0", 8, 1, 0, n),
        ("6x6, 3 reps, n_boot=100", 6, 3, 100, n_rep),
        ("6x6, 3 reps, n_boot=0", 6, 3, 0, n),
        ("8x8, 3 reps, n_boot=100", 8, 3, 100, n_rep),
        ("8x8, 3 reps, n_boot=0", 8, 3, 0, n),
    ]
    out = []
    print("\n== Throughput: score_screen, default models (ZIP, HSA, Bliss, Loewe, IC50/RI/CSS/S) ==")
    print(row("configuration", "blocks", "seconds", "blocks/s", "peak RSS MiB", "rejected"))
    for name, grid, reps, n_boot, nb in configs:
        df = synthetic_screen(nb, grid=grid, replicates=reps, seed=seed)
        dt, mib, res = timed(lambda df=df, n_boot=n_boot: score_screen(df, n_boot=n_boot, seed=1))
        print(row(name, nb, f"{dt:.2f}", f"{nb / dt:.1f}", f"{mib:.0f}", len(res.rejected)), flush=True)
        out.append((name, nb, dt, mib, len(res.rejected)))
    return out


def scaling(sizes: list[int], seed: int) -> dict[int, float]:
    print("\n== Scaling: 6x6, 1 replicate, n_boot=0 (generation excluded) ==")
    print(row("blocks", "", "seconds", "ms/block", "peak RSS MiB"))
    res = {}
    for n in sizes:
        df = synthetic_screen(n, grid=6, seed=seed)
        dt, mib, _ = timed(lambda df=df: score_screen(df, n_boot=0))
        del df
        res[n] = dt
        print(row(n, "", f"{dt:.2f}", f"{1000 * dt / n:.2f}", f"{mib:.0f}"), flush=True)
    return res


def peer_synergy(n_sample: int, seed: int, ours_s_per_block: float) -> None:
    print(f"\n== Peer: Python `synergy` package, ZIP fit per block ({n_sample} 6x6 blocks, 1 rep) ==")
    try:
        import synergy  # noqa: F401  (benchmark peer only, GPL; never imported by sensitize)
        from synergy.combination import ZIP
    except ImportError:
        print("skipped (pip package `synergy` not installed)")
        return
    df = synthetic_screen(n_sample, grid=6, seed=seed)
    ok = 0
    failed = 0
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _, b in df.groupby("block_id", sort=False):
            try:
                # use_jacobian=False: with synergy 1.0.0 + current SciPy the Jacobian path
                # raises "array must not contain infs or NaNs" at zero doses
                ZIP(use_jacobian=False).fit(b["conc1"].to_numpy(), b["conc2"].to_numpy(), b["response"].to_numpy() / 100.0)
                ok += 1
            except Exception:
                failed += 1
    theirs = (time.perf_counter() - t0) / n_sample
    dt_ours, _, _ = timed(lambda: score_screen(df, n_boot=0, models=("ZIP",)))
    ours_zip = dt_ours / n_sample
    print(f"synergy ZIP: {1000 * theirs:.1f} ms/block ({ok} fitted, {failed} raised)")
    print(f"ours, ZIP only, same {n_sample} blocks: {1000 * ours_zip:.1f} ms/block "
          f"(ours/theirs time ratio {ours_zip / theirs:.3f}; speed-up x{theirs / ours_zip:.1f})")
    print(f"ours, all models, large-batch rate: {1000 * ours_s_per_block:.2f} ms/block "
          f"(ours/theirs time ratio {ours_s_per_block / theirs:.4f}; speed-up x{theirs / ours_s_per_block:.0f})")


# SynergyFinder 3.14's own run time on the reference data sets, as recorded with those
# outputs ($SENSITIZE_DATA/screen/synergyfinder_reference/README.md, 2-core machine):
# seconds per block for ReshapeData + CalculateSynergy + CalculateSensitivity.
SF_RECORDED_S_PER_BLOCK = {"mathews466": 1.1, "decrease192": 2.18}


def peer_synergyfinder_recorded() -> None:
    """Our time on the very blocks SynergyFinder's reference outputs were computed from."""
    from sensitize.io.screen import read_screen

    print("\n== Peer: SynergyFinder 3.14, recorded run time on the same real blocks ==")
    ref = Path(os.environ.get("SENSITIZE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    ref = ref / "screen" / "synergyfinder_reference"
    if not ref.is_dir():
        print(f"skipped ({ref} not found; set SENSITIZE_DATA)")
        return
    for name, sf_s in SF_RECORDED_S_PER_BLOCK.items():
        df = read_screen(ref / f"{name}_input.csv", response_kind="viability")
        for method in ("exact", "grid"):
            dt, _, res = timed(lambda df=df, method=method: score_screen(df, n_boot=0, loewe_method=method))
            nb = len(res.table)
            print(f"{name} ({nb} blocks), loewe={method}: ours {1000 * dt / nb:.2f} ms/block; "
                  f"SynergyFinder {sf_s:.2f} s/block recorded -> speed-up x{sf_s * nb / dt:.0f}")


def peer_synergyfinder() -> None:
    print("\n== Peer: R SynergyFinder ==")
    rscript = shutil.which("Rscript")
    if rscript is None:
        print("skipped (R synergyfinder not installed)")
        return
    ok = subprocess.run([rscript, "-e", "library(synergyfinder)"], capture_output=True).returncode == 0
    if not ok:
        print("skipped (R synergyfinder not installed)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        n = 20
        df = synthetic_screen(n, grid=6, seed=3)
        sf = df.rename(columns={"block_id": "PairIndex", "conc1": "Conc1", "conc2": "Conc2", "response": "Response", "conc_unit1": "ConcUnit"})
        sf["Drug1"], sf["Drug2"] = df["drug1"], df["drug2"]
        sf[["PairIndex", "Drug1", "Drug2", "Conc1", "Conc2", "Response", "ConcUnit"]].to_csv(Path(tmp) / "in.csv", index=False)
        script = (
            "suppressMessages(library(synergyfinder)); d <- read.csv(commandArgs(TRUE)[1]);"
            "t0 <- Sys.time(); r <- ReshapeData(d, data_type='viability', impute=FALSE, noise=FALSE);"
            "r <- CalculateSynergy(r, method=c('ZIP','HSA','Bliss','Loewe')); r <- CalculateSensitivity(r);"
            "cat(as.numeric(difftime(Sys.time(), t0, units='secs')))"
        )
        p = subprocess.run([rscript, "-e", script, str(Path(tmp) / "in.csv")], capture_output=True, text=True)
        if p.returncode != 0:
            print(f"failed: {p.stderr.strip()[-300:]}")
            return
        secs = float(p.stdout.strip().split()[-1])
        print(f"SynergyFinder: {1000 * secs / n:.1f} ms/block on {n} blocks")


def big(n: int, seed: int, workers: int, chunk_blocks: int, csv: bool = True) -> None:
    from sensitize.screen.scale import score_file

    out = "CSV + Parquet" if csv else "Parquet only"
    print(f"\n== Streaming score_file: {n} blocks, 6x6, 1 rep, n_boot=0, backend=processes x{workers}, {out} ==")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.csv"
        dt, mib, _ = timed(lambda: write_synthetic_csv(path, n, grid=6, seed=seed))
        print(f"write CSV: {dt:.1f} s, {path.stat().st_size / 2**20:.0f} MiB, peak RSS {mib:.0f} MiB")
        dt, mib, _ = timed(
            lambda: score_file(path, Path(tmp) / "out", response_kind="viability", backend="processes",
                               workers=workers, chunk_blocks=chunk_blocks, progress=False, n_boot=0, csv=csv),
            children=True,
        )
        print(f"score_file: {dt:.1f} s ({n / dt:.0f} blocks/s), peak RSS incl. children {mib:.0f} MiB")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes (scaling 200,1000,5000)")
    ap.add_argument("--sizes", default=None, help="scaling series, e.g. 1000,10000,100000")
    ap.add_argument("--big", type=int, default=0, help="stream a synthetic CSV of N blocks through score_file")
    ap.add_argument("--only-big", action="store_true", help="run only the --big streaming measurement")
    ap.add_argument("--no-csv", action="store_true", help="--big writes Parquet only (score_file(csv=False))")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunk-blocks", type=int, default=2000)
    ap.add_argument("--peer-blocks", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    sizes = [int(s) for s in a.sizes.split(",")] if a.sizes else ([200, 1000, 5000] if a.quick else [1000, 10000, 100000])
    n_tp, n_rep = (500, 20) if a.quick else (5000, 200)
    print(f"sensitize screen benchmark | python {sys.version.split()[0]} | {psutil.cpu_count()} CPUs | "
          f"{psutil.virtual_memory().total / 2**30:.1f} GiB RAM")
    # warm-up (imports, first-call overheads) so they do not count in the first line
    score_screen(synthetic_screen(5, seed=99), n_boot=0)
    if a.only_big:
        if not a.big:
            ap.error("--only-big needs --big N")
        big(a.big, a.seed, a.workers, a.chunk_blocks, csv=not a.no_csv)
        return 0
    throughput(n_tp, n_rep, a.seed)
    sc = scaling(sizes, a.seed)
    largest = max(sc)
    peer_synergy(a.peer_blocks, a.seed + 1, sc[largest] / largest)
    peer_synergyfinder()
    peer_synergyfinder_recorded()
    if a.big:
        big(a.big, a.seed, a.workers, a.chunk_blocks, csv=not a.no_csv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Atomic output: write to a temporary file beside the target, then rename.

A crash mid-write never leaves a half-written output, and inputs are never overwritten
by accident (:func:`ensure_not_input`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd


def _atomic_replace(path: Path, write: Callable[[Path], object]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    p = Path(path)
    _atomic_replace(p, lambda t: t.write_bytes(data))
    return p


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically."""
    p = Path(path)
    _atomic_replace(p, lambda t: t.write_text(text, encoding=encoding))
    return p


def atomic_write_csv(path: str | os.PathLike[str], df: pd.DataFrame, index: bool = False) -> Path:
    """Write a DataFrame as CSV atomically."""
    p = Path(path)
    _atomic_replace(p, lambda t: df.to_csv(t, index=index))
    return p


def atomic_write_parquet(path: str | os.PathLike[str], df: pd.DataFrame, index: bool = False) -> Path:
    """Write a DataFrame as Parquet atomically."""
    p = Path(path)
    _atomic_replace(p, lambda t: df.to_parquet(t, index=index))
    return p


def ensure_not_input(outputs: Iterable[str | os.PathLike[str]], inputs: Iterable[str | os.PathLike[str]]) -> None:
    """Raise if any output path resolves to one of the input files."""
    ins = {Path(i).resolve() for i in inputs}
    for o in outputs:
        if Path(o).resolve() in ins:
            raise ValueError(f"refusing to overwrite the input file {o}")

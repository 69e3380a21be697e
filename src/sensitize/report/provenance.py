"""Provenance of a report: software versions, input checksums, flattened settings."""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from sensitize.report.model import InputFile, format_value

#: distributions whose versions every report records
PACKAGES = ("numpy", "scipy", "pandas", "lifelines", "statsmodels", "matplotlib", "jinja2", "plotly")


def software_versions() -> dict[str, str]:
    """``sensitize``, Python, platform and the versions of the numerical libraries."""
    from sensitize import __version__

    out = {"sensitize": str(__version__), "python": sys.version.split()[0],
           "platform": f"{platform.system()} {platform.release()} ({platform.machine()})"}
    for pkg in PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def describe_inputs(paths: Iterable[str | Path]) -> list[InputFile]:
    """Size and SHA-256 of each input (``None`` for files that do not exist); duplicates once."""
    out: list[InputFile] = []
    seen: set[str] = set()
    for p in paths:
        path = Path(p)
        key = str(path.resolve()) if path.exists() else str(path)
        if key in seen:
            continue
        seen.add(key)
        if path.is_file():
            out.append(InputFile(str(path), path.stat().st_size, sha256_file(path)))
        else:
            out.append(InputFile(str(path), None, None))
    return out


def _scalar(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, np.ndarray):
        v = v.tolist()
    if isinstance(v, list | tuple | set | frozenset):
        items = list(v)
        if all(not isinstance(x, Mapping | list | tuple) for x in items):
            return ", ".join(_scalar(x) for x in items) if items else "(none)"
        return json.dumps(items, default=str)
    if v is None:
        return "None"
    return format_value(v, digits=6)


def flatten_settings(params: Mapping[str, Any] | None, prefix: str = "",
                     skip: Iterable[str] = ()) -> dict[str, str]:
    """Nested parameters as ``{"a.b.c": "text"}``, every value rendered as text."""
    out: dict[str, str] = {}
    if not params:
        return out
    skip_set = set(skip)
    for k, v in params.items():
        if k in skip_set:
            continue
        key = f"{prefix}{k}"
        if hasattr(v, "to_dict") and not isinstance(v, Mapping) and callable(v.to_dict):
            try:
                v = v.to_dict()
            except TypeError:
                pass
        if isinstance(v, Mapping):
            if not v:
                out[key] = "(none)"
            out.update(flatten_settings(v, key + "."))
        else:
            out[key] = _scalar(v)
    return out

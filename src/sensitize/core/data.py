"""Locate the shared reference data and the bundled example data."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path


def reference_data_dir() -> Path | None:
    """Return the reference-data folder (``$SENSITIZE_DATA``, default ``../shared/data``).

    The default is resolved against the current working directory; ``None`` when absent.
    """
    env = os.environ.get("SENSITIZE_DATA")
    p = Path(env) if env else Path.cwd().parent / "shared" / "data"
    return p if p.is_dir() else None


def bundled(*parts: str) -> Path:
    """Path of a file bundled in ``sensitize/data``."""
    return Path(str(resources.files("sensitize").joinpath("data", *parts)))

"""Shared infrastructure: errors, result objects, atomic output, reference-data lookup."""

from sensitize.core.errors import InputError, format_rows
from sensitize.core.output import (
    atomic_write_bytes,
    atomic_write_csv,
    atomic_write_parquet,
    atomic_write_text,
)
from sensitize.core.results import Result

__all__ = [
    "InputError",
    "Result",
    "atomic_write_bytes",
    "atomic_write_csv",
    "atomic_write_parquet",
    "atomic_write_text",
    "format_rows",
]

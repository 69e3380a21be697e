"""SHA-256 checksums of input files (and folders) recorded with each run."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from sensitize.core.errors import InputError

_CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the hex SHA-256 of a file's bytes, read in 1 MiB chunks.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    str
        64 lowercase hexadecimal characters (FIPS 180-4 SHA-256).
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def sha256_path(path: str | os.PathLike[str]) -> tuple[str, int]:
    """Checksum and size of an input file, or of a folder's contents.

    A folder (e.g. a 10x Genomics matrix folder) is summarised by the SHA-256 of a manifest
    listing, for every file under it in sorted POSIX relative-path order, the line
    ``"<relative path>\\t<sha256 of the file>\\n"``; the size is the sum of the file sizes.
    The checksum therefore changes when any file's bytes or name change, and does not depend
    on the folder's location or on file-system listing order.

    Raises
    ------
    InputError
        When the path does not exist.
    """
    p = Path(path)
    if p.is_file():
        return sha256_file(p), p.stat().st_size
    if p.is_dir():
        manifest = hashlib.sha256()
        size = 0
        files = sorted(
            (f for f in p.rglob("*") if f.is_file()), key=lambda f: f.relative_to(p).as_posix()
        )
        for f in files:
            manifest.update(f"{f.relative_to(p).as_posix()}\t{sha256_file(f)}\n".encode())
            size += f.stat().st_size
        return manifest.hexdigest(), size
    raise InputError("input file not found; cannot record its checksum", file=str(p))

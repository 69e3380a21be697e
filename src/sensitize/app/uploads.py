"""Validation of uploaded files and detection of what they hold.

Uploads are checked before any reader sees them: the extension must be one of
:data:`ALLOWED_EXTENSIONS`, the file must not be empty, an ``.xlsx`` must be a real Office
Open XML workbook (a zip archive with ``[Content_Types].xml``), an ``.xls`` a real OLE2
compound file, and a text file must look like text (no NUL bytes outside UTF-16, few
control characters).
"""

from __future__ import annotations

import codecs
import zipfile
from pathlib import Path

import pandas as pd

from sensitize.core.errors import InputError

#: File extensions accepted by the upload form.
ALLOWED_EXTENSIONS = (".csv", ".tsv", ".txt", ".xlsx", ".xls")

#: The kinds of analysis the app runs.
KINDS = ("screen", "invivo", "cohort")

_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = b"PK\x03\x04"
_SNIFF_BYTES = 64 * 1024


class UploadError(ValueError):
    """An upload that cannot be analysed; the message is shown to the user."""


def extension(filename: str) -> str:
    """The lower-case extension of ``filename`` (``""`` when it has none)."""
    return Path(filename).suffix.lower()


def check_extension(filename: str) -> None:
    """Raise :class:`UploadError` unless ``filename`` has an allowed extension."""
    ext = extension(filename)
    if ext not in ALLOWED_EXTENSIONS:
        shown = ext or "no extension"
        raise UploadError(
            f"{filename!r}: files of type {shown!r} are not accepted; upload a "
            f"{', '.join(e.lstrip('.') for e in ALLOWED_EXTENSIONS)} file"
        )


def _looks_like_text(head: bytes) -> bool:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return True
    if b"\x00" in head:
        return False
    if head.startswith((_ZIP_MAGIC, _OLE2_MAGIC, b"%PDF", b"\x1f\x8b", b"\x89PNG", b"\xff\xd8\xff")):
        return False
    # control characters other than tab, CR, LF, form feed
    ctrl = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return ctrl <= max(1, len(head) // 100)


def validate_upload(path: Path, filename: str) -> None:
    """Check a saved upload; raise :class:`UploadError` with a user-facing message.

    Parameters
    ----------
    path
        The saved file.
    filename
        The name the user uploaded it under (shown in messages).
    """
    check_extension(filename)
    size = path.stat().st_size
    if size == 0:
        raise UploadError(f"{filename!r} is empty (0 bytes); choose the file that holds the data")
    with open(path, "rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    ext = extension(filename)
    if ext == ".xlsx":
        ok = head.startswith(_ZIP_MAGIC) and zipfile.is_zipfile(path)
        if ok:
            with zipfile.ZipFile(path) as zf:
                ok = "[Content_Types].xml" in zf.namelist()
        if not ok:
            raise UploadError(f"{filename!r} is not an Excel workbook (.xlsx) even though its name says so")
        return
    if ext == ".xls":
        if not head.startswith(_OLE2_MAGIC):
            raise UploadError(f"{filename!r} is not an Excel 97-2003 workbook (.xls) even though its name says so")
        return
    if not _looks_like_text(head):
        raise UploadError(
            f"{filename!r} holds binary data, not a text table; upload a CSV/TSV/TXT text file "
            "or an Excel .xlsx workbook"
        )
    if not head.strip(b" \t\r\n\x0c\xef\xbb\xbf"):
        raise UploadError(f"{filename!r} is empty (only blank lines); choose the file that holds the data")


def file_columns(path: Path) -> list[str]:
    """The column names of a table file, as the screen readers see them."""
    from sensitize.io._text import ROW, read_frame

    frame = read_frame(path)
    return [str(c) for c in frame.columns if c != ROW]


def detect_kind(path: Path) -> str | None:
    """``"screen"`` or ``"invivo"`` when a reader recognises the file, else ``None``.

    A screen is recognised by :func:`sensitize.io.screen.detect_format`; a tumour-growth
    study by :func:`sensitize.io.invivo.read_invivo` reading it in the long, wide or
    TumGrowth layout (a bare grid of numbers, the ``days_as_rows`` layout, is not taken as
    evidence: choose the in vivo kind explicitly for those).
    """
    from sensitize.io.invivo import read_invivo
    from sensitize.io.screen import detect_format

    try:
        detect_format(path)
        return "screen"
    except (InputError, ValueError, OSError, UnicodeError):
        pass
    try:
        df = read_invivo(path)
        # a sheet of bare numbers also reads as "days as rows": too weak to call it a study
        if len(df) and df.attrs.get("layout") != "days_as_rows":
            return "invivo"
    except (InputError, ValueError, OSError, UnicodeError, KeyError, IndexError):
        pass
    return None


def preview(path: Path, n: int = 5) -> pd.DataFrame:
    """The first ``n`` rows of a table file (for the column-mapping form)."""
    from sensitize.io._text import ROW, read_frame

    frame = read_frame(path)
    return frame.drop(columns=[c for c in frame.columns if c == ROW]).head(n)

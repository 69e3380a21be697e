from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from sensitize.core.errors import InputError
from sensitize.store import sha256_file, sha256_path


def test_sha256_known_vector(tmp_path: Path) -> None:
    p = tmp_path / "abc.txt"
    p.write_bytes(b"abc")
    # FIPS 180-2, appendix B.1
    assert sha256_file(p) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256_path(p) == (sha256_file(p), 3)


def test_sha256_large_file_chunked(tmp_path: Path) -> None:
    data = bytes(range(256)) * 10_000  # 2.5 MB, several chunks
    p = tmp_path / "big.bin"
    p.write_bytes(data)
    assert sha256_file(p) == hashlib.sha256(data).hexdigest()


def test_folder_checksum_depends_on_content_and_names_not_location(tmp_path: Path) -> None:
    def make(root: Path, second: bytes = b"2", name: str = "b.txt") -> Path:
        (root / "sub").mkdir(parents=True)
        (root / "a.txt").write_bytes(b"1")
        (root / "sub" / name).write_bytes(second)
        return root

    d1 = make(tmp_path / "one")
    d2 = make(tmp_path / "two")
    assert sha256_path(d1) == sha256_path(d2)
    assert sha256_path(d1)[1] == 2
    assert sha256_path(make(tmp_path / "three", second=b"X"))[0] != sha256_path(d1)[0]
    assert sha256_path(make(tmp_path / "four", name="c.txt"))[0] != sha256_path(d1)[0]


def test_missing_input_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found") as ei:
        sha256_path(tmp_path / "nope.csv")
    assert ei.value.file == str(tmp_path / "nope.csv")

"""The ``sensitize screen score`` command."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sensitize.cli.main import main
from sensitize.core.data import bundled

REQUIRED = ["block_id", "drug1", "drug2", "ZIP_synergy", "HSA_synergy", "Bliss_synergy", "Loewe_synergy",
            "ZIP_synergy_p_value", "ic50_1", "ic50_2", "ri_1", "ri_2", "css", "S_sum", "flag"]


def test_screen_score_writes_tables(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    src = bundled("examples", "ONEIL_screening_data.csv")
    rc = main(["screen", "score", str(src), "-o", str(tmp_path), "--response-kind", "inhibition", "--n-boot", "20"])
    assert rc == 0
    blocks = pd.read_csv(tmp_path / "blocks.csv")
    assert all(c in blocks.columns for c in REQUIRED)
    assert list(blocks["block_id"]) == [1, 2] or set(blocks["block_id"]) == {1, 2}
    cells = pd.read_csv(tmp_path / "cells.csv")
    assert {"ZIP_ref", "ZIP_fit", "Loewe_ci", "Bliss_synergy"} <= set(cells.columns)
    assert (tmp_path / "blocks.parquet").exists()
    out = capsys.readouterr().out
    assert "ZIP_synergy" in out and "MK-1775" in out


def test_screen_score_bad_input_is_one_line_error(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.csv"
    bad.write_text("block_id,drug1,drug2,conc1,conc2,response\n1,a,b,0,x,50\n")
    rc = main(["screen", "score", str(bad), "-o", str(tmp_path / "o"), "--response-kind", "viability"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "bad.csv" in err and "conc2" in err


def test_screen_score_no_csv_writes_parquet_only(tmp_path: Path) -> None:
    src = bundled("examples", "ONEIL_screening_data.csv")
    for extra in ([], ["--backend", "serial"]):
        out = tmp_path / ("mem" if not extra else "stream")
        rc = main(["screen", "score", str(src), "-o", str(out), "--response-kind", "inhibition", "--n-boot", "0",
                   "--no-csv", "--no-report", "--no-db", "-q", *extra])
        assert rc == 0
        assert not list(out.glob("*.csv"))
        blocks = pd.read_parquet(out / "blocks.parquet")
        assert set(blocks["block_id"].astype(int)) == {1, 2}

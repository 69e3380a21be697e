"""``sensitize invivo analyze``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sensitize.cli.main import main
from sensitize.invivo import simulate_study


@pytest.mark.slow
def test_analyze_writes_tables_and_plots(tmp_path: Path) -> None:
    src = tmp_path / "study.csv"
    simulate_study(seed=8, n_per_arm=6).to_csv(src, index=False)
    out = tmp_path / "out"
    rc = main(["invivo", "analyze", str(src), "-o", str(out), "--n-boot", "30", "--endpoint", "1500"])
    assert rc == 0
    gr = pd.read_csv(out / "growth_rates.csv")
    assert list(gr.columns[:3]) == ["group", "rate", "se"] and len(gr) == 5
    syn = pd.read_csv(out / "synergy.csv")
    assert list(syn.columns[:7]) == ["model", "metric", "time", "estimate", "lower", "upper", "p"]
    resp = pd.read_csv(out / "response.csv")
    assert {"animal", "group", "v0", "v_tgi", "delta_v", "rtv", "best_response", "best_average_response",
            "mrecist"} <= set(resp.columns)
    for png in ("growth_curves", "synergy_over_time", "kaplan_meier", "waterfall"):
        assert (out / f"{png}.png").stat().st_size > 1000


def test_analyze_explicit_arms_tables_only(tmp_path: Path) -> None:
    src = tmp_path / "study.csv"
    df = simulate_study(seed=9, n_per_arm=5)
    df["group"] = df["group"].replace({"Targeted+anti-PD-1": "Combo"})
    df.to_csv(src, index=False)
    out = tmp_path / "o"
    rc = main(["invivo", "analyze", str(src), "-o", str(out), "--control", "Vehicle", "--drug-a", "Targeted",
               "--drug-b", "anti-PD-1", "--combination", "Combo", "--n-boot", "20", "--no-plots"])
    assert rc == 0
    assert (out / "synergy.csv").exists() and not (out / "waterfall.png").exists()


def test_bad_input_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "bad.csv"
    src.write_text("mouse,group,day,volume\nm1,A,0,10\nm1,A,3,-5\n")
    rc = main(["invivo", "analyze", str(src), "-o", str(tmp_path / "o")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "negative" in err and "row 2" in err

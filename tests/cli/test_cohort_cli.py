"""``sensitize cohort`` end to end on unseen-style inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from sensitize.cli.main import main
from sensitize.cohort.simulate import simulate_cohort


@pytest.fixture(scope="module")
def unseen(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A cohort written the way another lab would: Ensembl-free symbols, TPM (linear), days,
    dead/alive events, Responder/Non-responder labels, a patient ID column not called sample."""
    d = tmp_path_factory.mktemp("nsclc")
    sim = simulate_cohort(50, 20, seed=11)
    tpm = (2 ** sim.expression - 1).clip(lower=0) * 10
    tpm.index.name = "Hugo_Symbol"
    tpm.reset_index().to_csv(d / "expr.tsv", sep="\t", index=False)
    c = sim.clinical
    clin = pd.DataFrame({
        "Patient ID": c["sample"],
        "OS (days)": (c["os_months"] * 30.44).round(),
        "Vital status": c["os_event"].map({1: "Dead", 0: "Alive"}),
        "Best response": c["response"].map({"R": "Responder", "NR": "Non-responder"}),
        "Histology": ["LUAD", "LUSC"] * 25,
    })
    clin.to_csv(d / "clin.csv", index=False)
    return d / "expr.tsv", d / "clin.csv"


def test_analyze_unseen_layout(unseen: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    e, c = unseen
    out = tmp_path / "out"
    rc = main(["cohort", "analyze", "-e", str(e), "-c", str(c), "-b", "CXCL10", "-s", "CYT",
               "--os-time", "OS (days)", "--os-event", "Vital status", "--response-col", "Best response",
               "--permutations", "50", "-o", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "read as linear" in text and "'Patient ID'" in text and "(days)" in text
    surv = pd.read_csv(out / "survival.csv")
    for col in ("n", "events", "cox_coef", "HR", "HR_per_SD", "wald_p", "cutpoint", "maxstat_statistic",
                "p_corrected", "naive_p_uncorrected"):
        assert col in surv.columns
    assert set(surv["biomarker"]) == {"CXCL10", "CYT"} and set(surv["endpoint"]) == {"os"}
    resp = pd.read_csv(out / "response.csv")
    assert list(resp.columns[:8]) == ["biomarker", "kind", "n_responders", "n_nonresponders", "AUC",
                                      "AUC_lower95", "AUC_upper95", "p"]
    assert (out / "plots" / "roc.png").exists() and (out / "plots" / "km_CXCL10_os_median.png").exists()
    params = json.loads((out / "params.json").read_text())
    assert params["detection"]["endpoints"]["os"]["unit"] == "days"


def test_analyze_detects_endpoints_and_reports_mismatch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sim = simulate_cohort(30, 10, seed=2)
    sim.expression.drop(columns=["S003"]).reset_index().to_csv(tmp_path / "e.csv", index=False)
    sim.clinical.to_csv(tmp_path / "c.csv", index=False)
    rc = main(["cohort", "analyze", "-e", str(tmp_path / "e.csv"), "-c", str(tmp_path / "c.csv"),
               "-b", "CXCL9", "--permutations", "0", "--no-plots", "-o", str(tmp_path / "o")])
    assert rc == 0
    text = capsys.readouterr().out
    assert "1 clinical samples without expression" in text and "S003" in text
    assert "endpoint os: time 'os_months'" in text


def test_bad_input_clean_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sim = simulate_cohort(20, 5, seed=2)
    sim.expression.reset_index().to_csv(tmp_path / "e.csv", index=False)
    clin = sim.clinical.copy()
    clin.loc[1, "os_event"] = 2
    clin.to_csv(tmp_path / "c.csv", index=False)
    rc = main(["cohort", "analyze", "-e", str(tmp_path / "e.csv"), "-c", str(tmp_path / "c.csv"),
               "-b", "CXCL9", "-o", str(tmp_path / "o")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "os_event" in err and "row 2" in err
    rc = main(["cohort", "analyze", "-e", str(tmp_path / "e.csv"), "-c", str(tmp_path / "c.csv"),
               "-s", "NOSUCH", "-o", str(tmp_path / "o")])
    assert rc == 2


def test_signatures_and_simulate_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cohort", "signatures"]) == 0
    assert "GEP18" in capsys.readouterr().out
    assert main(["cohort", "simulate", "-o", str(tmp_path / "sim"), "--n-samples", "20"]) == 0
    assert (tmp_path / "sim" / "truth.json").exists()

"""Every analysis command writes report.html and report.pdf (unless --no-report)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from sensitize.cli.main import main
from sensitize.core.data import bundled
from tests.report.conftest import check_pdf, external_references


def _check(out: Path, *needles: str) -> str:
    html = (out / "report.html").read_text(encoding="utf-8")
    pdf = (out / "report.pdf").read_bytes()
    check_pdf(pdf)
    for n in needles:
        assert n in html, n
    assert external_references(html) == []
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left
    return html


@pytest.mark.slow
def test_screen_score_writes_report(tmp_path: Path) -> None:
    src = bundled("examples", "ONEIL_screening_data.csv")
    out = tmp_path / "o"
    rc = main(["screen", "score", str(src), "-o", str(out), "--response-kind", "inhibition", "--n-boot", "0",
               "--seed", "77", "-q"])
    assert rc == 0
    html = _check(out, "MK-1775", "Niraparib", hashlib.sha256(src.read_bytes()).hexdigest(), "run.seed")
    assert "<td>run.response_kind</td><td>inhibition</td>" in html.replace("\n", "")


@pytest.mark.slow
def test_plates_process_writes_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m, r = bundled("demo_screen", "plate_map.csv"), bundled("demo_screen", "reader_export.csv")
    out = tmp_path / "p"
    assert main(["plates", "process", str(m), str(r), "-o", str(out)]) == 0
    _check(out, "4T1-A1-R2", "Plate QC (Z&#39;-factor, SSMD)", "run.correction")
    assert "report.pdf" in capsys.readouterr().out


@pytest.mark.slow
def test_invivo_analyze_writes_report(tmp_path: Path) -> None:
    from sensitize.invivo import simulate_study

    src = tmp_path / "study.csv"
    simulate_study(seed=4, n_per_arm=4).to_csv(src, index=False)
    out = tmp_path / "i"
    assert main(["invivo", "analyze", str(src), "-o", str(out), "--n-boot", "20", "--no-plots"]) == 0
    _check(out, "Tumour growth", "Targeted+anti-PD-1", "run.n_boot")


def test_cohort_analyze_report_and_no_report(tmp_path: Path) -> None:
    from sensitize.cohort.simulate import simulate_cohort

    sim = simulate_cohort(40, 5, seed=5)
    e, c = tmp_path / "e.csv", tmp_path / "c.csv"
    sim.expression.reset_index().to_csv(e, index=False)
    sim.clinical.to_csv(c, index=False)
    base = ["cohort", "analyze", "-e", str(e), "-c", str(c), "-b", "CXCL9", "--permutations", "0", "--no-plots"]
    assert main([*base, "-o", str(tmp_path / "a")]) == 0
    _check(tmp_path / "a", "CXCL9", "Data checks: samples, scale, endpoints",
           hashlib.sha256(e.read_bytes()).hexdigest(), hashlib.sha256(c.read_bytes()).hexdigest())
    assert main([*base, "-o", str(tmp_path / "b"), "--no-report"]) == 0
    assert (tmp_path / "b" / "survival.csv").exists()
    assert not (tmp_path / "b" / "report.html").exists() and not (tmp_path / "b" / "report.pdf").exists()

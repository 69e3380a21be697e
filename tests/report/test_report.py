"""Reports of the four kinds of analysis: content, self-containment, atomic writes, PDF validity."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensitize.report import Report, build_report, format_value
from sensitize.report.model import ReportTable
from sensitize.report.provenance import describe_inputs, flatten_settings
from tests.report.conftest import check_pdf, external_references

# --------------------------------------------------------------------------------- screen


def test_screen_report_content(screen_result: Any, oneil_path: Path) -> None:
    rep = build_report(screen_result, inputs=[oneil_path], settings={"operator": "lab-meeting-7"}, n_plots=1)
    assert isinstance(rep, Report) and rep.kind == "screen"
    assert rep.title.endswith("ONEIL_screening_data.csv")
    html = rep.to_html()
    top = screen_result.ranked("ZIP_synergy").iloc[0]
    # the top block's drugs, its score and the run settings are in the report
    assert str(top["drug1"]) in html and str(top["drug2"]) in html
    assert format_value(float(top["ZIP_synergy"])) in html
    assert f"Top block by ZIP_synergy: {top['block_id']}" in rep.summary[1]
    assert "lab-meeting-7" in html and "run.operator" in html
    assert "analysis.loewe_method" in html and "analysis.n_boot" in html
    # checksum and size of the input
    digest = hashlib.sha256(oneil_path.read_bytes()).hexdigest()
    assert digest in html and f"{oneil_path.stat().st_size:,}" in html
    # versions in the header
    for pkg in ("numpy", "scipy", "pandas", "lifelines", "statsmodels"):
        assert rep.versions[pkg] != "not installed" and pkg in html
    # ranking table: ranked by ZIP, first row is the top block
    ranking = rep.section("Blocks ranked by ZIP_synergy").tables[0]
    assert ranking.shown().iloc[0]["block_id"] == top["block_id"]
    assert list(ranking.shown()["rank"]) == list(range(1, len(screen_result.table) + 1))
    # figures: ranking + landscape + curves of the top blocks (pl.screen present)
    assert len(rep.figures) >= 3
    assert html.count("<svg") >= len(rep.figures)
    assert external_references(html) == []
    rep.close()


def test_screen_report_qc_lists_rejected_and_failed(screen_result: Any) -> None:
    res = screen_result
    rejected = pd.DataFrame({"block_id": ["B-bad"], "readout": ["response"],
                             "reason": ["grid incomplete: missing cell (3, 2)"]})
    curves = res.curves.copy()
    curves.loc[0, "converged"] = False
    from dataclasses import replace

    res2 = replace(res, rejected=rejected, curves=curves)
    rep = build_report(res2, n_plots=0)
    qc = rep.section("Quality control")
    assert "1 block(s) could not be scored" in qc.text and "1 of 4 monotherapy" in qc.text
    html = rep.to_html()
    assert "grid incomplete: missing cell (3, 2)" in html and "B-bad" in html
    assert qc.tables[2].total == 1
    assert not any(s.heading == "Figures" for s in rep.sections)


def test_self_contained_interactive(screen_result: Any) -> None:
    rep = build_report(screen_result, interactive=True, n_plots=1)
    assert any(f.plotly is not None for f in rep.figures)
    html = rep.to_html()
    # the plotly.js bundle is inlined, nothing points outside the file
    assert "plotly" in html.lower() and len(html) > 1_000_000
    assert external_references(html) == []
    assert "cdn.plot.ly" not in re.sub(r"<script[^>]*>.*?</script>", "", html, flags=re.S)
    rep.close()


def test_external_reference_detector_catches_links() -> None:
    bad = ('<html><head><link rel="stylesheet" href="https://x.org/a.css"><script src="a.js"></script>'
           '<style>body{background:url(https://x.org/i.png)}</style></head>'
           '<body><img src="http://x.org/i.png"><a href="#ok">ok</a></body></html>')
    found = external_references(bad)
    assert {k for _, k, _ in found} >= {"href", "src", "link", "url"}
    assert external_references('<a href="#s-x">x</a><img src="data:image/png;base64,AA==">') == []


def test_unknown_type_is_a_clear_type_error() -> None:
    with pytest.raises(TypeError, match=r"cannot report on a .*DataFrame.*ScreenResult"):
        build_report(pd.DataFrame({"a": [1]}))


# --------------------------------------------------------------------------------- writing


def test_atomic_writes_and_pdf(screen_result: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rep = build_report(screen_result, n_plots=1)
    h = rep.write_html(tmp_path / "r" / "report.html")
    p = rep.write_pdf(tmp_path / "r" / "report.pdf")
    assert sorted(x.name for x in (tmp_path / "r").iterdir()) == ["report.html", "report.pdf"]
    assert h.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    pdf = p.read_bytes()
    check_pdf(pdf)
    assert b"sensitize" in pdf  # metadata Creator
    # a failing render leaves the previous files untouched and no temporary file behind
    before_h, before_p = h.read_bytes(), pdf

    def boom(self: Report) -> str:
        raise RuntimeError("render failed")

    monkeypatch.setattr(Report, "to_html", boom)
    monkeypatch.setattr(Report, "to_pdf_bytes", boom)
    with pytest.raises(RuntimeError):
        rep.write_html(h)
    with pytest.raises(RuntimeError):
        rep.write_pdf(p)
    assert h.read_bytes() == before_h and p.read_bytes() == before_p
    assert sorted(x.name for x in (tmp_path / "r").iterdir()) == ["report.html", "report.pdf"]
    rep.close()


# --------------------------------------------------------------------------------- plates


def test_plates_report(plates_pipeline: dict[str, Any]) -> None:
    pp = plates_pipeline
    rk = pp["ranking"]
    rep = build_report(rk, inputs=[pp["map"], pp["reads"]], norm=pp["norm"], screen_table=pp["screen_table"],
                       anchored=pp["anchored"], top=10)
    assert rep.kind == "plates"
    html = rep.to_html()
    qc = rep.section("Plate quality control")
    # the planted failed plate is named with its reason, Z' and SSMD per plate are tabulated
    failed = pp["norm"].qc.failed
    assert "4T1-A1-R2" in set(failed["plate"]) and "4T1-A1-R2" in qc.text
    qct = qc.tables[0].shown()
    assert {"z_prime", "ssmd", "qc_pass"} <= set(qct.columns) and len(qct) == len(pp["norm"].qc.table)
    assert qct["qc_pass"].iloc[0] == False  # noqa: E712  failures first
    for line in rk.table["cell_line"].unique():
        best = rk.for_cell_line(line).iloc[0]
        assert f"{line}: best {best['drug1']} + {best['drug2']}" in " ".join(rep.summary)
    assert "alpha" in " ".join(rep.settings) and "analysis.ranking.alpha" in rep.settings
    assert len(rep.figures) >= 3 and external_references(html) == []
    check_pdf(rep.to_pdf_bytes())
    rep.close()


def test_plates_qc_only_report(plates_pipeline: dict[str, Any]) -> None:
    rep = build_report(plates_pipeline["norm"], screen_table=plates_pipeline["screen_table"], n_plots=1)
    assert rep.kind == "plates"
    assert [s.heading for s in rep.sections] == ["Plate quality control", "Normalised wells"]
    assert "Wells left out of the screen table" in rep.to_html()
    rep.close()


# --------------------------------------------------------------------------------- in vivo


@pytest.mark.slow
def test_invivo_report(invivo_analysis: Any, tmp_path: Path) -> None:
    res = invivo_analysis
    src = tmp_path / "study.csv"
    res.study.data.to_csv(src, index=False)
    rep = build_report(res, inputs=[src], settings={"n_boot": 30})
    assert rep.kind == "invivo"
    html = rep.to_html()
    for g in res.study.groups:
        assert g in html
    gr = res.growth_rates_table()
    assert format_value(float(gr["rate"].iloc[0])) in html
    assert "analysis.synergy.methods" in rep.settings and "analysis.response.tgi_day" in rep.settings
    heads = [s.heading for s in rep.sections]
    assert {"Data validation", "Tumour growth", "Response: TGI, T/C and mRECIST",
            "Combination synergy over time", "Time to endpoint"} <= set(heads)
    assert len(rep.figures) == 4 and external_references(html) == []
    assert hashlib.sha256(src.read_bytes()).hexdigest() in html
    check_pdf(rep.to_pdf_bytes())
    rep.close()


# --------------------------------------------------------------------------------- cohort


@pytest.mark.slow
def test_cohort_report(cohort_analysis: tuple[Any, Any]) -> None:
    res, cohort = cohort_analysis
    rep = build_report(res, cohort=cohort, n_plots=1)
    assert rep.kind == "cohort" and rep.title.endswith("simcohort")
    html = rep.to_html()
    r = res.response.iloc[int(np.nanargmax((res.response["AUC"] - 0.5).abs().to_numpy()))]
    assert f"strongest {r['biomarker']} AUC {format_value(r['AUC'], 3)}" in " ".join(rep.summary)
    qc = rep.section("Data checks: samples, scale, endpoints")
    assert "60 sample(s) analysed" in qc.text
    assert any("Expression scale" in i for i in qc.items)
    assert "analysis.minprop" in rep.settings and "analysis.detection.samples.n_matched" not in rep.settings
    assert "naive_p_uncorrected" in html and "NOT a valid p-value" in html
    assert external_references(html) == []
    check_pdf(rep.to_pdf_bytes())
    rep.close()


# --------------------------------------------------------------------------------- pieces


def test_provenance(tmp_path: Path) -> None:
    f = tmp_path / "x.csv"
    f.write_bytes(b"a,b\n1,2\n")
    info = describe_inputs([f, f, tmp_path / "missing.csv"])
    assert len(info) == 2
    assert info[0].sha256 == hashlib.sha256(b"a,b\n1,2\n").hexdigest() and info[0].size == 8
    assert info[1].sha256 is None and info[1].size is None
    flat = flatten_settings({"a": {"b": 1, "c": [1, 2]}, "d": None, "e": {}, "f": np.float64(0.5)}, "p.")
    assert flat == {"p.a.b": "1", "p.a.c": "1, 2", "p.d": "None", "p.e": "(none)", "p.f": "0.5"}


def test_table_text_and_counts() -> None:
    df = pd.DataFrame({"name": list("abcdef"), "x": [1.0, np.nan, 1e-12, 123456.0, -0.5, 2.0]})
    t = ReportTable(df, "c", top=4)
    assert t.total == 6 and len(t.shown()) == 4
    assert t.count_note() == "showing the first 4 of 6 rows"
    txt = t.to_text()
    assert "NA" in txt and "1.000e-12" in txt and "123456" in txt
    assert ReportTable(df, top=None).count_note() == ""
    assert [c[1] for c in t.cells()[1]] == ["", ""]  # text and NaN sort as missing


@settings(max_examples=100, derandomize=True, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True) | st.floats(-1e300, 1e300))
def test_format_value_total_and_faithful(x: float) -> None:
    s = format_value(x)
    assert isinstance(s, str) and s
    if np.isnan(x):
        assert s == "NA"
    elif np.isfinite(x) and abs(x) < 1e300:  # rounding the largest floats up overflows float()
        # four significant digits: relative error below 5e-4
        back = float(s)
        assert back == x or abs(back - x) <= 5e-4 * abs(x)

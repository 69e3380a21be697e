"""The web app through Flask's test client: upload, jobs, results, downloads, bad input."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from flask import Flask
from flask.testing import FlaskClient

from sensitize.app import create_app
from sensitize.app.jobs import Job, JobManager
from sensitize.core.data import bundled

DEMO = bundled("examples", "mathews_screening_data.csv")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    a = create_app(tmp_path_factory.mktemp("appwork"), max_upload_mb=1, testing=True)
    yield a
    a.extensions["sensitize_jobs"].shutdown()


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _manager(app: Flask) -> JobManager:
    m = app.extensions["sensitize_jobs"]
    assert isinstance(m, JobManager)
    return m


def _upload(client: FlaskClient, content: bytes, name: str, **form: Any) -> Any:
    data: dict[str, Any] = {"kind": "auto", **form, "file": (io.BytesIO(content), name)}
    return client.post("/upload", data=data, content_type="multipart/form-data")


def _job_id(resp: Any) -> str:
    assert resp.status_code == 303, resp.data[:500]
    return str(resp.headers["Location"]).rstrip("/").rsplit("/", 1)[1]


def _finish(app: Flask, job_id: str) -> Job:
    return _manager(app).wait(job_id, timeout=60)


@pytest.fixture(scope="module")
def demo_job(app: Flask) -> Job:
    client = app.test_client()
    resp = _upload(client, DEMO.read_bytes(), "mathews_screening_data.csv", response_kind="viability")
    job = _finish(app, _job_id(resp))
    assert job.state == "done", job.message
    return job


def _still_serving(client: FlaskClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert b"Upload and analyse" in r.data


def test_home_page(client: FlaskClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    html = r.data.decode()
    assert '<label for="file">' in html and 'id="file"' in html
    assert "Content-Security-Policy" in r.headers
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]


def test_screen_upload_results(client: FlaskClient, demo_job: Job) -> None:
    out = demo_job.outcome
    assert out is not None
    assert len(out.analysis.table) == 2
    r = client.get(f"/jobs/{demo_job.id}")
    assert r.status_code == 200
    html = r.data.decode()
    assert 'id="ranked-table"' in html
    # the ranked table lists both blocks, most ZIP-synergistic first, with the engine's scores
    table = html[html.index('id="ranked-table"'):]
    ranked = out.analysis.ranked("ZIP_synergy")
    first, second = (str(d) for d in ranked["drug1"])
    assert table.index(first) < table.index(second)
    assert f"{ranked['ZIP_synergy'].iloc[0]:.4g}" in table
    assert "plotly.min.js" in html
    assert "cdn" not in html.lower()


def test_status_endpoint(client: FlaskClient, demo_job: Job) -> None:
    s = client.get(f"/jobs/{demo_job.id}/status").get_json()
    assert s["state"] == "done"
    assert s["progress"] == 1.0
    assert s["kind"] == "screen"


def test_csv_download_matches_result(client: FlaskClient, demo_job: Job) -> None:
    r = client.get(f"/jobs/{demo_job.id}/download/blocks.csv")
    assert r.status_code == 200
    assert "attachment" in r.headers["Content-Disposition"]
    df = pd.read_csv(io.BytesIO(r.data))
    res = demo_job.outcome.analysis  # type: ignore[union-attr]
    assert len(df) == len(res.table)
    assert df["ZIP_synergy"].to_numpy() == pytest.approx(res.table["ZIP_synergy"].to_numpy(), rel=1e-9)
    cells = pd.read_csv(io.BytesIO(client.get(f"/jobs/{demo_job.id}/download/cells.csv").data))
    assert len(cells) == 72


def test_download_rejects_traversal_and_unknown(client: FlaskClient, demo_job: Job) -> None:
    for name in ["../../etc/passwd", "..%2F..%2Fparams.json", "nope.csv", "report.pdf.csv"]:
        r = client.get(f"/jobs/{demo_job.id}/download/{name}")
        assert r.status_code == 404, name
    assert client.get("/jobs/../../download/x").status_code == 404
    assert client.get("/jobs/notahexid/status").status_code == 404
    assert client.get("/jobs/0123456789abcdef/status").status_code == 404


def test_report_download(client: FlaskClient, demo_job: Job) -> None:
    out = demo_job.outcome
    assert out is not None
    r = client.get(f"/jobs/{demo_job.id}/report?format=html")
    if "report.html" in out.files:
        assert r.status_code == 200
        assert "attachment" in r.headers["Content-Disposition"]
        assert b"<html" in r.data[:500].lower()
        assert b"ispinesib" in r.data
    else:  # the report module is not available: a clean message, not a crash
        assert r.status_code == 503
        assert b"report unavailable" in r.data.lower()
    _still_serving(client)


def test_plots_json(client: FlaskClient, demo_job: Job) -> None:
    for url in ["landscape?block=1|response&model=ZIP", "landscape?block=2|response&model=Bliss&kind=surface",
                "dose_response?block=2|response", "ranking?by=ZIP_synergy"]:
        r = client.get(f"/jobs/{demo_job.id}/plot/{url}")
        assert r.status_code == 200, url
        fig = json.loads(r.data)
        assert fig["data"], url
    assert client.get(f"/jobs/{demo_job.id}/plot/landscape?block=99").status_code == 404
    assert client.get(f"/jobs/{demo_job.id}/plot/landscape?model=XYZ").status_code == 400
    assert client.get(f"/jobs/{demo_job.id}/plot/nonsense").status_code == 404


def test_fallback_plots(demo_job: Job, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without sensitize.pl.screen the app draws the landscape from the cells itself."""
    from sensitize.app import plots

    monkeypatch.setattr(plots, "_pl_screen", lambda name: None)
    res = demo_job.outcome.analysis  # type: ignore[union-attr]
    fig = plots.landscape(res, 1, "response", model="ZIP")
    z = [v for row in fig.data[0].z for v in row]
    cells = res.cells[res.cells["block_id"] == 1]
    assert sorted(z) == pytest.approx(sorted(cells["ZIP_synergy"]))
    assert len(plots.dose_response(res, 1, "response").data) == 4  # 2 drugs x (points, curve)
    assert len(plots.ranking(res).data[0].x) == 2


def test_plotly_served_locally(client: FlaskClient) -> None:
    r = client.get("/static/vendor/plotly.min.js")
    assert r.status_code == 200
    assert r.mimetype == "application/javascript"
    assert len(r.data) > 1_000_000
    assert client.get("/static/results.js").status_code == 200
    assert client.get("/static/style.css").status_code == 200


@pytest.mark.parametrize(
    ("content", "name", "expected"),
    [
        (b"a,b\n1,2\n", "data.exe", "not accepted"),
        (b"a,b\n1,2\n", "noextension", "not accepted"),
        (b"", "empty.csv", "is empty"),
        (b"\n\n  \n", "blank.csv", "is empty"),
        (bytes(range(256)) * 40, "junk.csv", "binary data"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "image.txt", "binary data"),
        (b"not a zip at all", "book.xlsx", "not an Excel workbook"),
        (b"PK\x03\x04garbage", "book2.xlsx", "not an Excel workbook"),
        (b"plain text", "old.xls", "not an Excel 97-2003"),
    ],
)
def test_bad_uploads(client: FlaskClient, content: bytes, name: str, expected: str) -> None:
    r = _upload(client, content, name, kind="screen", response_kind="viability")
    assert r.status_code == 400
    html = r.data.decode()
    assert 'id="error"' in html
    assert expected in html
    assert "Traceback" not in html
    _still_serving(client)


def test_no_file_chosen(client: FlaskClient) -> None:
    r = client.post("/upload", data={"kind": "screen"}, content_type="multipart/form-data")
    assert r.status_code == 400
    assert b"no file was chosen" in r.data


def test_zip_that_is_not_a_workbook(client: FlaskClient) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("evil.txt", "hello")
    r = _upload(client, buf.getvalue(), "fake.xlsx", kind="screen")
    assert r.status_code == 400
    assert b"not an Excel workbook" in r.data


def test_oversize_upload(client: FlaskClient) -> None:
    r = _upload(client, b"a,b\n" + b"1,2\n" * 400_000, "big.csv")  # 1.6 MB > 1 MB limit
    assert r.status_code == 413
    assert b"larger than the limit of 1 MB" in r.data
    assert b"Traceback" not in r.data
    _still_serving(client)


def test_undetectable_kind_asks_for_it(client: FlaskClient) -> None:
    r = _upload(client, b"foo,bar\n1,2\n3,4\n", "mystery.csv")
    assert r.status_code == 400
    assert b"could not tell whether" in r.data


def test_input_error_shown_cleanly(app: Flask, client: FlaskClient) -> None:
    # a SynergyFinder table without a response kind: the reader refuses to guess
    job = _finish(app, _job_id(_upload(client, DEMO.read_bytes(), "demo.csv")))
    assert job.state == "failed"
    r = client.get(f"/jobs/{job.id}")
    assert r.status_code == 422
    html = r.data.decode()
    assert "response kind is not stated" in html
    assert "Traceback" not in html and 'File "' not in html
    # a non-numeric concentration: the message names the file, the column and the row
    bad = DEMO.read_text().splitlines()
    parts = bad[3].split(",")
    parts[3] = "lots"
    bad[3] = ",".join(parts)
    job = _finish(app, _job_id(_upload(client, "\n".join(bad).encode(), "badconc.csv", response_kind="viability")))
    assert job.state == "failed"
    html = client.get(f"/jobs/{job.id}").data.decode()
    assert "badconc.csv" in html and "conc_r" in html and "row 3" in html
    _still_serving(client)


def test_unexpected_error_is_logged_not_shown(app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch,
                                              caplog: pytest.LogCaptureFixture) -> None:
    m = _manager(app)

    def boom(job: Job) -> Any:
        raise RuntimeError("kaboom in the engine")

    monkeypatch.setitem(m.runners, "screen", boom)
    job = _finish(app, _job_id(_upload(client, DEMO.read_bytes(), "x.csv", response_kind="viability")))
    assert job.state == "failed"
    html = client.get(f"/jobs/{job.id}").data.decode()
    assert "unexpected error (RuntimeError: kaboom in the engine)" in html
    assert "Traceback" not in html
    assert any("Traceback" in (r.exc_text or "") or r.exc_info for r in caplog.records)
    monkeypatch.undo()
    _still_serving(client)


def _renamed_demo() -> bytes:
    df = pd.read_csv(DEMO).rename(columns={
        "block_id": "Combo", "drug_row": "Agent A", "drug_col": "Agent B", "conc_r": "Dose A",
        "conc_c": "Dose B", "response": "Signal", "conc_r_unit": "U1", "conc_c_unit": "U2"})
    df = df.drop(columns=["U1", "U2"])
    return df.to_csv(index=False).encode()


def test_mapping_flow(app: Flask, client: FlaskClient, demo_job: Job) -> None:
    r = _upload(client, _renamed_demo(), "renamed.csv", kind="screen", no_report="1")
    job = _finish(app, _job_id(r))
    assert job.state == "needs_mapping"
    r = client.get(f"/jobs/{job.id}")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/jobs/{job.id}/mapping")
    html = client.get(f"/jobs/{job.id}/mapping").data.decode()
    assert 'id="mapping-form"' in html
    for col in ["Combo", "Agent A", "Dose B", "Signal"]:
        assert f'<option value="{col}"' in html
    assert '<label for="map_drug1">' in html
    form = {"map_block_id": "Combo", "map_drug1": "Agent A", "map_drug2": "Agent B", "map_conc1": "Dose A",
            "map_conc2": "Dose B", "map_response": "Signal", "conc_unit": "nM", "response_kind": "viability"}
    # a required field left empty: the form comes back with a message
    r = client.post(f"/jobs/{job.id}/mapping", data={**form, "map_response": ""})
    assert r.status_code == 400 and b"map every required field" in r.data
    # the same column twice
    r = client.post(f"/jobs/{job.id}/mapping", data={**form, "map_conc2": "Dose A"})
    assert r.status_code == 400 and b"used more than once" in r.data
    r = client.post(f"/jobs/{job.id}/mapping", data=form)
    new = _finish(app, _job_id(r))
    assert new.state == "done", new.message
    assert new.parent == job.id
    a, b = new.outcome.analysis.table, demo_job.outcome.analysis.table  # type: ignore[union-attr]
    assert a["ZIP_synergy"].to_numpy() == pytest.approx(b["ZIP_synergy"].to_numpy(), rel=1e-9)
    assert client.get(f"/jobs/{new.id}").status_code == 200


def _study_csv() -> bytes:
    from sensitize.invivo.simulate import simulate_study

    df = simulate_study(seed=3, n_per_arm=6)
    return df[["animal", "group", "day", "volume"]].to_csv(index=False).encode()


@pytest.mark.slow
def test_invivo_upload(app: Flask, client: FlaskClient) -> None:
    job = _finish(app, _job_id(_upload(client, _study_csv(), "study.csv", invivo_n_boot="50", no_report="1")))
    assert job.kind == "invivo"
    assert job.state == "done", job.message
    html = client.get(f"/jobs/{job.id}").data.decode()
    assert 'id="ranked-table"' in html and "Vehicle" in html
    for name in ["growth", "km"]:
        fig = json.loads(client.get(f"/jobs/{job.id}/plot/{name}").data)
        assert fig["data"]
    r = client.get(f"/jobs/{job.id}/download/growth_rates.csv")
    assert r.status_code == 200 and b"rate" in r.data


@pytest.mark.slow
def test_invivo_mapping(app: Flask, client: FlaskClient) -> None:
    df = pd.read_csv(io.BytesIO(_study_csv())).rename(
        columns={"animal": "Maus", "group": "Gruppe", "day": "Tag", "volume": "Groesse"})
    job = _finish(app, _job_id(_upload(client, df.to_csv(index=False).encode(), "de.csv", kind="invivo",
                                        invivo_n_boot="20", no_report="1")))
    assert job.state == "needs_mapping", job.message
    r = client.post(f"/jobs/{job.id}/mapping", data={"map_animal": "Maus", "map_group": "Gruppe",
                                                      "map_day": "Tag", "map_volume": "Groesse"})
    new = _finish(app, _job_id(r))
    assert new.state == "done", new.message
    assert new.outcome is not None and new.outcome.analysis.study.data["animal"].nunique() == 30


def test_cohort_upload(app: Flask, client: FlaskClient, tmp_path: Path) -> None:
    from sensitize.cohort.simulate import simulate_cohort

    sim = simulate_cohort(60, seed=1)
    expr = sim.expression.reset_index().to_csv(index=False).encode()
    clin = sim.clinical.to_csv(index=False).encode()
    gene = str(sim.expression.index[0])
    data = {"kind": "cohort", "biomarkers": gene, "permutations": "0",
            "expression": (io.BytesIO(expr), "expression.csv"), "clinical": (io.BytesIO(clin), "clinical.csv")}
    job = _finish(app, _job_id(client.post("/upload", data=data, content_type="multipart/form-data")))
    assert job.state == "done", job.message
    html = client.get(f"/jobs/{job.id}").data.decode()
    assert 'id="ranked-table"' in html and gene in html
    assert json.loads(client.get(f"/jobs/{job.id}/plot/forest").data)["data"]
    # a cohort needs both files
    r = client.post("/upload", data={"kind": "cohort", "expression": (io.BytesIO(expr), "e.csv")},
                    content_type="multipart/form-data")
    assert r.status_code == 400 and b"needs two files" in r.data


@pytest.mark.slow
def test_demo_button_and_results_store(tmp_path: Path) -> None:
    """The demo button runs the bundled screen; --db records the run in the DuckDB store."""
    from sensitize.store import ResultsStore

    db = tmp_path / "runs.duckdb"
    a = create_app(tmp_path / "work", db=db, testing=True)
    c = a.test_client()
    job = _manager(a).wait(_job_id(c.post("/demo")), timeout=60)
    assert job.state == "done", job.message
    assert c.get("/jobs").status_code == 200
    assert job.names["file"].encode() in c.get("/jobs").data
    assert job.outcome is not None and job.outcome.run_id is not None
    store = ResultsStore(db)
    blocks = store.table(job.outcome.run_id, "screen.blocks")
    assert len(blocks) == 2
    # a run without the report: the results page says so and offers no report link
    job2 = _manager(a).wait(_job_id(_upload(c, DEMO.read_bytes(), "d.csv", response_kind="viability",
                                             no_report="1")), timeout=60)
    a.extensions["sensitize_jobs"].shutdown()
    html = c.get(f"/jobs/{job2.id}").data.decode()
    assert "report not built" in html and 'id="report-link"' not in html
    assert c.get(f"/jobs/{job2.id}/report").status_code == 503


def test_progress_page_while_running(app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    gate = threading.Event()

    def slow(job: Job) -> Any:
        job.set_stage("fitting 3/7 blocks", 0.4)
        gate.wait(10)
        raise ValueError("stopped by the test")

    monkeypatch.setitem(_manager(app).runners, "screen", slow)
    jid = _job_id(_upload(client, DEMO.read_bytes(), "slow.csv", kind="screen", response_kind="viability"))
    deadline = 50
    while client.get(f"/jobs/{jid}/status").get_json()["stage"] != "fitting 3/7 blocks" and deadline:
        deadline -= 1
        threading.Event().wait(0.05)
    r = client.get(f"/jobs/{jid}")
    html = r.data.decode()
    assert r.status_code == 200 and '<progress id="progress"' in html and "fitting 3/7 blocks" in html
    assert client.get(f"/jobs/{jid}/status").get_json()["progress"] == 0.4
    gate.set()
    job = _finish(app, jid)
    assert job.state == "failed" and "stopped by the test" in job.message
    monkeypatch.undo()


def test_real_xlsx_passes_validation(tmp_path: Path) -> None:
    from sensitize.app.uploads import UploadError, detect_kind, validate_upload

    x = tmp_path / "screen.xlsx"
    pd.read_csv(DEMO).to_excel(x, index=False)
    validate_upload(x, "screen.xlsx")
    assert detect_kind(x) == "screen"
    with pytest.raises(UploadError, match="not an Excel 97-2003"):
        validate_upload(x, "screen.xls")
    utf16 = tmp_path / "u16.csv"
    utf16.write_text("a,b\n1,2\n", encoding="utf-16")
    validate_upload(utf16, "u16.csv")

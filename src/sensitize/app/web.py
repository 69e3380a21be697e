"""The Flask application: upload, column mapping, progress, results, downloads.

Everything is served from the app itself (plotly.js included), so it works offline and
no uploaded data leaves the machine.  Results live in a per-app work folder.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

import pandas as pd
from flask import (
    Flask,
    Response,
    abort,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.utils import secure_filename

from sensitize.app import plots
from sensitize.app.analyses import CONC_UNITS, RESPONSE_KINDS, make_runners
from sensitize.app.jobs import Job, JobManager, new_job_id
from sensitize.app.uploads import (
    ALLOWED_EXTENSIONS,
    UploadError,
    check_extension,
    detect_kind,
    preview,
    validate_upload,
)
from sensitize.core.data import bundled

log = logging.getLogger("sensitize.app")

_JOB_ID = re.compile(r"^[0-9a-f]{16}$")
_TOP_ROWS = 25

_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
        "object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'")

#: Columns shown in the ranked screen table (others are in the CSV).
_SCREEN_COLS = ["block_id", "readout", "drug1", "drug2", "cell_line", "ZIP_synergy", "ZIP_synergy_p_value",
                "HSA_synergy", "Bliss_synergy", "Loewe_synergy", "css", "S_mean", "flag", "reason"]


@functools.lru_cache(maxsize=1)
def plotly_js() -> bytes:
    """The plotly.js bundle shipped with the plotly Python package."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().encode("utf-8")


def _fmt_table(df: pd.DataFrame, max_rows: int = _TOP_ROWS) -> dict[str, Any]:
    """Header and formatted cells of the first rows of a table."""
    head = df.head(max_rows)
    rows = []
    for r in head.itertuples(index=False):
        cells = []
        for v in r:
            if isinstance(v, float):
                cells.append("" if pd.isna(v) else f"{v:.4g}")
            elif v is None or (not isinstance(v, str) and pd.isna(v) is True):
                cells.append("")
            else:
                cells.append(str(v))
        rows.append(cells)
    return {"columns": [str(c) for c in head.columns], "rows": rows, "n": len(df), "shown": len(head)}


def create_app(workdir: str | Path | None = None, *, max_upload_mb: float = 50, db: str | Path | None = None,
               testing: bool = False) -> Flask:
    """Build the web application.

    Parameters
    ----------
    workdir
        Folder for uploads and results (default: a new temporary folder, ``app.config
        ["SENSITIZE_TEMP_WORKDIR"]`` is then true so the CLI removes it on exit).
    max_upload_mb
        Largest accepted request (uploads), in MiB; larger ones get a friendly 413 page.
    db
        Optional DuckDB results store (:class:`sensitize.store.ResultsStore`) in which every
        finished run is recorded.
    testing
        Flask testing mode.
    """
    app = Flask(__name__)
    temp = workdir is None
    wd = Path(tempfile.mkdtemp(prefix="sensitize-app-")) if workdir is None else Path(workdir)
    wd.mkdir(parents=True, exist_ok=True)
    app.config.update(
        MAX_CONTENT_LENGTH=int(max_upload_mb * 1024 * 1024),
        SENSITIZE_WORKDIR=wd.resolve(),
        SENSITIZE_TEMP_WORKDIR=temp,
        SENSITIZE_MAX_UPLOAD_MB=max_upload_mb,
        SENSITIZE_DB=Path(db).resolve() if db else None,
        TESTING=testing,
        TEMPLATES_AUTO_RELOAD=False,
    )
    manager = JobManager(make_runners(Path(db).resolve() if db else None))
    app.extensions["sensitize_jobs"] = manager

    # ---- helpers --------------------------------------------------------------------------

    def get_job(job_id: str) -> Job:
        if not _JOB_ID.match(job_id):
            abort(404)
        job = manager.get(job_id)
        if job is None:
            abort(404)
        return job

    def render_index(error: str | None = None, status: int = 200, form: dict[str, str] | None = None) -> tuple[str, int]:
        from sensitize.cohort.signatures import BUILTIN

        return render_template(
            "index.html", error=error, form=form or {}, kinds_ext=", ".join(e.lstrip(".") for e in ALLOWED_EXTENSIONS),
            max_mb=max_upload_mb, response_kinds=RESPONSE_KINDS, signatures=list(BUILTIN),
            jobs=manager.list()[:10], accept=",".join(ALLOWED_EXTENSIONS)), status

    def save_upload(fs: FileStorage, dest: Path) -> tuple[Path, str]:
        original = fs.filename or ""
        if not original:
            raise UploadError("no file was chosen")
        check_extension(original)
        name = secure_filename(original) or f"upload{Path(original).suffix.lower()}"
        if Path(name).suffix.lower() != Path(original).suffix.lower():
            name = f"{Path(name).stem or 'upload'}{Path(original).suffix.lower()}"
        dest.mkdir(parents=True, exist_ok=True)
        path = dest / name
        fs.save(path)
        validate_upload(path, original)
        return path, name

    def start(kind: str, inputs: dict[str, Path], names: dict[str, str], options: dict[str, Any],
              job_id: str, parent: str | None = None) -> Job:
        job = Job(id=job_id, kind=kind, inputs=inputs, names=names, options=options,
                  dir=wd / "jobs" / job_id, parent=parent)
        job.dir.mkdir(parents=True, exist_ok=True)
        return manager.add(job)

    # ---- security headers -------------------------------------------------------------------

    @app.after_request
    def headers(resp: Response) -> Response:
        resp.headers.setdefault("Content-Security-Policy", _CSP)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "no-referrer")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        return resp

    # ---- pages --------------------------------------------------------------------------------

    @app.get("/")
    def index() -> Any:
        return render_index()

    @app.post("/upload")
    def upload() -> Any:
        form = {k: v for k, v in request.form.items()}
        kind = form.get("kind", "auto")
        if kind not in ("auto", "screen", "invivo", "cohort"):
            return render_index(f"unknown kind of data {kind!r}", 400, form)
        job_id = new_job_id()
        updir = wd / "uploads" / job_id
        options: dict[str, Any] = {}
        options["report"] = not form.get("no_report")
        try:
            if kind == "cohort":
                fe, fc = request.files.get("expression"), request.files.get("clinical")
                if fe is None or not fe.filename or fc is None or not fc.filename:
                    raise UploadError("a cohort needs two files: the expression matrix and the clinical table")
                pe, ne = save_upload(fe, updir / "expression")
                pc, nc = save_upload(fc, updir / "clinical")
                inputs, names = {"expression": pe, "clinical": pc}, {"expression": ne, "clinical": nc}
                for k in ("biomarkers", "signatures", "sample_col", "os_time", "os_event", "response_col"):
                    options[k] = form.get(k, "").strip()
                options["signatures"] = ",".join(request.form.getlist("signatures"))
                options["permutations"] = _int(form.get("permutations"), 1000, 0, 100000, "permutations")
            else:
                f = request.files.get("file")
                if f is None or not f.filename:
                    raise UploadError("no file was chosen: pick a file to upload")
                path, name = save_upload(f, updir)
                inputs, names = {"file": path}, {"file": name}
                if kind == "auto":
                    detected = detect_kind(path)
                    if detected is None:
                        raise UploadError(
                            f"{name!r}: could not tell whether this is a combination screen or an in vivo study "
                            "from its columns; choose the kind of data and upload it again (you will then be "
                            "asked to map its columns)")
                    kind = detected
                if kind == "screen":
                    rk = form.get("response_kind", "")
                    if rk and rk not in RESPONSE_KINDS:
                        raise UploadError(f"unknown response kind {rk!r}")
                    options["response_kind"] = rk
                    options["n_boot"] = _int(form.get("n_boot"), 100, 0, 10000, "bootstrap iterations")
                else:
                    options["control"] = form.get("control", "").strip()
                    options["tgi_day"] = form.get("tgi_day", "").strip()
                    options["endpoint"] = form.get("endpoint", "").strip()
                    options["n_boot"] = _int(form.get("invivo_n_boot"), 1000, 0, 100000, "bootstrap draws")
        except UploadError as exc:
            shutil.rmtree(updir, ignore_errors=True)
            return render_index(str(exc), 400, form)
        job = start(kind, inputs, names, options, job_id)
        return redirect(url_for("job_page", job_id=job.id), code=303)

    @app.post("/demo")
    def demo() -> Any:
        job_id = new_job_id()
        src = bundled("examples", "mathews_screening_data.csv")
        dest = wd / "uploads" / job_id
        dest.mkdir(parents=True, exist_ok=True)
        path = dest / src.name
        shutil.copyfile(src, path)
        job = start("screen", {"file": path}, {"file": src.name}, {"response_kind": "viability", "n_boot": 100}, job_id)
        return redirect(url_for("job_page", job_id=job.id), code=303)

    @app.get("/jobs")
    def jobs() -> Any:
        return render_template("jobs.html", jobs=manager.list())

    @app.get("/jobs/<job_id>")
    def job_page(job_id: str) -> Any:
        job = get_job(job_id)
        if job.state == "needs_mapping":
            return redirect(url_for("mapping", job_id=job.id))
        if job.state == "failed":
            return render_template("failed.html", job=job), 422
        if job.state != "done" or job.outcome is None:
            return render_template("progress.html", job=job)
        return render_results(job)

    def render_results(job: Job) -> Any:
        out = job.outcome
        assert out is not None
        ctx: dict[str, Any] = {"job": job, "out": out, "tables": sorted(out.tables),
                               "report_html": "report.html" in out.files}
        res = out.analysis
        if job.kind == "screen":
            models = [m for m in plots.MODELS if f"{m}_synergy" in res.table.columns]
            by = request.args.get("by", f"{models[0]}_synergy" if models else "")
            if by not in res.table.columns:
                by = f"{models[0]}_synergy" if models else res.table.columns[0]
            ranked = res.ranked(by) if not res.table.empty else res.table
            cols = [c for c in _SCREEN_COLS if c in ranked.columns]
            if by not in cols:
                cols.insert(4, by)
            ctx.update(ranked=_fmt_table(ranked[cols]), ranked_name="blocks", by=by, models=models,
                       blocks=plots.block_choices(res),
                       rejected=_fmt_table(res.rejected) if len(res.rejected) else None,
                       plots_list=[("ranking", "Ranking")])
        elif job.kind == "invivo":
            t = res.response.groups if len(res.response.groups) else res.growth_rates_table()
            ctx.update(ranked=_fmt_table(t), ranked_name="response_groups" if len(res.response.groups) else "growth_rates",
                       extra_tables=[("Growth rates (mixed model)", _fmt_table(res.growth_rates_table())),
                                     ("Synergy", _fmt_table(res.synergy.table, 12) if res.synergy is not None else None)],
                       plots_list=[("growth", "Tumour growth"), ("km", "Kaplan-Meier")])
        else:
            t = res.table.sort_values("wald_p") if "wald_p" in res.table.columns else res.table
            ctx.update(ranked=_fmt_table(t), ranked_name="survival",
                       extra_tables=[("Response (AUC)", _fmt_table(res.response) if len(res.response) else None)],
                       plots_list=[("forest", "Hazard ratios"), ("auc", "Response AUC")])
        return render_template("results.html", **ctx)

    @app.get("/jobs/<job_id>/status")
    def status(job_id: str) -> Any:
        job = get_job(job_id)
        return jsonify(job.status())

    @app.route("/jobs/<job_id>/mapping", methods=["GET", "POST"])
    def mapping(job_id: str) -> Any:
        job = get_job(job_id)
        if job.state != "needs_mapping" or job.mapping is None:
            return redirect(url_for("job_page", job_id=job.id))
        req = job.mapping
        error = None
        if request.method == "POST":
            chosen = {f.name: request.form.get(f"map_{f.name}", "") for f in req.fields}
            bad = [v for v in chosen.values() if v and v not in req.columns]
            missing = [f.label for f in req.fields if f.required and not chosen.get(f.name)]
            picked = [v for v in chosen.values() if v]
            dup = sorted({v for v in picked if picked.count(v) > 1})
            options = dict(job.options)
            options["mapping"] = chosen
            if job.kind == "screen":
                rk = request.form.get("response_kind", "")
                unit = request.form.get("conc_unit", "")
                if rk not in RESPONSE_KINDS:
                    error = "choose what the response column measures (viability, inhibition or induction)"
                elif not chosen.get("conc_unit") and unit not in CONC_UNITS:
                    error = "choose the concentration unit (or a column holding it)"
                options["response_kind"] = rk
                options["conc_unit"] = unit
            if bad:
                error = f"unknown column(s) {bad}"
            elif missing:
                error = "map every required field: " + "; ".join(missing)
            elif dup:
                error = f"each column can be mapped once; used more than once: {', '.join(dup)}"
            if error is None:
                new = start(job.kind, job.inputs, job.names, options, new_job_id(), parent=job.id)
                return redirect(url_for("job_page", job_id=new.id), code=303)
            for f in req.fields:
                f.guess = chosen.get(f.name) or None
        try:
            pv = _fmt_table(preview(job.inputs["file"]), 5)
        except Exception:
            pv = None
        return render_template("mapping.html", job=job, req=req, error=error, preview=pv,
                               response_kinds=RESPONSE_KINDS, units=CONC_UNITS,
                               chosen_rk=request.form.get("response_kind", job.options.get("response_kind", "")),
                               chosen_unit=request.form.get("conc_unit", "")), (400 if error else 200)

    @app.get("/jobs/<job_id>/plot/<name>")
    def plot(job_id: str, name: str) -> Any:
        job = get_job(job_id)
        if job.state != "done" or job.outcome is None:
            abort(404)
        res = job.outcome.analysis
        try:
            if job.kind == "screen":
                if res.table.empty:
                    abort(404)
                if name == "ranking":
                    fig = plots.ranking(res, request.args.get("by", "ZIP_synergy"))
                else:
                    bid, ro = plots.find_block(res, request.args.get("block"))
                    if name == "landscape":
                        model = request.args.get("model", "ZIP")
                        kind = request.args.get("kind", "heatmap")
                        if model not in plots.MODELS or kind not in ("heatmap", "surface"):
                            abort(400)
                        fig = plots.landscape(res, bid, ro, model=model, kind=kind)
                    elif name == "dose_response":
                        fig = plots.dose_response(res, bid, ro)
                    else:
                        abort(404)
            elif job.kind == "invivo":
                figs = {"growth": plots.growth_curves, "km": plots.kaplan_meier}
                if name not in figs:
                    abort(404)
                fig = figs[name](res)
            else:
                figs = {"forest": plots.forest, "auc": plots.response_auc}
                if name not in figs:
                    abort(404)
                fig = figs[name](res)
        except KeyError:
            abort(404)
        return Response(fig.to_json(), mimetype="application/json")

    @app.get("/jobs/<job_id>/download/<name>")
    def download(job_id: str, name: str) -> Any:
        job = get_job(job_id)
        out = job.outcome
        if out is None:
            abort(404)
        stem = name.removesuffix(".csv")
        if name.endswith(".csv") and stem in out.tables:
            path = out.tables[stem]
        elif name in out.files:
            path = out.files[name]
        else:
            abort(404)
        path = Path(path).resolve()
        if not path.is_relative_to(job.dir.resolve()) or not path.is_file():
            abort(404)
        return send_file(path, as_attachment=True, download_name=f"{job.id[:6]}_{path.name}")

    @app.get("/jobs/<job_id>/report")
    def report(job_id: str) -> Any:
        job = get_job(job_id)
        out = job.outcome
        if out is None:
            abort(404)
        fmt = request.args.get("format", "html")
        if fmt == "html" and "report.html" in out.files:
            return send_file(out.files["report.html"], mimetype="text/html", as_attachment=True,
                             download_name=f"sensitize_report_{job.id[:6]}.html")
        if fmt == "pdf" and out.report is not None:
            pdf = job.dir / "report.pdf"
            try:
                if not pdf.exists():
                    out.report.write_pdf(pdf)
            except Exception as exc:
                log.exception("job %s: PDF report failed", job.id)
                return render_template("message.html", title="PDF report unavailable",
                                       message=f"The PDF report could not be written ({type(exc).__name__}). "
                                               "Download the HTML report instead.", job=job), 503
            return send_file(pdf, mimetype="application/pdf", as_attachment=True,
                             download_name=f"sensitize_report_{job.id[:6]}.pdf")
        note = out.report_note or "report unavailable"
        return render_template("message.html", title="Report unavailable", message=note, job=job), 503

    @app.get("/static/vendor/plotly.min.js")
    def plotly_bundle() -> Any:
        resp = Response(plotly_js(), mimetype="application/javascript")
        resp.headers["Cache-Control"] = "public, max-age=86400"
        return resp

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify({"ok": True, "jobs": len(manager.jobs)})

    # ---- errors -------------------------------------------------------------------------------

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(exc: RequestEntityTooLarge) -> Any:
        return render_template("message.html", title="File too large",
                               message=f"The upload is larger than the limit of {max_upload_mb:g} MB. "
                                       "Start the app with a larger --max-upload-mb, or upload a smaller file.",
                               job=None), 413

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        return render_template("message.html", title=f"{exc.code} {exc.name}",
                               message=exc.description or "", job=None), exc.code or 500

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        log.exception("unexpected error serving %s", request.path)
        return render_template("message.html", title="Something went wrong",
                               message="The page could not be shown because of an unexpected error; the details "
                                       "were written to the server log. The app is still running.", job=None), 500

    app.jinja_env.filters["tojson_compact"] = lambda v: json.dumps(v, separators=(",", ":"))
    return app


def _int(v: str | None, default: int, lo: int, hi: int, what: str) -> int:
    if v is None or str(v).strip() == "":
        return default
    try:
        x = int(str(v).strip())
    except ValueError:
        raise UploadError(f"{what} must be a whole number, not {v!r}") from None
    if not lo <= x <= hi:
        raise UploadError(f"{what} must be between {lo} and {hi}")
    return x


class ServerThread:
    """The app served by werkzeug's threaded server in a background thread.

    Parameters
    ----------
    app
        The Flask application.
    host, port
        Address to bind (``port=0``: a free port, see :attr:`port`).
    """

    def __init__(self, app: Flask, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        try:
            self.server: BaseWSGIServer = make_server(host, port, app, threaded=True)
        except SystemExit:  # werkzeug prints the reason and exits when it cannot bind
            raise OSError(f"cannot bind {host}:{port} (address in use or not available)") from None
        self.host = host
        self.port = int(self.server.server_port)
        self._thread = threading.Thread(target=self.server.serve_forever, name="sensitize-app", daemon=True)

    @property
    def url(self) -> str:
        """Base URL of the running server."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> ServerThread:
        """Start serving in the background."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the server and the job worker."""
        self.server.shutdown()
        self._thread.join(timeout=10)
        self.server.server_close()
        manager = self.app.extensions.get("sensitize_jobs")
        if isinstance(manager, JobManager):
            manager.shutdown()

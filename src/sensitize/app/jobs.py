"""Background analysis jobs of the web app.

A :class:`JobManager` runs one job at a time in a worker thread; the web pages poll a
job's :meth:`Job.status`.  A job ends ``done``, ``failed`` (with a user-facing message, the
traceback only in the server log) or ``needs_mapping`` (the reader did not recognise the
file's columns: the app then asks the user to map them and starts a new job).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sensitize.core.errors import InputError

log = logging.getLogger("sensitize.app")

#: Job states.
STATES = ("queued", "running", "done", "failed", "needs_mapping")


@dataclass
class MappingField:
    """One canonical column the user may map a file column to."""

    name: str
    label: str
    required: bool
    guess: str | None = None
    help: str = ""


@dataclass
class MappingRequest:
    """What the mapping form needs: the file's columns and the canonical fields."""

    reason: str
    columns: list[str]
    fields: list[MappingField]
    role: str = "file"


class NeedsMapping(Exception):
    """Raised by a runner when the user must map the file's columns."""

    def __init__(self, request: MappingRequest) -> None:
        super().__init__(request.reason)
        self.request = request


@dataclass
class Outcome:
    """What a finished analysis leaves for the results page."""

    analysis: Any
    summary: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tables: dict[str, Path] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    report: Any = None
    report_note: str = ""
    run_id: int | None = None


@dataclass
class Job:
    """One analysis of uploaded files."""

    id: str
    kind: str
    inputs: dict[str, Path]
    names: dict[str, str]
    options: dict[str, Any]
    dir: Path
    state: str = "queued"
    stage: str = "queued"
    progress: float = 0.0
    message: str = ""
    mapping: MappingRequest | None = None
    outcome: Outcome | None = None
    created: float = field(default_factory=time.time)
    finished: float | None = None
    parent: str | None = None

    def set_stage(self, stage: str, progress: float) -> None:
        """Record the current stage and a progress fraction in [0, 1]."""
        self.stage = stage
        self.progress = float(min(max(progress, 0.0), 1.0))

    def status(self) -> dict[str, Any]:
        """JSON-serialisable status for the polling endpoint."""
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "stage": self.stage,
            "progress": round(self.progress, 3),
            "message": self.message,
            "elapsed": round((self.finished or time.time()) - self.created, 1),
        }

    @property
    def title(self) -> str:
        """A short description: the kind and the uploaded file names."""
        return f"{self.kind}: {', '.join(self.names.values())}"


Runner = Callable[[Job], Outcome]


def new_job_id() -> str:
    """A random 16-hex-digit job id."""
    return secrets.token_hex(8)


def user_message(exc: BaseException) -> str:
    """A one-paragraph message for an exception (never a traceback)."""
    if isinstance(exc, InputError):
        return str(exc)
    if isinstance(exc, ImportError):
        return f"a library needed to read this file is missing ({exc}); for Excel 97-2003 .xls files, save the sheet as .xlsx or CSV"
    if isinstance(exc, FileNotFoundError):
        return "an uploaded file is missing from the work folder; upload it again"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    detail = f": {text[:300]}" if text else ""
    return (f"the analysis stopped with an unexpected error ({type(exc).__name__}{detail}). "
            "The details were written to the server log.")


class JobManager:
    """Jobs keyed by id, run one at a time in a background thread."""

    def __init__(self, runners: dict[str, Runner], workers: int = 1) -> None:
        self.runners = runners
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sensitize-job")

    def add(self, job: Job) -> Job:
        """Register and start ``job``."""
        with self._lock:
            self.jobs[job.id] = job
        self._pool.submit(self._run, job)
        return job

    def get(self, job_id: str) -> Job | None:
        """The job with this id, or ``None``."""
        with self._lock:
            return self.jobs.get(job_id)

    def list(self) -> list[Job]:
        """All jobs, newest first."""
        with self._lock:
            return sorted(self.jobs.values(), key=lambda j: j.created, reverse=True)

    def wait(self, job_id: str, timeout: float = 60.0) -> Job:
        """Block until the job leaves the queued/running states (tests, scripts)."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if job is None:
                raise KeyError(job_id)
            if job.state not in ("queued", "running"):
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job.state} after {timeout} s")
            time.sleep(0.02)

    def shutdown(self) -> None:
        """Stop accepting jobs and wait for the running one."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self, job: Job) -> None:
        job.state = "running"
        job.set_stage("starting", 0.01)
        runner = self.runners[job.kind]
        try:
            job.outcome = runner(job)
        except NeedsMapping as nm:
            job.mapping = nm.request
            job.message = nm.request.reason
            job.state = "needs_mapping"
        except InputError as exc:
            log.info("job %s: input error: %s", job.id, exc)
            job.message = user_message(exc)
            job.state = "failed"
        except Exception as exc:
            log.exception("job %s (%s) failed", job.id, job.title)
            job.message = user_message(exc)
            job.state = "failed"
        else:
            job.state = "done"
            job.set_stage("finished", 1.0)
        finally:
            job.finished = time.time()

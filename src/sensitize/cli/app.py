"""``sensitize app``: the local web app (upload, analyse, explore, download)."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import shutil
import signal
import sys
import threading
from pathlib import Path
from types import FrameType


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``app`` command."""
    p = subparsers.add_parser(
        "app", help="start the local web app",
        description="Serve the sensitize web app: upload a screen, an in vivo study or a cohort, "
        "follow the analysis and download tables and the report.  Everything stays on this machine.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8050, help="port (default 8050; 0 = any free port)")
    p.add_argument("--max-upload-mb", type=float, default=50.0, help="largest upload in MB (default 50)")
    p.add_argument("--workdir", help="folder for uploads and results (default: a temporary folder removed on exit)")
    p.add_argument("--db", help="record every finished run in this DuckDB results store")
    p.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    from sensitize.app import ServerThread, create_app
    from sensitize.core.errors import InputError

    if args.max_upload_mb <= 0:
        raise InputError("--max-upload-mb must be positive")
    if not 0 <= args.port <= 65535:
        raise InputError("--port must be between 0 and 65535")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(args.workdir, max_upload_mb=args.max_upload_mb, db=args.db)
    try:
        server = ServerThread(app, host=args.host, port=args.port)
    except OSError as exc:
        raise InputError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = args.host == "localhost"
    if not loopback:
        print(f"WARNING: serving on {args.host}: other machines can reach the app and upload files; "
              "there is no authentication.", file=sys.stderr)
    wd = app.config["SENSITIZE_WORKDIR"]
    print(f"sensitize app on {server.url}  (work folder: {wd}; Ctrl+C to stop)", flush=True)

    def _term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _term)  # a plain `kill` also removes the temporary work folder
    try:
        server.server.serve_forever()
    except KeyboardInterrupt:
        print("stopping", file=sys.stderr)
    finally:
        server.server.server_close()
        manager = app.extensions.get("sensitize_jobs")
        if manager is not None:
            manager.shutdown()
        if app.config["SENSITIZE_TEMP_WORKDIR"]:
            shutil.rmtree(Path(wd), ignore_errors=True)
    return 0

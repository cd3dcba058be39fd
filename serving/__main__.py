"""``python -m serving``: the recommendation API on uvicorn (what ``make serve`` runs).

Every option has a ``NOWREC_*`` environment variable (serving/settings.py); an option given on
the command line wins. Examples::

    python -m serving --artifacts artifacts                   # 127.0.0.1:8000
    NOWREC_MODE=production NOWREC_API_TOKEN=... python -m serving --host 0.0.0.0 --port 8080
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from engine.bundle import resolve_bundle_dir
from engine.errors import EngineError

log = logging.getLogger("nowrec.api")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m serving",
        description="Serve session-based recommendations over HTTP (FastAPI on uvicorn). "
        "Settings come from NOWREC_* environment variables; these options override them.",
    )
    parser.add_argument("--host", help="address to listen on (NOWREC_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (NOWREC_PORT, default 8000)")
    parser.add_argument(
        "--artifacts",
        help="artifacts root holding 'latest', or one bundle directory "
        "(NOWREC_ARTIFACTS, default artifacts)",
    )
    parser.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help="NOWREC_LOG_LEVEL, default info",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides = {
        name: value
        for name, value in (
            ("host", args.host),
            ("port", args.port),
            ("artifacts", args.artifacts),
            ("log_level", args.log_level),
        )
        if value is not None
    }
    logging.basicConfig(
        level=(args.log_level or "info").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Imported here so that --help answers at once.
    import uvicorn

    from serving.app import create_app
    from serving.http_protocol import deadline_protocol
    from serving.model_manager import artifacts_path
    from serving.product_updates.updater import check_product_log
    from serving.settings import Settings, describe_invalid

    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        log.error("invalid settings: %s", describe_invalid(exc))
        return 2
    logging.getLogger().setLevel(settings.log_level.upper())
    try:
        app = create_app(settings)
        resolve_bundle_dir(artifacts_path(settings.artifacts))  # a clear message before uvicorn
        check_product_log(settings)  # a log another process holds, or one that cannot be made
    except EngineError as exc:
        log.error("%s", exc)
        return 2
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=settings.access_log,
        limit_concurrency=settings.max_connections,
        # httptools (C) with a deadline per request: slow clients cannot hold every
        # connection slot; uvloop: both cut the server's own CPU per request
        http=deadline_protocol(settings.http_request_timeout_s),
        loop="uvloop",
        timeout_keep_alive=settings.http_keep_alive_s,
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

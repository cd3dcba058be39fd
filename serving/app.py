"""The FastAPI application: ``create_app(settings)``.

The app factory checks the settings; the ``lifespan`` loads the heavy parts (the model bundle,
verified and memory-mapped; the session store; the reload watcher and, when asked, the embedded
Kafka consumer) before the first request and closes them at shutdown. Routers live in
:mod:`serving.api`, one per resource.

Concurrency: the read routes (recommendations, similar products) are ``async`` and call the
engine on the event loop: the engine is CPU-bound and holds the GIL most of the time, so worker
threads would not run it in parallel, only add a thread hop and GIL hand-offs (measured by
benchmarks/serve_load.py). Their only blocking I/O, a Redis session read, goes to a worker
thread. The write and admin routes are plain ``def`` routes in AnyIO's worker threads, bounded
by ``worker_threads``. Scale out with processes (pods), one core each.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from wsgiref.simple_server import WSGIServer

import anyio.to_thread
from fastapi import FastAPI
from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

from engine.bundle import MANIFEST
from engine.errors import ConfigError
from serving.api import admin, events, health, products, recommendations, sessions
from serving.api.errors import install_error_handlers
from serving.api.recommendations import FAST_PATH, serve_fast
from serving.api_metrics import ApiMetrics, default_api_metrics
from serving.console import install_web
from serving.experiments import read_config
from serving.metrics import LiveMetrics, default_metrics
from serving.middleware import BodyLimitMiddleware, RequestMetricsMiddleware
from serving.model_manager import artifacts_path
from serving.settings import Settings, get_settings
from serving.state import AppState

log = logging.getLogger("nowrec.api")

API_VERSION = "1"
#: Shortest bearer token production mode accepts (development accepts 16).
PRODUCTION_TOKEN_CHARS = 32


def check_settings(settings: Settings) -> None:
    """Refuse settings the service must not start with.

    Raises:
        ConfigError: production mode without a good token, an artifacts URI that cannot be
            served, or an invalid experiments file (every problem listed).
    """
    if settings.mode == "production":
        token = settings.api_token.get_secret_value() if settings.api_token else None
        if token is None:
            raise ConfigError(
                "production mode needs a bearer token for the write and admin endpoints: set "
                f"NOWREC_API_TOKEN ({PRODUCTION_TOKEN_CHARS}+ characters, e.g. `openssl rand "
                "-hex 32`), or NOWREC_MODE=development on a workstation"
            )
        if len(token) < PRODUCTION_TOKEN_CHARS or not token.strip():
            raise ConfigError(
                f"production mode needs a token of at least {PRODUCTION_TOKEN_CHARS} characters "
                f"that are not all whitespace (got {len(token)} characters); generate one with "
                "`openssl rand -hex 32`"
            )
    settings.check_clients(kafka=settings.uses_kafka)
    root = artifacts_path(settings.artifacts)
    if settings.experiments_file:  # every problem of the file, before anything starts
        read_config(Path(settings.experiments_file), lambda v: (root / v / MANIFEST).is_file())


def serve_metrics(settings: Settings, registry: CollectorRegistry) -> WSGIServer | None:
    """Start the metrics' own HTTP server when ``settings.metrics_port`` asks for one.

    Returns:
        The server (its thread is a daemon; call ``shutdown()``), or ``None`` when the
        metrics are served on the API's port or not at all.

    Raises:
        ConfigError: the port cannot be bound.
    """
    if not settings.metrics_port:
        return None
    try:
        server, _thread = start_http_server(
            settings.metrics_port, addr=settings.host, registry=registry
        )
    except OSError as exc:
        raise ConfigError(
            f"cannot serve metrics on {settings.host}:{settings.metrics_port} ({exc}): choose "
            "another NOWREC_METRICS_PORT, or unset it to serve GET /metrics on the API's port"
        ) from exc
    log.info("metrics on http://%s:%d/metrics", settings.host, settings.metrics_port)
    return server


class NowrecAPI(FastAPI):
    """The FastAPI app, with GET /v1/recommendations answered before the middleware stack
    (serving/api/recommendations.py's :func:`serve_fast`; the route stays registered: it is
    documented, and answers when ``settings.fast_recommendations`` is off)."""

    async def __call__(self, scope, receive, send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == FAST_PATH
            and scope["method"] == "GET"
            and self.state.settings.fast_recommendations
            and not (self.state.settings.cors_origins and _has_origin(scope))
        ):
            await serve_fast(self, scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _has_origin(scope) -> bool:
    """A browser's cross-origin request: it needs the CORS middleware's headers, so it takes
    the middleware stack instead of the fast path."""
    return any(name == b"origin" for name, _ in scope["headers"])


def create_app(
    settings: Settings | None = None, *, registry: CollectorRegistry | None = None
) -> FastAPI:
    """The service's ASGI app.

    Args:
        settings: default: the process's settings (``get_settings()``, the environment).
        registry: Prometheus registry of this app's metrics; default: the process registry
            (tests pass a fresh ``CollectorRegistry`` per app).

    Raises:
        ConfigError: settings the service refuses (see :func:`check_settings`). The bundle is
            loaded when the app starts (its lifespan), which fails if none can be served.
    """
    settings = settings or get_settings()
    check_settings(settings)
    if registry is None or registry is REGISTRY:
        registry, live_metrics, api_metrics = REGISTRY, default_metrics(), default_api_metrics()
    else:
        live_metrics, api_metrics = LiveMetrics(registry), ApiMetrics(registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The bundle is verified (sha256 of every file) and loaded off the event loop.
        state = await anyio.to_thread.run_sync(
            AppState.build, settings, live_metrics, api_metrics, registry
        )
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        if settings.api_token is None:
            log.warning(
                "no NOWREC_API_TOKEN: the write and admin endpoints are open "
                "(development mode); set a token before exposing the service"
            )
        app.state.nowrec = state
        try:
            metrics_server = serve_metrics(settings, registry)
        except BaseException:
            await anyio.to_thread.run_sync(state.close)
            raise
        state.start()
        try:
            yield
        finally:
            if metrics_server is not None:
                metrics_server.shutdown()
                metrics_server.server_close()
            await anyio.to_thread.run_sync(state.close)

    app = NowrecAPI(
        title="nowrec",
        summary="Session-based real-time product recommendations.",
        version=API_VERSION,
        lifespan=lifespan,
        # settings.docs off: no /docs, /redoc nor /openapi.json; the pages themselves are
        # serving/console's, with assets served locally instead of FastAPI's CDN links
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs else None,
        # no OpenTelemetry here (metrics are Prometheus'): off, FastAPI checks its providers
        # on every request otherwise
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    install_error_handlers(app)
    # Added last = outermost: the metrics see every answer, the 413s included.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestMetricsMiddleware, metrics=api_metrics)
    routers = [recommendations.router, products.router, events.router, sessions.router]
    routers += [admin.router, health.router]
    routers += [health.metrics_router] if settings.metrics_port is None else []
    for router in routers:
        app.include_router(router)
    install_web(app, settings)  # the console, /, /docs, /nowrec.js, CORS
    # every route with its methods, for the Allow header of OPTIONS and 405 answers
    app.state.method_routes = [r for r in app.routes if getattr(r, "methods", None)] + [
        r for router in routers for r in router.routes
    ]
    return app

"""What the service shows browsers: the console, ``/``, the API's description without a CDN,
the product-page script, and CORS for shops' pages. :func:`install_web` adds it all to the app
in one place."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from engine.errors import ConfigError
from serving.console.pages import docs_router, root_router
from serving.console.routes import console_router
from serving.settings import Settings

#: Shortest console token production mode accepts (as for the API token).
PRODUCTION_TOKEN_CHARS = 32
#: How long a browser may reuse a preflight's answer (seconds).
CORS_MAX_AGE_S = 600


def install_web(app: FastAPI, settings: Settings) -> None:
    """Add the browser-facing routes the settings ask for, and CORS (outermost middleware, so
    that every answer a browser reads, errors included, carries its headers).

    Raises:
        ConfigError: a console token too short for production mode.
    """
    token = settings.console_token
    if (
        settings.mode == "production"
        and token is not None
        and len(token.get_secret_value().strip()) < PRODUCTION_TOKEN_CHARS
    ):
        raise ConfigError(
            f"production mode needs a console token of at least {PRODUCTION_TOKEN_CHARS} "
            "characters that are not whitespace: generate NOWREC_CONSOLE_TOKEN with "
            "`openssl rand -hex 32`"
        )
    app.include_router(root_router(settings))
    if settings.docs:
        app.include_router(docs_router(app.title, app.openapi_url or "/openapi.json"))
    if settings.console:
        app.include_router(console_router())
    origins = settings.cors_origin_list()
    if origins:
        # A preflight (OPTIONS with Origin and Access-Control-Request-Method) is answered here;
        # a plain OPTIONS still gets the app's 204 with its Allow header.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "HEAD", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=CORS_MAX_AGE_S,
        )

"""Public pages: ``/`` (where to go), ``/nowrec.js`` (the product-page script) and the API's
description at ``/docs`` and ``/redoc`` with their assets served from the ``fastapi-offline``
package (Swagger UI 5 and ReDoc 2, MIT), so that the pages work without internet: no request
leaves for a CDN, a font service or a validator."""

from __future__ import annotations

import functools
from html import escape
from importlib.resources import files as package_files
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response

from serving.console.files import STATIC, file_response, listing

#: Swagger UI and ReDoc, shipped by the pinned fastapi-offline package (pyproject.toml).
DOCS_ASSETS = Path(str(package_files("fastapi_offline") / "static"))
DOCS_STATIC = "/docs/static"
SCRIPT = STATIC / "nowrec.js"


def root_router(settings) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/", response_class=HTMLResponse)
    async def root(request: Request) -> HTMLResponse:
        served = request.app.state.nowrec.models
        version = served.current.version if served.loaded else "no model loaded yet"
        links = [("/console", "the console: the model, the product space, try it, experiments")]
        links = links if settings.console else []
        if settings.docs:
            links += [("/docs", "the API (Swagger UI)"), ("/redoc", "the API (ReDoc)")]
        links += [("/readyz", "readiness"), ("/nowrec.js", "the product-page script")]
        items = "".join(f'<li><a href="{h}">{h}</a>: {escape(t)}</li>' for h, t in links)
        return HTMLResponse(
            "<!doctype html><html lang=en><meta charset=utf-8><title>nowrec</title>"
            "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:46em;margin:3em auto;"
            "padding:0 1em;color:#1d2433}code{background:#eef1f6;padding:0 .3em}</style>"
            f"<body><main><h1>nowrec</h1><p>Serving model <code>{escape(version)}</code>.</p>"
            f"<ul>{items}</ul></main></body></html>"
        )

    @router.get("/nowrec.js")
    async def page_script() -> FileResponse:
        """The drop-in script of a shop's product page (the README's "product-page script")."""
        return file_response({SCRIPT.name: SCRIPT}, SCRIPT.name)

    return router


#: ReDoc 2 draws Redocly's logo in its sidebar from their CDN, with no option to leave it out;
#: the copy served here shows the local favicon instead (tests/integration/test_browser.py
#: checks that the pages ask no other host).
REDOC_JS = "redoc.standalone.js"
_REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"


@functools.cache
def redoc_script() -> bytes:
    return (
        (DOCS_ASSETS / REDOC_JS)
        .read_bytes()
        .replace(_REDOC_LOGO, f"{DOCS_STATIC}/favicon.png".encode())
    )


def docs_router(app_title: str, openapi_url: str) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    assets = listing(DOCS_ASSETS)
    favicon = f"{DOCS_STATIC}/favicon.png"

    @router.get("/docs", response_class=HTMLResponse)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app_title} - Swagger UI",
            swagger_js_url=f"{DOCS_STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_STATIC}/swagger-ui.css",
            swagger_favicon_url=favicon,
            # no badge fetched from the public validator service
            swagger_ui_parameters={"validatorUrl": None},
        )

    @router.get("/redoc", response_class=HTMLResponse)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app_title} - ReDoc",
            redoc_js_url=f"{DOCS_STATIC}/redoc.standalone.js",
            redoc_favicon_url=favicon,
            with_google_fonts=False,
        )

    @router.get(DOCS_STATIC + "/{name}")
    async def docs_asset(name: str) -> Response:
        if name == REDOC_JS:
            return Response(
                redoc_script(),
                media_type="text/javascript; charset=utf-8",
                headers={"Cache-Control": "public, max-age=86400"},
            )
        return file_response(assets, name, max_age_s=86_400)

    return router

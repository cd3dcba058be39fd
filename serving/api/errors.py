"""JSON error responses: every error says what was wrong (and, where it can, what to do).

Every non-2xx answer of the API has the shape of :class:`ErrorOut`::

    {"error": "validation_error", "message": "query parameter k: Input should be less than or
     equal to 100 (got 1000000)", "details": [...]}
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from serving.model_manager import NoModelError
from serving.validation_errors import describe_errors, summary

log = logging.getLogger("nowrec.api")

_WHERE = {"query": "query parameter", "path": "path parameter", "header": "header"}


class ErrorDetail(BaseModel):
    """One problem of a request (validation errors list every field that is wrong)."""

    where: str = Field(description="Which input, e.g. 'query parameter k' or 'body events.0.ts'.")
    message: str
    type: str = Field(description="Machine-readable kind, e.g. 'less_than_equal'.")


class ErrorOut(BaseModel):
    """The body of every error response."""

    error: str = Field(description="Machine-readable code, e.g. 'validation_error', 'not_found'.")
    message: str = Field(description="What was wrong, and what to do about it.")
    details: list[ErrorDetail] | None = None


#: OpenAPI ``responses=`` entries for the errors routes document.
def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorOut, "description": HTTPStatus(code).phrase} for code in codes}


_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    503: "unavailable",
}


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    details: list[ErrorDetail] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorOut(error=code or _CODES.get(status, "error"), message=message, details=details)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers)


def _where(loc: tuple[Any, ...]) -> str:
    if not loc:
        return "request"
    head, *rest = loc
    path = ".".join(str(p) for p in rest)
    if head == "body":
        return f"body {path}" if path else "body"
    return f"{_WHERE.get(str(head), str(head))} {path}".strip()


def describe_validation(exc: RequestValidationError) -> tuple[int, str, list[ErrorDetail]]:
    """(status, message, details) of a validation error: 400 for a body that is not JSON,
    422 otherwise (serving/validation_errors.py words them)."""
    problems = describe_errors(exc.errors(), _where)
    status = 400 if any(p.type == "json_invalid" for p in problems) else 422
    details = [ErrorDetail(where=p.where, message=p.message, type=p.type) for p in problems]
    return status, summary(problems) or "invalid request", details


def validation_error_response(exc: RequestValidationError) -> JSONResponse:
    status, message, details = describe_validation(exc)
    code = "malformed_json" if status == 400 else "validation_error"
    return error_response(status, message, code=code, details=details)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return validation_error_response(exc)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    status = exc.status_code
    if isinstance(exc.detail, str) and exc.detail != HTTPStatus(status).phrase:
        message = exc.detail
    elif status == 404:
        docs = request.app.state.settings.docs
        where = "at /docs" if docs else "in the README's Routes table"
        message = f"no route {request.url.path}; the API is described {where}"
    elif status == 405:
        allow = allowed_methods(request)
        if request.method == "OPTIONS":
            return Response(status_code=204, headers={"Allow": allow})
        message = f"{request.method} is not allowed on {request.url.path}; use {allow}"
        return error_response(405, message, headers={"Allow": allow})
    elif status == 413:
        limit = request.app.state.settings.max_body_bytes
        message = f"request body is over the {limit}-byte limit; send smaller batches"
    else:
        message = HTTPStatus(status).phrase
    return error_response(status, message, headers=getattr(exc, "headers", None))


def allowed_methods(request: Request) -> str:
    """The ``Allow`` header of a path: the methods of every route matching it (a path such as
    /v1/products/{id} has several routes), with HEAD beside GET, and OPTIONS."""
    methods = {"OPTIONS"}
    for route in request.app.state.method_routes:
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


def error_response_for(exc: Exception, method: str, path: str) -> JSONResponse:
    """The answer to an exception a route let through: 503 while there is no model, else a
    logged 500 (for the routes answered outside FastAPI's handlers)."""
    if isinstance(exc, NoModelError):
        return error_response(503, str(exc), code="no_model", headers={"Retry-After": "10"})
    log.error("unexpected error on %s %s", method, path, exc_info=exc)
    return error_response(
        500, "internal error; it was logged, please report it", code="internal_error"
    )


async def _no_model(request: Request, exc: NoModelError) -> JSONResponse:
    return error_response_for(exc, request.method, request.url.path)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    return error_response_for(exc, request.method, request.url.path)


def install_error_handlers(app: FastAPI) -> None:
    """Make every error response of ``app`` an :class:`ErrorOut`."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(NoModelError, _no_model)
    app.add_exception_handler(Exception, _unexpected)

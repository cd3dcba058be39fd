"""GET /v1/recommendations: products for this visitor right now."""

from __future__ import annotations

import time
from typing import Annotated
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError
from starlette.types import Receive, Scope, Send

from engine.recommender import Filters, Recommendation
from serving.api.deps import StateDep
from serving.api.errors import error_response_for, error_responses, validation_error_response
from serving.api.schemas import (
    PRODUCT_ID_DOC,
    SESSION_ID_DOC,
    CategoryName,
    K,
    ProductId,
    RecommendationsOut,
    RecommendedItem,
    SessionId,
)
from serving.sessions import SessionRead
from serving.state import AppState

router = APIRouter(prefix="/v1", tags=["recommendations"])


def reason_for(because: str | None, current: str | None, strategy: str) -> str:
    """The reason shown next to an item, in words."""
    if because is None:
        return "popular right now" if strategy == "popular" else "recommended"
    if strategy == "similar":
        return f"similar to {because}"
    if because == current:
        return f"because you are viewing {because}"
    return f"because you viewed {because}"


def item_dicts(rec: Recommendation, current: str | None) -> list[dict]:
    """The items of an answer (RecommendedItem's fields), as plain data."""
    return [
        {
            "product_id": item_id,
            "score": score,
            "because": because,
            "reason": reason_for(because, current, rec.strategy),
        }
        for item_id, score, because in zip(
            rec.item_ids, rec.scores.tolist(), rec.because, strict=True
        )  # fmt: skip
    ]


def items_of(rec: Recommendation, current: str | None) -> list[RecommendedItem]:
    return [RecommendedItem(**item) for item in item_dicts(rec, current)]


class RecommendationQuery(BaseModel):
    """The query of GET /v1/recommendations, as one model: FastAPI validates it in one call,
    about 0.15 ms less per request than five separate parameters."""

    session_id: SessionId | None = Field(default=None, description=SESSION_ID_DOC)
    product_id: ProductId | None = Field(
        default=None, description=f"The product being viewed. {PRODUCT_ID_DOC}"
    )
    k: K = 20
    category: list[CategoryName] | None = Field(
        default=None, max_length=20, description="Only these categories (repeat for several)."
    )
    exclude_seen: bool = Field(
        default=True, description="Leave out products the session already viewed."
    )


async def read_session(state: AppState, session_id: str | None) -> SessionRead:
    """The session's events: inline for the in-process store; in a worker thread for Redis,
    so a slow or frozen Redis never stalls the event loop."""
    reader = state.sessions
    if session_id is None or state.store.backend == "memory":
        return reader.recent(session_id)
    return await run_in_threadpool(reader.recent, session_id)


def answer(state: AppState, q: RecommendationQuery, session: SessionRead) -> bytes:
    """The JSON answer (RecommendationsOut) for a validated query and its session: the one
    computation behind both ways in (the FastAPI route and :class:`FastRecommendations`)."""
    filters = Filters(
        exclude_seen=q.exclude_seen, categories=frozenset(q.category) if q.category else None
    )
    # the variant is fixed by when the session started, so it stays while allocations move
    started = session.events[0].ts if session.events else None
    choice = state.loop.choose(q.session_id, started)
    rec = choice.recommend(session.events, q.product_id, q.k, filters)
    state.api_metrics.recommendations_of(
        rec.strategy, "true" if session.degraded else "false"
    ).inc()
    rec_id = state.loop.answered(
        choice, rec, session_id=q.session_id, product_id=q.product_id, route="recommendations"
    )
    return orjson.dumps(
        {
            "recommendation_id": rec_id,
            "variant": choice.variant,
            "experiment": choice.experiment,
            "model_version": choice.served.version,
            "strategy": rec.strategy,
            "degraded": session.degraded is not None,
            "degraded_reason": session.degraded,
            "session_id": q.session_id,
            "product_id": q.product_id,
            "session_events": len(session.events),
            "unknown_items": rec.unknown_items,
            "items": item_dicts(rec, q.product_id),
        }
    )


# `async def`, and the engine is called on the event loop: it holds the GIL most of the time,
# so a worker thread would not run it in parallel, only add a thread hop and GIL hand-offs
# (benchmarks/serve_load.py measured 1.66 against 1.92 ms of server CPU per request).
@router.get(
    "/recommendations",
    response_model=RecommendationsOut,
    responses=error_responses(422),
    summary="Products for a visitor's session and the product being viewed",
)
async def recommendations(state: StateDep, q: Annotated[RecommendationQuery, Query()]) -> Response:
    """Served by :func:`serve_fast` in front of the middleware (same validation, same answer,
    same errors, same metrics); this route documents it and answers when that is off."""
    session = await read_session(state, q.session_id)
    return Response(answer(state, q, session), media_type="application/json")


FAST_PATH = "/v1/recommendations"


async def serve_fast(app, scope: Scope, receive: Receive, send: Send) -> None:
    """GET /v1/recommendations without the framework's per-request machinery.

    FastAPI solves the query model's dependencies on every request, and each middleware layer
    adds its own frames: together more CPU than the engine's answer costs to encode
    (benchmarks/serve_load.py). The app (serving/app.py's ``NowrecAPI``) hands this route
    here before its middleware stack: the query string validated by the same
    :class:`RecommendationQuery`, errors formatted as every other validation error
    (serving/api/errors.py), the answer from :func:`answer`, and the request counted in the
    same metrics. ``NOWREC_FAST_RECOMMENDATIONS=false`` leaves the route to FastAPI.
    """
    started = time.perf_counter()
    state: AppState = app.state.nowrec
    status = 200
    try:
        try:
            q = RecommendationQuery.model_validate(_query_params(scope["query_string"]))
            session = await read_session(state, q.session_id)
            body = answer(state, q, session)
        except ValidationError as exc:
            errors = [dict(e, loc=("query", *e["loc"])) for e in exc.errors(include_url=False)]
            response = validation_error_response(RequestValidationError(errors))
        except Exception as exc:
            response = error_response_for(exc, "GET", FAST_PATH)
        else:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        status = response.status_code
        await response(scope, receive, send)
    finally:
        m = state.api_metrics
        m.request_seconds_of("GET", FAST_PATH).observe(time.perf_counter() - started)
        m.requests_of("GET", FAST_PATH, str(status)).inc()


def _query_params(query_string: bytes) -> dict[str, str | list[str]]:
    """The query as FastAPI reads it (``parse_qsl``, blank values kept): the last value of a
    parameter, every value of a list parameter (``category``). Percent-decoding only where
    there is something to decode: the common query has none."""
    params: dict[str, str | list[str]] = {}
    text = query_string.decode("latin-1")
    if "%" in text or "+" in text or ";" in text:
        pairs = parse_qsl(text, keep_blank_values=True)
    else:
        pairs = (p.partition("=")[::2] for p in text.split("&") if p)
    for key, value in pairs:
        if key == "category":
            params.setdefault(key, []).append(value)  # type: ignore[union-attr]
        else:
            params[key] = value
    return params

"""GET /v1/recommendations: products for this visitor right now."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from engine.recommender import Filters, Recommendation
from serving.api.deps import StateDep
from serving.api.errors import error_responses
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


def items_of(rec: Recommendation, current: str | None) -> list[RecommendedItem]:
    return [
        RecommendedItem(
            product_id=item_id,
            score=float(score),
            because=because,
            reason=reason_for(because, current, rec.strategy),
        )
        for item_id, score, because in zip(rec.item_ids, rec.scores, rec.because, strict=True)
    ]


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
    session = await read_session(state, q.session_id)
    filters = Filters(
        exclude_seen=q.exclude_seen, categories=frozenset(q.category) if q.category else None
    )
    # the variant is fixed by when the session started, so it stays while allocations move
    started = session.events[0].ts if session.events else None
    choice = state.loop.choose(q.session_id, started)
    rec = choice.recommend(session.events, q.product_id, q.k, filters)
    state.api_metrics.recommendations.labels(
        rec.strategy, "true" if session.degraded else "false"
    ).inc()
    rec_id = state.loop.answered(
        choice, rec, session_id=q.session_id, product_id=q.product_id, route="recommendations"
    )
    out = RecommendationsOut(
        recommendation_id=rec_id,
        variant=choice.variant,
        experiment=choice.experiment,
        model_version=choice.served.version,
        strategy=rec.strategy,
        degraded=session.degraded is not None,
        degraded_reason=session.degraded,
        session_id=q.session_id,
        product_id=q.product_id,
        session_events=len(session.events),
        unknown_items=rec.unknown_items,
        items=items_of(rec, q.product_id),
    )
    # already validated: serialize once (returning the model would validate it again)
    return Response(out.model_dump_json(), media_type="application/json")

"""GET /v1/recommendations: products for this visitor right now."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from engine.recommender import Filters, Recommendation
from serving.api.deps import ServedDep, StateDep
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


# A plain `def`: the engine is CPU-bound and the store may block on Redis, so requests run in
# the bounded thread pool (worker_threads) instead of on the event loop.
@router.get(
    "/recommendations",
    response_model=RecommendationsOut,
    responses=error_responses(422),
    summary="Products for a visitor's session and the product being viewed",
)
def recommendations(
    state: StateDep,
    served: ServedDep,
    session_id: Annotated[SessionId | None, Query(description=SESSION_ID_DOC)] = None,
    product_id: Annotated[
        ProductId | None, Query(description=f"The product being viewed. {PRODUCT_ID_DOC}")
    ] = None,
    k: Annotated[K, Query()] = 20,
    category: Annotated[
        list[CategoryName] | None,
        Query(max_length=20, description="Only these categories (repeat for several)."),
    ] = None,
    exclude_seen: Annotated[
        bool, Query(description="Leave out products the session already viewed.")
    ] = True,
) -> RecommendationsOut:
    session = state.sessions.recent(session_id)
    filters = Filters(
        exclude_seen=exclude_seen, categories=frozenset(category) if category else None
    )
    rec = served.recommender.recommend(session.events, product_id, k, filters)
    state.api_metrics.recommendations.labels(
        rec.strategy, "true" if session.degraded else "false"
    ).inc()
    return RecommendationsOut(
        model_version=served.version,
        strategy=rec.strategy,
        degraded=session.degraded is not None,
        degraded_reason=session.degraded,
        session_id=session_id,
        product_id=product_id,
        session_events=len(session.events),
        unknown_items=rec.unknown_items,
        items=items_of(rec, product_id),
    )

"""/healthz (alive), /readyz (ready to serve), /metrics (Prometheus; see metrics_router)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from serving.api.deps import StateDep
from serving.api.schemas import (
    CheckOut,
    HealthOut,
    ReadyOut,
)

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut, summary="The process is alive")
async def healthz() -> HealthOut:
    return HealthOut()


@router.get(
    "/readyz",
    response_model=ReadyOut,
    responses={503: {"model": ReadyOut, "description": "Not ready (see the failed checks)"}},
    summary="Ready: model loaded, product updates applied, session store reachable, embedded "
    "consumer running",
)
def readyz(state: StateDep, response: Response) -> ReadyOut:
    checks: dict[str, CheckOut] = {}
    models = state.models
    version = models.current.version if models.loaded else None
    note = f"; last reload refused: {models.last_error}" if models.last_error else ""
    checks["model"] = CheckOut(
        ok=version is not None, detail=f"serving {version}{note}" if version else "no model"
    )
    store = state.store
    try:
        store.ping()
        checks["session_store"] = CheckOut(ok=True, detail=f"{store.backend} answers")
    except Exception as exc:  # any failure means not ready; say which
        checks["session_store"] = CheckOut(ok=False, detail=f"{store.backend}: {exc}")
    updated, detail = state.product_updates.check()
    checks["product_updates"] = CheckOut(ok=updated, detail=detail)
    consumer = state.consumer
    if consumer is not None:
        thread = state.consumer_thread
        alive = thread is not None and thread.is_alive() and consumer.error is None
        if not alive:
            detail = f"stopped: {consumer.error!r}" if consumer.error else "not running"
        elif not consumer.assigned.is_set():
            detail = "joining the consumer group"
        else:
            detail = f"lag {consumer.lag if consumer.lag is not None else 'unknown'} events"
        checks["consumer"] = CheckOut(ok=alive and consumer.assigned.is_set(), detail=detail)
    required = {n for n in checks if n != "session_store" or state.settings.ready_requires_store}
    ready = all(c.ok for n, c in checks.items() if n in required)
    if not ready:
        response.status_code = 503
    return ReadyOut(ready=ready, model_version=version, checks=checks)


#: GET /metrics, on the API's port unless ``metrics_port`` gives the metrics their own.
metrics_router = APIRouter(tags=["health"])


@metrics_router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
    summary="Prometheus metrics",
)
def metrics(state: StateDep) -> Response:
    return Response(generate_latest(state.registry), media_type=CONTENT_TYPE_LATEST)

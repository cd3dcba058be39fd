"""Request and response bodies of the API, and the bounded types of its inputs."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.ids import ID_RULE
from engine.recommender import MAX_K
from serving.events import ProductId as ProductId
from serving.events import SessionId as SessionId
from serving.events import ViewEvent

#: The one limit of events per POST /v1/events (beyond it: 422, as the schema says).
MAX_BATCH_EVENTS = 500
#: Category names: printable text (control characters refused), like the bundles hold.
CategoryName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]
K = Annotated[int, Field(ge=1, le=MAX_K, description=f"How many items, 1..{MAX_K}.")]

PRODUCT_ID_DOC = f"Product id ({ID_RULE}); percent-encoded in a path, '/' as %2F."
SESSION_ID_DOC = f"Visitor session id ({ID_RULE})."


class RecommendedItem(BaseModel):
    """One recommended product."""

    product_id: str
    score: float = Field(description="Higher is better; comparable within one answer only.")
    because: str | None = Field(
        description="The product of the session (or the current one) that contributed most."
    )
    reason: str = Field(description="Why, in words: 'because you viewed 1234'.")


class ServedBy(BaseModel):
    """Which answer this was, for the closed loop (see the README's "Experiments")."""

    recommendation_id: str = Field(
        description="Unique id of this answer: send it back with the click, cart or purchase "
        "event of a product it showed (event field recommendation_id)."
    )
    variant: str = Field(description="The experiment variant that answered ('default' outside).")
    experiment: str | None = Field(default=None, description="The running experiment, if any.")


class RecommendationsOut(ServedBy):
    """Products for this visitor right now, best first."""

    model_version: str
    strategy: str = Field(
        description="session (the session's items), item (the current product only), "
        "cold_start (only products added after training), popular (nothing known or the "
        "popular baseline), holdout (an experiment's no-recommendations control)."
    )
    degraded: bool = Field(description="True when part of the input could not be read.")
    degraded_reason: str | None = Field(
        default=None, description="e.g. 'session store unavailable': answered without it."
    )
    session_id: str | None
    product_id: str | None
    session_events: int = Field(description="Events of the session read from the store.")
    unknown_items: int = Field(description="Session products the model does not know.")
    items: list[RecommendedItem]


class SimilarOut(ServedBy):
    """Products most similar to one product."""

    model_version: str
    product_id: str
    items: list[RecommendedItem]


class ProductIn(BaseModel):
    """Metadata of a product; every field optional. Fields left out keep what the model knew
    (so ``{"available": false}`` only marks a product sold out); ``null`` clears one."""

    model_config = ConfigDict(extra="forbid")

    category: CategoryName | None = None
    brand: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    # strict: a boolean is not a price, and "yes" is not a boolean (the schema's types hold)
    price: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False, strict=True)] | None = None
    title: Annotated[str, Field(max_length=512)] | None = None
    available: bool = Field(
        default=True, strict=True, description="false: never recommended, at once."
    )


class ProductOut(BaseModel):
    """What the served model knows about a product."""

    product_id: str
    category: str | None
    brand: str | None
    price: float | None
    title: str | None
    available: bool
    trained: bool = Field(description="In the training data (false: added since, cold start).")
    model_version: str


class ProductsOut(BaseModel):
    """Several products, as GET /v1/products/{id} describes each."""

    model_version: str
    products: list[ProductOut]
    unknown: list[str] = Field(description="Ids asked for that the model does not know.")


class ProductUpsertOut(ProductOut):
    created: bool = Field(description="The product was new to the model (cold-start vector).")


class EventsIn(BaseModel):
    """A batch of shopper events (schema v1 of serving/events.py)."""

    model_config = ConfigDict(extra="forbid")

    events: list[ViewEvent] = Field(min_length=1, max_length=MAX_BATCH_EVENTS)


class EventsOut(BaseModel):
    """What happened to a batch of events."""

    mode: Literal["embedded", "kafka"]
    accepted: int = Field(description="Events validated and stored (embedded) or produced.")
    applied: int | None = Field(default=None, description="Embedded: events new to their session.")
    duplicates: int | None = Field(
        default=None, description="Embedded: events already stored (sending again is harmless)."
    )


class ForgetOut(BaseModel):
    """What forgetting a session did."""

    session_id: str
    found: bool = Field(description="The session store held events of this session.")
    log_marked: bool = Field(
        description="The forget mark was queued for the impression log (false: the log is "
        "off, or its queue is full: send the request again)."
    )


class ReloadOut(BaseModel):
    """The outcome of a reload check."""

    status: Literal["loaded", "unchanged"]
    version: str
    previous_version: str | None
    bundle: str | None
    experiments: str = Field(
        description="The experiments file: loaded, unchanged, or none (no file set)."
    )


class ModelOut(BaseModel):
    """The served model."""

    version: str
    bundle: str
    artifacts: str
    loaded_at: float = Field(description="Unix time it was loaded.")
    items: int
    dim: int
    sessions: int
    new_items: int = Field(description="Products added since training (cold start).")
    unavailable: int
    upserts: int = Field(
        description="Products updated since training (through this process or the product "
        "log), re-applied to every model loaded."
    )
    reloads: int
    last_reload_error: str | None


class EstimateOut(BaseModel):
    """One metric of one variant, with the session as the unit (95% intervals)."""

    value: float | None
    low: float | None
    high: float | None
    diff: float | None = Field(default=None, description="Against the control.")
    diff_low: float | None = None
    diff_high: float | None = None
    lift: float | None = Field(default=None, description="diff / control's value.")
    p_value: float | None = Field(default=None, description="Welch's t-test, delta method.")


class VariantReportOut(BaseModel):
    name: str
    sessions: int
    impressions: int
    clicks: int
    metrics: dict[str, EstimateOut]


class ExperimentReportOut(BaseModel):
    """An experiment's report (as `python -m pipelines experiment-report --json` prints)."""

    experiment: str
    control: str
    primary: str
    unit: str
    variants: list[VariantReportOut]
    srm_p_value: float | None
    srm_ok: bool | None
    enough_data: bool
    verdict: str
    alpha: float


class ExperimentsOut(BaseModel):
    """The experiments file as the service reads it."""

    file: str | None
    running: str
    experiments: list[str]
    pinned_bundles: list[str]
    last_error: str | None


class HealthOut(BaseModel):
    status: Literal["ok"] = "ok"


class CheckOut(BaseModel):
    ok: bool
    detail: str


class ReadyOut(BaseModel):
    """Readiness: the model is loaded, the store answers, the embedded consumer runs."""

    ready: bool
    model_version: str | None
    checks: dict[str, CheckOut]

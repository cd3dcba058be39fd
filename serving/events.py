"""The live event schema (version 1): what shops send, what Kafka carries, what the stores keep.

One JSON object per event, for example::

    {"v": 1, "session_id": "s-42", "product_id": "1234", "ts": 1700000000.5, "event_type": "view"}

- ``v``: schema version; this code reads 1 (absent means 1). A consumer that meets a newer
  version dead-letters the event instead of guessing, so producers upgrade after consumers.
- ``event_id``: the idempotency key. Optional from the client; when absent it is derived from
  (session_id, product_id, ts, event_type), so a replayed or re-sent event gets the same id and
  applying it twice changes nothing.
- ``session_id``, ``product_id``: ids of the one id policy (:mod:`engine.ids`: 1-200 characters
  of any script, no control or invisible characters); integers are accepted and converted
  (``1234`` -> ``"1234"``).
- ``ts``: unix seconds (number, or a numeric string) or ISO-8601 with a timezone, between
  2000-01-01 and 2100-01-01 UTC; kept to the microsecond.
- ``event_type``: ``view`` by default; ``click``, ``cart`` and ``purchase`` are the outcomes
  of a recommendation (optionally with ``recommendation_id``, ``price`` and ``quantity``), and
  feed the live session like views do (weights in engine/session.py).
- Unknown fields are refused (a typo such as ``productId`` names itself in the error).

:func:`decode` turns raw bytes into a :class:`ViewEvent` or raises
:class:`~serving.errors.MalformedEventError` saying which field is wrong and how to fix it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from engine.ids import (
    EVENT_ID_PATTERN,
    ID_PATTERN,
    ID_RULE,
    MAX_EVENT_ID_CHARS,
    MAX_ID_CHARS,
    check_id,
)
from serving.errors import MalformedEventError
from serving.validation_errors import describe_errors, summary

SCHEMA_VERSION = 1
#: Default bound on one encoded event; a real view event is about 150 bytes.
MAX_EVENT_BYTES = 4096
#: Sane range for ``ts`` (2000-01-01 .. 2100-01-01 UTC), so a unit mistake cannot poison ordering.
TS_MIN = 946_684_800.0
TS_MAX = 4_102_444_800.0

EventType = Literal["view", "click", "cart", "remove_from_cart", "wishlist", "purchase"]
EVENT_TYPES: tuple[str, ...] = EventType.__args__
#: Other names shops use for the same event types.
EVENT_TYPE_ALIASES = {"add_to_cart": "cart", "addtocart": "cart", "transaction": "purchase"}
#: The outcomes of a recommendation (the closed loop): what the experiment report counts.
OUTCOME_TYPES = frozenset({"click", "cart", "purchase"})
#: A recommendation id as the API hands it out (opaque to clients).
RecommendationId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]

# The one id policy (engine/ids.py), the same that training applies to product ids; the
# pattern only documents it in the OpenAPI schema, check_id enforces it (and says why).
_PolicyId = Annotated[
    str,
    Field(min_length=1, max_length=MAX_ID_CHARS, json_schema_extra={"pattern": ID_PATTERN}),
    AfterValidator(check_id),
]
SessionId = _PolicyId
ProductId = _PolicyId
# Event ids: engine/ids.py (an ASCII charset without the stored member's separator).
EventId = Annotated[
    str, Field(min_length=1, max_length=MAX_EVENT_ID_CHARS, pattern=EVENT_ID_PATTERN)
]


#: JSON schema of the id fields of an event: an id of the policy, or an integer (its text).
_ID_OR_INTEGER = WithJsonSchema(
    {
        "anyOf": [
            {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS, "pattern": ID_PATTERN},
            {"type": "integer"},
        ]
    }
)


def _number_or_iso(schema: dict[str, Any]) -> None:
    """JSON schema of ``ts``: unix seconds, or text (ISO-8601 with a timezone, or a number)."""
    number = {k: schema.pop(k) for k in ("type", "minimum", "maximum") if k in schema}
    text = {"type": "string", "minLength": 1, "maxLength": 40, "examples": ["2026-11-22T10:00:00Z"]}
    schema["anyOf"] = [number, text]


class ViewEvent(BaseModel):
    """One live shopper event (a product view by default), validated and normalised."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    v: int = Field(
        default=SCHEMA_VERSION,
        ge=SCHEMA_VERSION,
        le=SCHEMA_VERSION,
        description="Schema version; this service reads 1.",
    )
    event_id: EventId | None = Field(
        default=None,
        description="Idempotency key. Derived from session, product, ts and type when absent.",
    )
    session_id: Annotated[SessionId, _ID_OR_INTEGER] = Field(
        description=f"Visitor session id ({ID_RULE}); integers are accepted."
    )
    product_id: Annotated[ProductId, _ID_OR_INTEGER] = Field(
        description=f"Product id ({ID_RULE}); integers are accepted."
    )
    # The bounds repeat what _parse_ts enforces (with its own messages), so that the OpenAPI
    # schema of POST /v1/events says it too; the upper one is a second early because ts is
    # rounded to the microsecond, which can carry a value just below TS_MAX onto it.
    ts: float = Field(
        ge=TS_MIN,
        le=TS_MAX - 1,
        description="When it happened: unix seconds or ISO-8601 with timezone (2000..2100).",
        json_schema_extra=_number_or_iso,
    )
    event_type: EventType = Field(
        default="view",
        description="view, click (on a recommended product), cart (alias add_to_cart), "
        "purchase, remove_from_cart, wishlist.",
    )
    recommendation_id: RecommendationId | None = Field(
        default=None,
        description="click, cart, purchase: the recommendation_id of the answer the product "
        "was shown in, when the shop can pass it on (otherwise a click is matched to what was "
        "shown to the session in the last 30 minutes).",
    )
    price: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False, strict=True)] | None = Field(
        default=None, description="cart, purchase: unit price (revenue = price x quantity)."
    )
    quantity: Annotated[int, Field(ge=1, le=100_000, strict=True)] | None = Field(
        default=None, description="cart, purchase: how many (1 when absent)."
    )

    @field_validator("event_type", mode="before")
    @classmethod
    def _alias(cls, value: Any) -> Any:
        return EVENT_TYPE_ALIASES.get(value, value) if isinstance(value, str) else value

    @field_validator("v", mode="before")
    @classmethod
    def _known_version(cls, value: Any) -> int:
        if value != SCHEMA_VERSION or isinstance(value, bool):
            raise ValueError(
                f"unsupported schema version {value!r}; this service reads v{SCHEMA_VERSION} "
                "(upgrade the consumer before the producers)"
            )
        return SCHEMA_VERSION

    @field_validator("product_id", "session_id", mode="before")
    @classmethod
    def _int_ids_to_str(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("must be a string or an integer, not a boolean")
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            raise ValueError("must be a string or an integer; send 1234, not 1234.0")
        return value

    @field_validator("ts", mode="before")
    @classmethod
    def _parse_ts(cls, value: Any) -> float:
        return parse_ts(value)

    @model_validator(mode="after")
    def _fill_event_id(self) -> ViewEvent:
        if self.event_id is None:
            self.event_id = derive_event_id(
                self.session_id, self.product_id, self.ts, self.event_type
            )
        return self


def parse_ts(value: Any) -> float:
    """Unix seconds from a number, a numeric string or ISO-8601 text with a timezone.

    Raises ``ValueError`` (pydantic turns it into a field error) with the fix in the message.
    """
    if isinstance(value, bool):
        raise ValueError("must be unix seconds or ISO-8601 text, not a boolean")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > 40:
            raise ValueError("text is longer than 40 characters; send unix seconds or ISO-8601")
        try:
            seconds = float(text)
        except ValueError:
            try:
                when = datetime.fromisoformat(text)
            except ValueError:
                raise ValueError(
                    f"{text!r} is neither unix seconds nor ISO-8601 "
                    "(e.g. 1700000000.5 or 2023-11-14T22:13:20Z)"
                ) from None
            if when.tzinfo is None:
                raise ValueError(
                    f"{text!r} has no timezone; append 'Z' for UTC or an offset like +02:00"
                ) from None
            seconds = when.timestamp()
    else:
        raise ValueError("must be unix seconds (number) or ISO-8601 text")
    if not math.isfinite(seconds):
        raise ValueError("must be a finite number of unix seconds")
    # Microseconds: a float and the ISO text of the same instant then give the same event id.
    seconds = round(seconds, 6)
    if not TS_MIN <= seconds < TS_MAX:
        hint = " (looks like milliseconds; divide by 1000)" if seconds >= TS_MAX * 10 else ""
        raise ValueError(f"{seconds!r} is outside 2000-01-01..2100-01-01 in unix seconds{hint}")
    return seconds


def ahead_of(events: Sequence[ViewEvent], now: float, max_ahead_s: float) -> list[int]:
    """Positions of the events stamped more than ``max_ahead_s`` seconds after ``now``.

    A session is ordered by event time, so one event from the future (a wrong device clock)
    would stay its newest event and hide every real view after it.
    """
    limit = now + max_ahead_s
    return [i for i, e in enumerate(events) if e.ts > limit]


def clamp_future(
    events: Sequence[ViewEvent], now: float, max_ahead_s: float
) -> tuple[list[ViewEvent], int]:
    """The events with those from the future (see :func:`ahead_of`) stamped ``now`` instead,
    and how many were. Their ids, derived from the original time, are kept, so a redelivered
    copy is still recognised as the same event."""
    late = set(ahead_of(events, now, max_ahead_s))
    if not late:
        return list(events), 0
    stamp = round(now, 6)
    fixed = [e.model_copy(update={"ts": stamp}) if i in late else e for i, e in enumerate(events)]
    return fixed, len(late)


def derive_event_id(session_id: str, product_id: str, ts: float, event_type: str) -> str:
    """Deterministic id of an event without one: the same event always gets the same id."""
    key = "\x1f".join((session_id, product_id, repr(float(ts)), event_type)).encode()
    return hashlib.blake2b(key, digest_size=16).hexdigest()


def _describe(error: ValidationError) -> str:
    problems = describe_errors(
        error.errors(include_url=False),
        lambda loc: ".".join(str(p) for p in loc) or "event",
        show_input=False,
        fields=ViewEvent.model_fields,
    )
    return summary(problems, most=len(problems))


def validate_event(data: Any) -> ViewEvent:
    """A :class:`ViewEvent` from already-parsed JSON (a dict), or :class:`MalformedEventError`."""
    try:
        return ViewEvent.model_validate(data)
    except ValidationError as exc:
        raise MalformedEventError(f"malformed event: {_describe(exc)}") from None


def decode(raw: bytes, *, max_bytes: int = MAX_EVENT_BYTES) -> ViewEvent:
    """Parse one encoded event (UTF-8 JSON object) from Kafka or an HTTP body.

    Args:
        raw: the message value as received.
        max_bytes: events longer than this are refused before parsing (a bound on work and
            memory per message).

    Raises:
        MalformedEventError: empty, oversize, not UTF-8 JSON, not an object, or a field invalid;
            the message names the field and the fix.
    """
    if raw is None or len(raw) == 0:
        raise MalformedEventError("malformed event: empty message; send one JSON object")
    if len(raw) > max_bytes:
        raise MalformedEventError(
            f"malformed event: {len(raw)} bytes is over the {max_bytes}-byte limit "
            "(one event is one small JSON object)"
        )
    try:
        return ViewEvent.model_validate_json(raw)
    except ValidationError as exc:
        if exc.errors()[0]["type"] == "json_invalid":
            raise MalformedEventError(
                f"malformed event: not valid UTF-8 JSON ({exc.errors()[0]['msg']})"
            ) from None
        if exc.errors()[0]["type"] == "model_type":
            raise MalformedEventError(
                "malformed event: expected a JSON object like "
                '{"session_id": "s1", "product_id": "p1", "ts": 1700000000}'
            ) from None
        raise MalformedEventError(f"malformed event: {_describe(exc)}") from None


def encode(event: ViewEvent) -> bytes:
    """The wire form of an event (with its event id, so every consumer derives nothing)."""
    return event.model_dump_json().encode()

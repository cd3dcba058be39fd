"""A product update as the product log and topic hold it (schema version 1).

One JSON object per update: the product's whole metadata AFTER the update, so that the newest
record of a product is all there is to know about it (a compacted topic or a compacted file
keeps only that one), and applying a record twice, or an older one before a newer one, ends
in the same state::

    {"v": 1, "product_id": "sofa-new-1", "category": "sofas", "brand": "Nordform",
     "price": 399.0, "title": "Studio Sofa Sand", "available": true, "ts": 1700000000.5}

The metadata fields are those of ``PUT /v1/products/{id}`` (serving/api/schemas.py's
``ProductIn``), with the same bounds; ``ts`` is when the update was accepted. Records read back
are validated like any input: :func:`decode` refuses anything else with a reason from
:data:`SKIP_REASONS`.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import Field, StrictInt, ValidationError, model_validator

from engine.catalog import ProductMetadata
from serving.api.schemas import ProductIn
from serving.errors import MalformedUpdateError
from serving.events import ProductId

SCHEMA_VERSION = 1
#: The longest record: the longest fields in 4-byte UTF-8, with room to spare.
MAX_RECORD_BYTES = 8192
#: Why a record was skipped (the label of ``nowrec_product_log_skipped_total``): a closed set.
SKIP_REASONS = (
    "incomplete",  # the file's last line has no end (a write cut short by a crash)
    "too_long",  # longer than MAX_RECORD_BYTES
    "not_json",  # not UTF-8 JSON, or not an object
    "invalid",  # a field missing, unknown, out of range, or an unknown schema version
    "key_mismatch",  # a topic record whose key is not its product id
    "does_not_fit",  # a new product the catalogue has no room for, or one without metadata
)


class ProductUpdate(ProductIn):
    """One product's metadata after an update (every field present)."""

    v: StrictInt = Field(ge=1, le=1, description="Schema version; this service reads 1.")
    product_id: ProductId
    ts: float = Field(ge=0, allow_inf_nan=False, description="Unix time it was accepted.")

    @model_validator(mode="before")
    @classmethod
    def _every_field(cls, data: Any) -> Any:
        # A record is the whole metadata: a missing field would silently clear it.
        if isinstance(data, dict):
            missing = [f for f in cls.model_fields if f not in data]
            if missing:
                raise ValueError(f"a record holds every field; missing {', '.join(missing)}")
        return data

    @classmethod
    def of(cls, product_id: str, meta: ProductMetadata, ts: float | None = None) -> ProductUpdate:
        return cls(
            v=SCHEMA_VERSION,
            product_id=product_id,
            category=meta.category,
            brand=meta.brand,
            price=meta.price,
            title=meta.title,
            available=meta.available,
            ts=time.time() if ts is None else ts,
        )

    @property
    def metadata(self) -> ProductMetadata:
        return ProductMetadata(self.category, self.brand, self.price, self.title, self.available)


def encode(update: ProductUpdate) -> bytes:
    """The record's bytes: compact JSON, no newline (the file log adds one)."""
    return update.model_dump_json().encode()


def decode(raw: bytes) -> ProductUpdate:
    """Validate one record read back from the log or the topic.

    Raises:
        MalformedUpdateError: with a message and a ``reason`` from :data:`SKIP_REASONS`.
    """
    if len(raw) > MAX_RECORD_BYTES:
        raise MalformedUpdateError(
            f"{len(raw)} bytes is over the {MAX_RECORD_BYTES}-byte limit of a record", "too_long"
        )
    try:
        return ProductUpdate.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        if first["type"] in ("json_invalid", "model_type"):
            raise MalformedUpdateError(f"not a JSON object ({first['msg']})", "not_json") from None
        raise MalformedUpdateError(
            "; ".join(_problem(e) for e in exc.errors(include_url=False)[:5]), "invalid"
        ) from None


def _problem(error: Any) -> str:
    where = ".".join(str(p) for p in error["loc"]) or "record"
    if where == "v":
        return (
            f"v: unsupported schema version {error.get('input')!r}; this service reads "
            f"v{SCHEMA_VERSION} (upgrade every API pod before one writes a newer version)"
        )
    return f"{where}: {error['msg'].removeprefix('Value error, ')}"

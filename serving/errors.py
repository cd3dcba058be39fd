"""Errors only the service raises: its session stores, brokers, product log and live input.

They belong to the project's one hierarchy (engine/errors.py): each derives from
:class:`~engine.errors.EngineError` (or one of its kinds) and mixes in the builtin that fits,
so ``except EngineError`` still catches them; they live here because the engine, a pure
library, never talks to Redis or Kafka nor reads live events.
"""

from __future__ import annotations

from engine.errors import DataError, EngineError


class MalformedEventError(DataError):
    """A live event (Kafka message or API payload) is not valid JSON of the event schema."""


class StoreUnavailableError(EngineError, ConnectionError):
    """The session store (Redis) cannot be reached or timed out; callers degrade, not crash."""


class BrokerUnavailableError(EngineError, ConnectionError):
    """The event broker (Kafka) cannot be reached or did not acknowledge in time."""


class ProductLogError(EngineError, OSError):
    """The product update log (a local file) cannot be opened or written; an update that
    raised this was not applied."""


class MalformedUpdateError(DataError):
    """A product update read back from the product log or topic is not valid JSON of its
    schema; ``reason`` names the kind of fault (a label of a closed set, for metrics)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason

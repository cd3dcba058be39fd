"""The session consumer: Kafka events into the session store (at least once, idempotent).

``loop.py`` is the consumer (decode, apply, dead-letter, commit), used inside the API process
or on its own; ``__main__.py`` is its process, ``python -m serving.consumer``.
"""

from serving.consumer.loop import (
    HEADER_ERROR,
    HEADER_SIZE,
    HEADER_SOURCE,
    HEADER_TRUNCATED,
    ConsumerStats,
    Rejected,
    SessionEventConsumer,
    dead_letter,
    split_batch,
)

__all__ = [
    "HEADER_ERROR",
    "HEADER_SIZE",
    "HEADER_SOURCE",
    "HEADER_TRUNCATED",
    "ConsumerStats",
    "Rejected",
    "SessionEventConsumer",
    "dead_letter",
    "split_batch",
]

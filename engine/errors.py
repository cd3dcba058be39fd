"""One error hierarchy for the whole project.

Every error a user can cause derives from :class:`EngineError` and mixes in the builtin that
fits (faust's habit), so callers may catch either ``EngineError`` or ``KeyError``/``ValueError``.
Messages say what was wrong and what to do next.
"""

from __future__ import annotations


class EngineError(Exception):
    """Root of every error raised on purpose by engine, pipelines and serving."""


class ConfigError(EngineError, ValueError):
    """A setting or argument is out of range or inconsistent."""


class PublishRefusedError(ConfigError):
    """A new model failed a publishing guard (too little data, a shrunken catalogue, a fall in
    quality): ``latest`` was not moved. A configuration-class error (exit status 2: retrying
    the same run cannot help); ``--force`` overrides it."""


class DataError(EngineError, ValueError):
    """Input data is missing, empty, of the wrong type, or otherwise unusable."""


class SchemaError(DataError):
    """Input columns do not match what was asked for (missing column, wrong type)."""


class SourceError(EngineError, RuntimeError):
    """An event or metadata source could not be read (table missing, permission denied...)."""


class UnknownItemError(EngineError, KeyError):
    """An item id is not in the model's vocabulary."""

    def __str__(self) -> str:  # KeyError repr-quotes its message; keep it readable
        return str(self.args[0]) if self.args else "unknown item"


class BundleError(EngineError, RuntimeError):
    """A model bundle is missing, corrupt (checksum mismatch) or of an unsupported schema."""


class IncompatibleBundleError(BundleError):
    """The bundle was written by a newer schema version than this code can read."""


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

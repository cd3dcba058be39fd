"""One error hierarchy for the whole project.

Every error a user can cause derives from :class:`EngineError` and mixes in the builtin that
fits (faust's habit), so callers may catch either ``EngineError`` or ``KeyError``/``ValueError``.
Messages say what was wrong and what to do next. Errors only the service raises (its stores,
brokers, product log, live input) derive from these in serving/errors.py.
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

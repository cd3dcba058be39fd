"""One error hierarchy: the errors only the service raises live in serving/errors.py and
still derive from engine.errors.EngineError (and the builtin that fits)."""

from __future__ import annotations

import engine.errors
from engine.errors import DataError, EngineError
from serving import errors


def test_service_errors_belong_to_the_one_hierarchy_and_are_not_the_engines():
    kinds = {
        errors.StoreUnavailableError: ConnectionError,
        errors.BrokerUnavailableError: ConnectionError,
        errors.ProductLogError: OSError,
        errors.MalformedEventError: DataError,
        errors.MalformedUpdateError: DataError,
    }
    for error, builtin in kinds.items():
        assert issubclass(error, EngineError) and issubclass(error, builtin), error
        assert not hasattr(engine.errors, error.__name__), error
    assert errors.MalformedUpdateError("cut", "incomplete").reason == "incomplete"

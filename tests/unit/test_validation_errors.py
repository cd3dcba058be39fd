"""One formatter of what pydantic refused, for the API, the events and the settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from serving.events import MalformedEventError, validate_event
from serving.settings import Settings, describe_invalid
from serving.validation_errors import Problem, describe_errors, summary


def test_a_settings_error_names_the_variable_and_never_shows_the_value():
    with pytest.raises(ValidationError) as caught:
        Settings(api_token="short-secret", port=70000)
    text = describe_invalid(caught.value)
    assert "NOWREC_API_TOKEN: Value should have at least 16 items" in text
    assert "NOWREC_PORT: Input should be less than or equal to 65535" in text
    assert "short-secret" not in text and "70000" not in text


def test_the_api_shows_the_refused_value_and_the_events_do_not():
    errors = [{"type": "less_than_equal", "loc": ("query", "k"), "msg": "too big", "input": 1000}]
    where = " ".join
    assert describe_errors(errors, where) == [
        Problem("query k", "too big (got 1000)", errors[0]["type"])
    ]
    assert describe_errors(errors, where, show_input=False)[0].message == "too big"


def test_same_kinds_read_the_same_everywhere():
    with pytest.raises(MalformedEventError, match="productId: unknown field; remove it .*fields"):
        validate_event({"session_id": "s", "product_id": "p", "ts": 1.7e9, "productId": "x"})
    with pytest.raises(ValidationError) as caught:
        Settings(store_backend=None)
    problems = [Problem("a", "x", "t")] * 7
    assert summary(problems).endswith("; and 2 more")
    assert "NOWREC_STORE_BACKEND: Input should be 'memory' or 'redis'" in describe_invalid(
        caught.value
    )

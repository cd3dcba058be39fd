"""The one id policy (engine/ids.py): what it accepts, what it refuses and why, and that the
pattern the OpenAPI schema publishes says exactly the same."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ids import ID_PATTERN, MAX_ID_CHARS, InvalidIdError, check_id, id_problem
from serving.events import ViewEvent


@pytest.mark.parametrize(
    "good",
    ["Café 03", "商品-17", "a/b", "a/similar", "a|b", "1234", "x" * MAX_ID_CHARS, " a ", "😀"],
)
def test_any_script_and_punctuation_are_ids(good):
    assert id_problem(good) is None
    assert check_id(good) == good


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("", "is empty"),
        ("   ", "is only spaces"),
        ("\u3000\u00a0", "is only spaces"),
        ("a\tb", "contains U+0009 (a control character) at position 1"),
        ("a\nb", "contains U+000A"),
        ("\x85", "contains U+0085"),
        ("x\u200by", "contains U+200B (ZERO WIDTH SPACE) at position 1"),
        ("ab\u202ec", "contains U+202E (RIGHT-TO-LEFT OVERRIDE) at position 2"),
        ("\ufeffa", "contains U+FEFF"),
        ("x" * (MAX_ID_CHARS + 1), "is 201 characters long; the limit is 200"),
        (12, "must be text, not int"),
    ],
)
def test_refused_ids_say_why(bad, problem):
    assert id_problem(bad).startswith(problem)
    with pytest.raises(InvalidIdError, match=re.escape(problem) + ".*; ids are 1-200 characters"):
        check_id(bad)


@settings(max_examples=500, derandomize=True, database=None)
@given(st.text(max_size=MAX_ID_CHARS + 2) | st.sampled_from(["\u2028", " \u2066 ", "a\u3000"]))
def test_the_published_pattern_says_what_the_check_says(value):
    by_pattern = 1 <= len(value) <= MAX_ID_CHARS and re.fullmatch(ID_PATTERN, value) is not None
    assert by_pattern == (id_problem(value) is None)


def test_the_event_schema_publishes_the_policy():
    props = ViewEvent.model_json_schema()["properties"]
    for field in ("session_id", "product_id"):
        text, integer = props[field]["anyOf"]  # an id, or an integer taken as its text
        assert text["pattern"] == ID_PATTERN and integer == {"type": "integer"}
        assert (text["minLength"], text["maxLength"]) == (1, MAX_ID_CHARS)

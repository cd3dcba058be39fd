"""One way to say what pydantic refused: the API's 400/422 answers, a malformed event's
dead-letter reason and an invalid setting at start all name the input and what to do the same
way.

Each caller only says how a location reads (``body events.0.ts``, ``product_id``,
``NOWREC_PORT``) and whether the refused value may be shown: a setting's value is never
shown (it may be a secret), a request's is, cut to a few dozen characters.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from engine.ids import EVENT_ID_CHARSET

_MAX_INPUT_CHARS = 60
#: Kinds whose message already says everything (or names the value itself).
_QUIET = ("missing", "json_invalid", "extra_forbidden", "value_error")
_BODY = ("body",)  # an HTTP request's whole body


@dataclass(frozen=True, slots=True)
class Problem:
    """One refused input: where it is, what was wrong (and what to do), pydantic's kind."""

    where: str
    message: str
    type: str


def _shown(value: Any) -> str | None:
    if isinstance(value, bool | int | float) or value is None:
        return repr(value)
    if isinstance(value, str):
        text = value if len(value) <= _MAX_INPUT_CHARS else value[:_MAX_INPUT_CHARS] + "..."
        return repr(text)
    return None


def describe_errors(
    errors: Iterable[dict[str, Any]],
    where: Callable[[tuple[Any, ...]], str],
    *,
    show_input: bool = True,
    fields: Collection[str] = (),
) -> list[Problem]:
    """What each of pydantic's ``errors()`` means for the sender.

    Args:
        errors: ``ValidationError.errors()`` (or FastAPI's ``RequestValidationError``'s).
        where: how an error's ``loc`` reads for the sender.
        show_input: append the refused value (``(got 1000)``) where it helps.
        fields: the accepted field names, listed when an unknown one is refused.
    """
    problems = []
    for item in errors:
        kind = item.get("type", "value_error")
        loc = tuple(item.get("loc", ()))
        at = where(loc)
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        if kind == "json_invalid":
            at = where(loc[:1])
            error = (item.get("ctx") or {}).get("error", message)
            message = f"malformed JSON ({error}); send a JSON object"
        elif kind in ("model_attributes_type", "model_type", "dict_type") and loc == _BODY:
            message = "must be a JSON object, sent with 'Content-Type: application/json'"
        elif kind == "missing":
            message = "required and missing"
        elif kind == "extra_forbidden":
            message = "unknown field; remove it (field names are case-sensitive)"
            if fields:
                message += f"; fields are {', '.join(fields)}"
        elif kind == "too_long" and loc[-1:] == ("events",):
            message = f"{message}; split the batch"
        elif kind == "string_pattern_mismatch" and loc[-1:] == ("event_id",):
            message = f"may contain only {EVENT_ID_CHARSET}"
        shown = _shown(item.get("input")) if show_input and kind not in _QUIET else None
        if shown is not None and loc != _BODY:
            message = f"{message} (got {shown})"
        problems.append(Problem(at, message, kind))
    return problems


def summary(problems: Sequence[Problem], most: int = 5) -> str:
    """``where: message; ...`` of the first ``most`` problems, and how many more."""
    text = "; ".join(f"{p.where}: {p.message}" for p in problems[:most])
    if len(problems) > most:
        text += f"; and {len(problems) - most} more"
    return text

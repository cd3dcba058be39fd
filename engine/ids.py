"""The one id policy: which product and session ids training and the service accept.

A product id that training puts into a bundle must be one the API can be asked about, and an
event for it must not be refused; so both sides check ids here and nowhere else (the API
through :data:`ID_PATTERN` and :func:`check_id`, training through :func:`id_problem`).

An id is text of 1 to :data:`MAX_ID_CHARS` characters in any script (``Café 03``, ``商品-17``,
``a/b``, ``a|b``) that

- holds no control character (tab, newline, NUL, DEL, the C1 controls) and no invisible
  formatting character (zero-width spaces and joiners, direction marks, bidirectional
  embeddings and isolates, line and paragraph separators, the byte-order mark);
- is not only spaces (plain or Unicode spaces such as U+00A0 and U+3000).

Why: ids are written into log lines, Redis keys and Kafka messages, and shown to people; a
control character breaks a log line, and an invisible one makes two different ids look the
same. The length bounds what one request can make the service hold. In a URL an id is
percent-encoded (``/v1/products/Caf%C3%A9%2003``), and a ``/`` inside it is sent as ``%2F``.

:data:`ID_PATTERN` says the same as :func:`id_problem` in the regular-expression syntax shared by
Python, JSON Schema (ECMA-262) and pydantic's Rust engine: only ``\\xhh`` and ``\\uhhhh``
escapes in character classes, so the OpenAPI schema describes exactly what is accepted.
"""

from __future__ import annotations

import re
import unicodedata

from engine.errors import DataError

MAX_ID_CHARS = 200
"""The longest id, in characters (Unicode code points), not bytes."""

_NEVER = (
    r"\x00-\x1f\x7f-\x9f"  # C0 controls, DEL, C1 controls
    r"\u200b-\u200f"  # zero-width space, non-joiner, joiner; left-to-right/right-to-left marks
    r"\u2028-\u202e"  # line and paragraph separators; bidirectional embeddings and overrides
    r"\u2060-\u2064\u2066-\u2069"  # word joiner, invisible operators; bidirectional isolates
    r"\ufeff"  # byte-order mark (zero-width no-break space)
)
_SPACES = r" \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"

ID_PATTERN = f"^[^{_NEVER}]*[^{_NEVER}{_SPACES}][^{_NEVER}]*$"
"""The policy as a regular expression (the length aside): see the module docstring."""

ID_RULE = (
    f"1-{MAX_ID_CHARS} characters of any script, without control or invisible formatting "
    "characters, not only spaces"
)
"""The policy in a few words, for error messages and API documentation."""

# Event ids are opaque idempotency keys (derived ones are hex): a conservative ASCII charset
# without "|", the separator of the stored member (serving/session_store/base.py).
EVENT_ID_CHARSET = "ASCII letters, digits and . _ : @ = + / -"
EVENT_ID_PATTERN = r"^[A-Za-z0-9._:@=+/-]+$"
MAX_EVENT_ID_CHARS = 128

_NEVER_RE = re.compile(f"[{_NEVER}]")
_ID_RE = re.compile(ID_PATTERN)


class InvalidIdError(DataError):
    """An id breaks the id policy (the message says how)."""


def id_problem(value: object) -> str | None:
    """What is wrong with ``value`` as a product or session id, or ``None`` when it is valid.

    The answer is a phrase that reads after the id's name: ``"product_id " + problem``.
    """
    if not isinstance(value, str):
        return f"must be text, not {type(value).__name__}"
    if not value:
        return "is empty"
    if len(value) > MAX_ID_CHARS:
        return f"is {len(value)} characters long; the limit is {MAX_ID_CHARS}"
    bad = _NEVER_RE.search(value)
    if bad is not None:
        char = bad.group()
        name = unicodedata.name(char, "a control character")
        return f"contains U+{ord(char):04X} ({name}) at position {bad.start()}"
    if _ID_RE.fullmatch(value) is None:
        return "is only spaces"
    return None


def check_id(value: object) -> str:
    """``value`` when it is a valid id; otherwise :class:`InvalidIdError` (a ``ValueError``, so
    pydantic reports it as the field's error) saying what is wrong and what ids may be."""
    problem = id_problem(value)
    if problem is not None:
        raise InvalidIdError(f"{problem}; ids are {ID_RULE}")
    return value  # type: ignore[return-value]

"""The README's HTTP example runs as written (curl commands, replayed with the TestClient).

The example is the bash block between ``<!-- api-example:start -->`` and
``<!-- api-example:end -->`` in README.md; until the README has it, the copy below (the text
proposed for it) is run instead. The model is the small synthetic shop with the demo shop's
product ids (102460.. sofas, 103690.. toys), so the example's ids exist as after `make train`.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.api_support import TOKEN, api_client, readme_id, write_bundle

ROOT = Path(__file__).resolve().parents[2]
START, END = "<!-- api-example:start -->", "<!-- api-example:end -->"

EXAMPLE = """\
# the shop reports what a visitor viewed (a batch; writes need the token)
curl -s -X POST http://127.0.0.1:8000/v1/events \\
  -H "Authorization: Bearer $NOWREC_API_TOKEN" -H 'Content-Type: application/json' \\
  -d '{"events": [
        {"session_id": "s-42", "product_id": "102474", "ts": "2026-11-22T10:00:00Z"},
        {"session_id": "s-42", "product_id": "102478", "ts": "2026-11-22T10:00:20Z"}]}'
# the visitor opens product 102487: what to show next to it, for this session, right now
curl -s 'http://127.0.0.1:8000/v1/recommendations?session_id=s-42&product_id=102487&k=5'
# products similar to one product
curl -s 'http://127.0.0.1:8000/v1/products/102474/similar?k=5'
# a new product: recommendable at once (cold start), no re-training
curl -s -X PUT http://127.0.0.1:8000/v1/products/sofa-new-1 \\
  -H "Authorization: Bearer $NOWREC_API_TOKEN" -H 'Content-Type: application/json' \\
  -d '{"category": "sofas", "brand": "Nordform", "price": 399.0, "title": "Studio Sofa Sand"}'
curl -s 'http://127.0.0.1:8000/v1/products/sofa-new-1/similar?k=5'
# sold out: gone from every answer at once (the fields left out keep their values)
curl -s -X PUT http://127.0.0.1:8000/v1/products/102491 \\
  -H "Authorization: Bearer $NOWREC_API_TOKEN" -H 'Content-Type: application/json' \\
  -d '{"available": false}'
"""


def example_text() -> str:
    readme = ROOT / "README.md"
    text = readme.read_text() if readme.exists() else ""
    if START not in text:
        return EXAMPLE
    block = text.split(START, 1)[1].split(END, 1)[0]
    match = re.search(r"```(?:bash|sh|console)?\n(.*?)```", block, re.S)
    assert match, f"README.md: no ```bash block between {START} and {END}"
    return match.group(1)


def curl_commands(text: str) -> list[list[str]]:
    """The curl commands of a bash block, as argument lists (comments and blank lines
    dropped, continuation lines joined, $NOWREC_API_TOKEN expanded)."""
    text = text.replace("\\\n", " ").replace("${NOWREC_API_TOKEN}", TOKEN)
    text = text.replace("$NOWREC_API_TOKEN", TOKEN)
    commands, pending = [], ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending = f"{pending}\n{line}" if pending else line
        try:
            argv = shlex.split(pending)
        except ValueError:  # an open quote: the command goes on on the next line
            continue
        pending = ""
        if argv and argv[0] != "export":
            commands.append(argv)
    assert not pending, f"unterminated command: {pending!r}"
    return commands


def as_request(argv: list[str]) -> tuple[str, str, dict[str, str], str | None]:
    """(method, path with query, headers, body) of a curl command line."""
    assert argv[0] == "curl", f"not a curl command: {argv}"
    method, headers, body, url = None, {}, None, None
    args = iter(argv[1:])
    for arg in args:
        if arg in ("-s", "--silent", "-S", "--show-error", "-f", "--fail"):
            continue
        if arg in ("-X", "--request"):
            method = next(args)
        elif arg in ("-H", "--header"):
            name, value = next(args).split(":", 1)
            headers[name.strip()] = value.strip()
        elif arg in ("-d", "--data", "--data-raw", "--json"):
            body = next(args)
            if arg == "--json":
                headers.setdefault("Content-Type", "application/json")
        elif arg.startswith("-"):
            raise AssertionError(f"the README example uses curl {arg}, which this test lacks")
        else:
            url = arg
    assert url, f"no URL in {argv}"
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return method or ("POST" if body is not None else "GET"), path, headers, body


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    root = tmp_path_factory.mktemp("artifacts")
    write_bundle(root, "v1", naming=readme_id)
    return root


def test_readme_example_runs(artifacts):
    commands = [as_request(argv) for argv in curl_commands(example_text())]
    assert len(commands) >= 3
    answers = []
    with api_client(artifacts) as client:
        for method, path, headers, body in commands:
            r = client.request(method, path, headers=headers, content=body)
            assert r.is_success, f"{method} {path} -> {r.status_code} {r.text}"
            answers.append((method, path, r.json()))
    for method, path, body in answers:
        if path.startswith("/v1/recommendations") and "session_id=" in path:
            # the events posted before it are part of the session
            assert body["strategy"] == "session" and body["session_events"] >= 1, body
        if path.startswith("/v1/products/") and path.split("?")[0].endswith("/similar"):
            assert body["items"], body
        if method == "PUT":
            assert body["model_version"] == "v1"


def test_the_proposed_example_parses():
    requests = [as_request(argv) for argv in curl_commands(EXAMPLE)]
    assert [(m, p.split("?")[0]) for m, p, _, _ in requests] == [
        ("POST", "/v1/events"),
        ("GET", "/v1/recommendations"),
        ("GET", "/v1/products/102474/similar"),
        ("PUT", "/v1/products/sofa-new-1"),
        ("GET", "/v1/products/sofa-new-1/similar"),
        ("PUT", "/v1/products/102491"),
    ]
    events = json.loads(requests[0][3])["events"]
    assert [e["product_id"] for e in events] == ["102474", "102478"]
    ids = {readme_id(c, i) for c in (0, 1) for i in range(40)}
    assert {"102474", "102478", "102487", "102491"} <= ids  # the example's ids exist

"""schemathesis against the service's own OpenAPI schema: no input gives a server error.

Every operation gets schema-valid (positive) and schema-violating (negative) requests, with the
bearer token so that the write routes are reached, a bounded number of examples each.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from prometheus_client import CollectorRegistry
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from serving.app import create_app
from tests.api_support import AUTH, api_settings, write_bundle

OPERATIONS = [
    ("GET", "/v1/recommendations"),
    ("GET", "/v1/products"),
    ("GET", "/v1/products/{product_id}/similar"),
    ("GET", "/v1/products/{product_id}"),
    ("PUT", "/v1/products/{product_id}"),
    ("POST", "/v1/events"),
    ("DELETE", "/v1/sessions/{session_id}"),
    ("POST", "/v1/admin/reload"),
    ("GET", "/v1/admin/model"),
    ("GET", "/v1/admin/experiments"),
    ("GET", "/v1/admin/experiments/{name}"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
]


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    root = tmp_path_factory.mktemp("artifacts")
    write_bundle(root, "v1")
    app = create_app(api_settings(root), registry=CollectorRegistry())
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_the_list_covers_every_operation(api_schema):
    found = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert found == set(OPERATIONS)


#: A "negative" value of a repeated query parameter (``category=x`` where the schema says
#: array) is indistinguishable on the wire from a valid one-element array, so schemathesis'
#: negative_data_rejection check gives false alarms there; every other check still runs.
REPEATED_QUERY = {("GET", "/v1/recommendations"), ("GET", "/v1/products")}
#: An event's time is bounded by the server's clock (events more than NOWREC_MAX_EVENT_AHEAD_S
#: ahead are refused) and its text must be a real ISO-8601 instant: neither is static JSON
#: Schema, so a schema-valid ``ts`` may still be refused there (with a 422 that says why);
#: every other check still runs, the "no server error" one included.
CLOCK_BOUND = {("POST", "/v1/events")}
#: A schema-valid PUT of a NEW product without metadata is refused (422, "send at least its
#: category"): what a body may leave out depends on whether the product exists, which no
#: schema can say. Such a refusal is checked for its reason instead.
DEPENDS_ON_THE_PRODUCT = {("PUT", "/v1/products/{product_id}")}
#: Operations without any input have no negative examples to generate.
NO_INPUT = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics")}
CASES = [
    (method, path, mode)
    for method, path in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode == GenerationMode.POSITIVE or (method, path) not in NO_INPUT
]


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_no_input_gives_a_server_error(api_schema, method, path, mode):
    operation = api_schema[path][method]
    excluded = [negative_data_rejection] if (method, path) in REPEATED_QUERY else []
    excluded += [positive_data_acceptance] if (method, path) in CLOCK_BOUND else []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=25,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case):
        if (method, path) not in DEPENDS_ON_THE_PRODUCT or mode != GenerationMode.POSITIVE:
            case.call_and_validate(headers=AUTH, excluded_checks=excluded)
            return
        response = case.call(headers=AUTH)
        case.validate_response(
            response, headers=AUTH, excluded_checks=[*excluded, positive_data_acceptance]
        )
        if response.status_code == 422:
            assert "comes with no metadata" in response.json()["message"], response.text
        else:
            assert response.status_code in (200, 201, 409), response.text

    check()

"""The API against its own OpenAPI document (issue 15): every operation, generated inputs, no
``5xx``, every answer conforming to the document (status, content type, body schema). On the
real COG referential (communes, arrondissements, EPCI…) and one release of the golden aids."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import schemathesis
from api_releases import golden_aids, write_release
from hypothesis import HealthCheck, given, settings
from warehouse_test_helpers import warehouse_with_referential

from webapp.app import create_app

pytestmark = pytest.mark.registry

OPERATIONS = [
    ("/v1/aides", "GET"),
    ("/v1/aides/{aide_id}", "GET"),
    ("/v1/communes/{code}/aides", "GET"),
    ("/v1/territoires", "GET"),
    ("/v1/publications", "GET"),
    ("/v1/changements", "GET"),
]


@pytest.fixture(scope="module")
def api_schema(referential_package, tmp_path_factory):
    paths = warehouse_with_referential(tmp_path_factory.mktemp("api-openapi"), referential_package)
    write_release(paths, "2026-11-01.1", golden_aids(), datetime(2026, 11, 1, 5, tzinfo=UTC))
    app = create_app(paths, session_key=b"k" * 32, api_rate=(1e6, 10**6))
    return schemathesis.openapi.from_asgi("/api/openapi.json", app)


def test_every_operation_is_documented(api_schema) -> None:
    documented = {result.ok().label for result in api_schema.get_all_operations()}
    assert documented == {f"{method} {path}" for path, method in OPERATIONS}


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_every_operation_conforms_to_its_openapi_document(api_schema, path: str, method: str) -> None:
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def check(case) -> None:
        response = case.call()
        assert response.status_code < 500, response.text
        case.validate_response(response)

    check()

"""Schemathesis over the OpenAPI document: generated requests never get a 5xx."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from konstruct_memory.library import Memory
from konstruct_memory.serving import create_app

ADMIN_TOKEN = "fuzz-admin-token"


@pytest.fixture(scope="module")
def api_schema(memory: Memory) -> Any:
    app = create_app(memory.settings, memory=memory, admin_token=ADMIN_TOKEN)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(scope="module")
def tenant_key(memory: Memory) -> str:
    return memory.create_api_key(memory.create_tenant("fuzz").id).api_key


def _no_5xx(operation: Any, headers: dict[str, str], statuses: set[int]) -> Any:
    """A Hypothesis test calling ``operation`` with generated requests."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def check(case: Any) -> None:
        response = case.call(headers=headers)
        statuses.add(response.status_code)
        assert response.status_code < 500, (case.method, case.path, response.text)

    return check


def test_no_server_errors(api_schema: Any, tenant_key: str) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 9
    statuses: set[int] = set()
    for operation in operations:
        admin = operation.path.startswith(("/v1/tenants", "/v1/api-keys"))
        token = ADMIN_TOKEN if admin else tenant_key
        _no_5xx(operation, {"Authorization": f"Bearer {token}"}, statuses)()
    # The generated requests got through authentication to the service, both ways.
    assert {200, 201, 422} <= statuses, statuses

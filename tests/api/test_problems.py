"""Errors as problem+json: the unexpected ones too, and their place in the OpenAPI document."""

from __future__ import annotations

import logging
import uuid

import jsonschema
import pytest
from fastapi.testclient import TestClient

from harbourmaster.api.app import API_PREFIX, create_app
from tests.api.conftest import Api

PROBLEM = "application/problem+json"


def _openapi(api: Api) -> dict[str, object]:
    response = api.client.get(f"{API_PREFIX}/openapi.json")
    assert response.status_code == 200
    document: dict[str, object] = response.json()
    return document


def _problem_schema(document: dict[str, object]) -> dict[str, object]:
    """The documented Problem schema, resolvable on its own."""
    components = document["components"]
    assert isinstance(components, dict)
    schema: dict[str, object] = components["schemas"]["Problem"]
    return schema


def test_an_unexpected_exception_is_a_problem_with_a_correlation_id(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    internals = "cannot read /var/lib/harbourmaster/secret.db: SELECT password FROM credentials"

    def broken() -> object:
        raise RuntimeError(internals)

    monkeypatch.setattr(api.hm, "state", broken)
    client = TestClient(create_app(api.hm), raise_server_exceptions=False)
    with caplog.at_level(logging.ERROR, logger="harbourmaster.api.problems"):
        response = client.get(f"{API_PREFIX}/environments", headers=api.headers("admin"))

    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    jsonschema.validate(body, _problem_schema(_openapi(api)))
    assert body["type"] == "https://harbourmaster.io/problems/internal"
    assert body["status"] == 500
    correlation_id = body["correlation_id"]
    assert str(uuid.UUID(correlation_id)) == correlation_id
    assert correlation_id in body["detail"]
    # Nothing of the exception reaches the client: not its text, not its type.
    assert "secret.db" not in response.text
    assert "SELECT" not in response.text
    assert "RuntimeError" not in response.text
    # The log has the id, the route template and the traceback, for the operator.
    logged = [r for r in caplog.records if correlation_id in r.getMessage()]
    assert len(logged) == 1
    assert f"GET {API_PREFIX}/environments" in logged[0].getMessage()
    assert logged[0].exc_info is not None and logged[0].exc_info[0] is RuntimeError


def test_each_unexpected_error_gets_its_own_correlation_id(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> object:
        raise KeyError("registry")

    monkeypatch.setattr(api.hm, "state", broken)
    client = TestClient(create_app(api.hm), raise_server_exceptions=False)
    ids = {
        client.get(f"{API_PREFIX}/environments", headers=api.headers("admin")).json()["correlation_id"]
        for _ in range(3)
    }
    assert len(ids) == 3


def test_framework_errors_are_problems_that_keep_their_headers(api: Api) -> None:
    # A method the route does not have: 405 with the Allow header HTTP requires.
    response = api.client.post(f"{API_PREFIX}/me", headers=api.headers("admin"))
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["allow"] == "GET"
    assert response.json()["type"] == "https://harbourmaster.io/problems/method-not-allowed"
    # A body that is not JSON text at all.
    response = api.client.post(
        f"{API_PREFIX}/decisions",
        content=b"\xff\xfe not json",
        headers={**api.headers("admin"), "Content-Type": "application/json"},
    )
    assert response.status_code in (400, 422)
    assert response.headers["content-type"] == PROBLEM
    jsonschema.validate(response.json(), _problem_schema(_openapi(api)))


def test_every_operation_documents_its_problems_as_problem_json(api: Api) -> None:
    document = _openapi(api)
    schemas = document["components"]["schemas"]  # type: ignore[index]
    assert "HTTPValidationError" not in schemas, "FastAPI's 422 body is not what the API answers"
    operations = [
        (method, path, operation)
        for path, item in document["paths"].items()  # type: ignore[attr-defined]
        for method, operation in item.items()
    ]
    assert len(operations) > 40
    for method, path, operation in operations:
        responses = operation["responses"]
        where = f"{method.upper()} {path}"
        for status in ("401", "500"):
            assert status in responses, f"{where} does not document {status}"
        for status, response in responses.items():
            if int(status) < 400:
                continue
            assert list(response["content"]) == [PROBLEM], f"{where} {status}"
            assert response["content"][PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}
        assert responses["401"]["headers"]["WWW-Authenticate"]["required"] is True
        if method in ("post", "put", "patch"):
            assert {"413", "422"} <= set(responses), f"{where} takes a body"

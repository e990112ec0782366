"""The OpenAPI document describes every response: each operation's success status has a schema."""

from __future__ import annotations

from typing import Any

from harbourmaster.api.app import create_app
from harbourmaster.services.core import Harbourmaster


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    methods = {"get", "post", "put", "patch", "delete"}
    return [
        (path, method, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method in methods
    ]


def _undescribed(document: dict[str, Any]) -> list[str]:
    missing = []
    for path, method, op in _operations(document):
        success = {code: r for code, r in op.get("responses", {}).items() if code.startswith("2")}
        if not success:
            missing.append(f"{method.upper()} {path}: no success response")
            continue
        for code, response in success.items():
            content = response.get("content") or {}
            if not content:
                missing.append(f"{method.upper()} {path} {code}: no content")
            for media_type, media in content.items():
                # A response_model gives a $ref or a typed schema; {} (FastAPI's "anything") is not one.
                if not media.get("schema"):
                    missing.append(f"{method.upper()} {path} {code} {media_type}: no schema")
    return missing


def test_every_operation_describes_its_success_response() -> None:
    document = create_app(Harbourmaster.from_environ()).openapi()
    assert len(_operations(document)) > 40
    assert _undescribed(document) == []


def test_the_walk_finds_an_undescribed_response() -> None:
    document = {
        "paths": {
            "/x": {
                "get": {
                    "responses": {
                        "200": {"description": "ok", "content": {"application/json": {"schema": {}}}}
                    }
                }
            },
            "/y": {"post": {"responses": {"422": {"description": "bad"}}}},
        }
    }
    assert _undescribed(document) == [
        "GET /x 200 application/json: no schema",
        "POST /y: no success response",
    ]


def test_text_and_ndjson_routes_declare_their_media_type() -> None:
    paths = create_app(Harbourmaster.from_environ()).openapi()["paths"]
    assert set(paths["/api/v1/export"]["get"]["responses"]["200"]["content"]) == {"text/plain"}
    assert "application/x-ndjson" in paths["/api/v1/audit/export"]["get"]["responses"]["200"]["content"]

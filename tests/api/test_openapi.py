"""The OpenAPI document: served, valid, and describing every route with its errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

from dealflow.api.routers import PREFIX, ROUTERS
from dealflow.server.app import create_app
from dealflow.settings import Settings


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    """The app on a database it never opens: the document needs none."""
    return create_app(Settings(database_url=f"sqlite:///{tmp_path / 'unused.db'}"))


def _document(app: FastAPI) -> dict[str, Any]:
    answer = TestClient(app).get(f"{PREFIX}/openapi.json")
    assert answer.status_code == 200
    found: dict[str, Any] = answer.json()
    return found


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [node["$ref"]] if isinstance(node.get("$ref"), str) else [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_the_document_is_served_and_valid(app: FastAPI) -> None:
    document = _document(app)
    validate(document)
    assert document["info"]["title"] == "dealflow"
    schemas = document["components"]["schemas"]
    for ref in _refs(document):
        assert ref.startswith("#/components/schemas/")
        assert ref.removeprefix("#/components/schemas/") in schemas, ref
    schemes = document["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http", "apiKey"}
    assert TestClient(app).get(f"{PREFIX}/docs").status_code == 200


def test_every_route_is_documented_with_its_errors(app: FastAPI) -> None:
    paths = _document(app)["paths"]
    routes = [route for router in ROUTERS for route in router.routes if isinstance(route, APIRoute)]
    assert len(routes) > 40
    operation_ids = []
    for route in routes:
        for method in route.methods:
            operation = paths[PREFIX + route.path][method.lower()]
            operation_ids.append(operation["operationId"])
            assert operation["summary"], route.path
            assert operation["description"], f"{method} {route.path} has no docstring"
            codes = set(operation["responses"])
            assert any(code.startswith("2") for code in codes), route.path
            for code in codes - {c for c in codes if c.startswith("2")}:
                schema = operation["responses"][code]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (route.path, code)
            if route.path != "/health":
                assert {"401", "403", "404", "409", "422"} <= codes, route.path
    assert len(operation_ids) == len(set(operation_ids))


def test_creating_requests_document_the_idempotency_key(app: FastAPI) -> None:
    paths = _document(app)["paths"]
    keyed = {
        (path, method)
        for path, operations in paths.items()
        for method, operation in operations.items()
        if any(p["name"] == "Idempotency-Key" for p in operation.get("parameters", []))
    }
    assert (f"{PREFIX}/deals", "post") in keyed
    assert (f"{PREFIX}/leads", "post") in keyed
    assert (f"{PREFIX}/deals/{{deal_id}}/activities", "post") in keyed
    assert (f"{PREFIX}/tokens", "post") not in keyed  # a token is never stored, so never replayed
    assert all(method in ("post", "put", "patch") for _path, method in keyed)

"""The service's OpenAPI document: what FastAPI derives from the routes, completed with what it cannot see.

Added here, each from the code that decides it, never from a hand-kept list of paths:
- the bearer security scheme, and on every operation that checks a key (its `app.api.auth.require`
  dependency) the security requirement, 401, 403 when some role may not call it, and the roles that may;
  and 503 `busy` (with Retry-After): such an operation reads the store, which may be too busy to answer;
- 400 and 413 on every operation with a body (a body that cannot be read at all, e.g. JSON that is not
  UTF-8; app.api.edge counts every body against a limit), 422 (the one
  error shape, not FastAPI's validation schema) on every operation with parameters or a body;
- this server's own batch size as `maxItems` of `POST /v1/match/batch`;
- links between operations: what a response names (a list, a match, a key, a webhook, an entry) and
  the operations that take it, so that client generators and stateful fuzzers can chain calls.

Route-specific refusals (404, 409, 415, 429, 504, ...) are declared on the routes (`responses=`). This
module must never describe an operation or a status the routes do not have: tests/test_openapi.py and
tests/test_schemathesis.py hold the document to what the service answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import fastapi.routing
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from app.api.auth import ANY_ROLE
from app.api.schemas import ErrorOut, error_response
from app.api.settings import Settings

BEARER = "bearer"
_ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}
_BODY_METHODS = {"post", "put", "patch"}

# (operation, status) -> {link name: (target operation, {parameter: runtime expression})}
LINKS: dict[tuple[str, str], dict[str, tuple[str, dict[str, str]]]] = {
    ("create_list", "201"): {
        name: (op, {"name": "$response.body#/name"})
        for name, op in (("GetList", "get_list"), ("UpdateList", "update_list"), ("DeleteList", "delete_list"),
                         ("ImportEntries", "import_entries"), ("ListEntries", "list_entries"),
                         ("AddMediaEntry", "add_media_entry"), ("ExportList", "export"), ("ListReport", "report"))
    },
    ("match", "200"): {
        "GetMatch": ("get_match", {"match_id": "$response.body#/matches/0/match_id"}),
        "AddOutcome": ("add_outcome", {"match_id": "$response.body#/matches/0/match_id"}),
    },
    ("match_batch", "200"): {
        "GetMatch": ("get_match", {"match_id": "$response.body#/results/0/matches/0/match_id"}),
        "AddOutcome": ("add_outcome", {"match_id": "$response.body#/results/0/matches/0/match_id"}),
    },
    ("add_outcome", "201"): {"GetMatch": ("get_match", {"match_id": "$request.path.match_id"})},
    ("add_media_entry", "201"): {
        name: (op, {"name": "$request.path.name", "external_id": "$response.body#/entry/id"})
        for name, op in (("GetEntry", "get_entry"), ("RevokeEntry", "revoke_entry"))
    },
    ("list_entries", "200"): {
        name: (op, {"name": "$request.path.name", "external_id": "$response.body#/entries/0/id"})
        for name, op in (("GetEntry", "get_entry"), ("RevokeEntry", "revoke_entry"))
    },
    ("create_webhook", "201"): {
        "WebhookDeliveries": ("deliveries", {"hook_id": "$response.body#/id"}),
        "DeleteWebhook": ("delete_webhook", {"hook_id": "$response.body#/id"}),
    },
    ("create_key", "201"): {"RevokeKey": ("revoke_key", {"key_id": "$response.body#/id"})},
}


def operation_id(route: APIRoute) -> str:
    """Operation ids are the route functions' names (unique in this app): what links refer to."""
    return route.name


def install(app: FastAPI, settings: Settings) -> None:
    """Serve the completed document at /openapi.json (built once, on first use)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app, settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def build(app: FastAPI, settings: Settings) -> dict[str, Any]:
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes,
                      tags=app.openapi_tags)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("ErrorOut", ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}"))
    for sub in ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}").get("$defs", {}).items():
        schemas.setdefault(*sub)
    doc["components"]["securitySchemes"] = {BEARER: {
        "type": "http", "scheme": "bearer",
        "description": "An API key made by `takedown keys create` or `POST /v1/keys`: `Authorization: Bearer <key>`.",
    }}
    for route in _routes(app):
        roles = key_roles(route.dependant)
        for method in route.methods:
            _complete(doc["paths"][route.path_format][method.lower()], method.lower(), roles)
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    _batch_limit(doc, settings.max_batch)
    _add_links(doc)
    return doc


def _routes(app: FastAPI) -> Iterator[APIRoute]:
    """The app's API routes, through the routers it includes (FastAPI >= 0.130 nests them)."""
    contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    for route in contexts(app.routes) if contexts is not None else app.routes:
        original = getattr(route, "original_route", route)
        if isinstance(original, APIRoute) and original.include_in_schema:
            yield original


def key_roles(dependant: Dependant) -> frozenset[str] | None:
    """The roles the route's key check lets in; None for a route that checks no key."""
    for dep in dependant.dependencies:
        roles = getattr(dep.call, "roles", None)
        if roles is not None:
            return frozenset(roles)
        found = key_roles(dep)
        if found is not None:
            return found
    return None


def _complete(op: dict[str, Any], method: str, roles: frozenset[str] | None) -> None:
    responses = op["responses"]
    if roles is None:
        op["security"] = []
    else:
        op["security"] = [{BEARER: []}]
        named = ", ".join(r for r in ANY_ROLE if r in roles)
        op["description"] = f"{op.get('description', '').rstrip()}\n\nKeys: {named}.".lstrip()
        responses.setdefault("401", _documented(401))
        # The key is looked up in the store, so any of these can meet a busy database (app.api.errors).
        responses.setdefault("503", _documented(503))
        if roles != frozenset(ANY_ROLE):
            responses.setdefault("403", _documented(403, f"The key's role (or its owner) may not do this; "
                                                         f"this operation is for {named} keys"))
    if "requestBody" in op or method in _BODY_METHODS:
        responses.setdefault("400", _documented(400))
        responses.setdefault("413", _documented(413))
    if "requestBody" in op or any(_can_be_invalid(p) for p in op.get("parameters", ())):
        responses["422"] = {**responses.get("422", {}), **_documented(422)}
    elif responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "").endswith(
            "/HTTPValidationError"):
        del responses["422"]  # FastAPI declares it for any parameter, even a path string no value fails
    for status, response in responses.items():
        if status.startswith(("4", "5")):
            response["content"] = {"application/json": {"schema": _ERROR_REF}}


def _can_be_invalid(parameter: dict[str, Any]) -> bool:
    """Whether FastAPI's validation can refuse the parameter (anything but a plain string can)."""
    schema = {k: v for k, v in parameter.get("schema", {}).items() if k not in ("title", "description")}
    return schema != {"type": "string"}


def _documented(status: int, description: str | None = None) -> dict[str, Any]:
    """error_response() (what routes declare) as an OpenAPI response object."""
    spec = error_response(status, description)
    out: dict[str, Any] = {"description": spec["description"], "content": {"application/json": {"schema": _ERROR_REF}}}
    if "headers" in spec:
        out["headers"] = spec["headers"]
    return out


def _batch_limit(doc: dict[str, Any], max_batch: int) -> None:
    """This server's batch size, as `maxItems` of the batch's `items` (inline or a component)."""
    body = doc["paths"]["/v1/match/batch"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in body:
        body = doc["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    body["properties"]["items"]["maxItems"] = max_batch


def _add_links(doc: dict[str, Any]) -> None:
    ops = {op["operationId"]: op for item in doc["paths"].values() for op in item.values()}
    for (source, status), links in LINKS.items():
        response = ops[source]["responses"][status]
        response["links"] = {
            name: {"operationId": target, "parameters": params} for name, (target, params) in links.items()
            if target in ops
        }

"""Every endpoint with every role (and with no key): allowed or denied as the issue says.

The walk is built from the app's own OpenAPI paths, so an endpoint added without an entry in
EXPECTED fails `test_every_endpoint_has_an_expectation`. "Allowed" means neither 401 nor 403 (the
request itself may still be refused for what it says, e.g. 404); "denied" means 403 forbidden.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_api_support import Api, api, assert_error, jpeg  # noqa: F401

from app.keys import KeyStore
from matcher.bits import words_to_hexes

ROLES = ("admin", "curator", "matcher", "auditor")
PUBLIC = "public"
ALL = set(ROLES)
WRITERS = {"admin", "curator"}
PLATFORM = {"admin", "matcher"}
HOOKS = {"admin", "curator", "matcher"}

EXPECTED: dict[tuple[str, str], set[str] | str] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("POST", "/v1/hash"): {"admin", "curator", "matcher"},
    ("POST", "/v1/match"): PLATFORM,
    ("POST", "/v1/match/batch"): PLATFORM,
    ("GET", "/v1/lists"): ALL,
    ("POST", "/v1/lists"): WRITERS,
    ("GET", "/v1/lists/{name}"): ALL,
    ("PATCH", "/v1/lists/{name}"): WRITERS,
    ("DELETE", "/v1/lists/{name}"): WRITERS,
    ("POST", "/v1/lists/{name}/entries"): WRITERS,
    ("GET", "/v1/lists/{name}/entries"): {"admin", "curator", "matcher"},  # matcher: the owner allows it here
    ("POST", "/v1/lists/{name}/entries/media"): WRITERS,
    ("GET", "/v1/lists/{name}/entries/{external_id}"): {"admin", "curator", "matcher"},
    ("GET", "/v1/lists/{name}/entries/media"): {"admin", "curator", "matcher"},  # the entry named `media`
    ("GET", "/v1/lists/{name}/entries/{external_id}/revoke"): {"admin", "curator", "matcher"},  # id ends in /revoke
    ("POST", "/v1/lists/{name}/entries/{external_id}/revoke"): WRITERS,
    ("GET", "/v1/lists/{name}/export"): {"admin", "curator", "matcher"},
    ("GET", "/v1/lists/{name}/report"): {"admin", "curator", "auditor"},
    ("GET", "/v1/matches/{match_id}"): {"admin", "curator", "matcher"},
    ("POST", "/v1/matches/{match_id}/outcomes"): PLATFORM,
    ("POST", "/v1/webhooks"): HOOKS,
    ("GET", "/v1/webhooks"): HOOKS,
    ("GET", "/v1/webhooks/{hook_id}/deliveries"): HOOKS,
    ("DELETE", "/v1/webhooks/{hook_id}"): HOOKS,
    ("GET", "/v1/audit"): {"admin", "auditor", "curator"},  # a curator: its own lists' records only
    ("POST", "/v1/keys"): {"admin"},
    ("GET", "/v1/keys"): {"admin"},
    ("DELETE", "/v1/keys/{key_id}"): {"admin"},
}


def routes(api: Api) -> list[tuple[str, str]]:
    spec = api.client.get("/openapi.json").json()
    return [(method.upper(), path) for path, ops in spec["paths"].items() for method in ops]


def test_every_endpoint_has_an_expectation(api: Api):
    found = set(routes(api))
    assert found - set(EXPECTED) == set(), "new endpoints need a line in EXPECTED"
    assert set(EXPECTED) - found == set(), "EXPECTED names endpoints the app does not have"


@pytest.fixture
def world(api: Api, photos):
    """One list per role (owned by the Ofcom curator, readable by platforms), an entry in each, a
    logged match, a webhook per role and a spare key per role, so that each request can succeed."""
    pdq = words_to_hexes(np.random.default_rng(2).integers(1, 2**63, size=(1, 4), dtype=np.uint64))[0]
    for role in ROLES:
        r = api.client.post("/v1/lists", json={"name": f"w-{role}", "owner": "Ofcom", "matchers_can_read": True},
                            headers=api.h("admin"))
        assert r.status_code == 201
        api.client.post(f"/v1/lists/w-{role}/entries", json=[{"id": "E", "pdq": pdq}], headers=api.h("admin"))
    api.wait_index()
    match = api.client.post("/v1/match", json={"hashes": {"pdq": pdq}}, headers=api.h("matcher")).json()
    hooks = {role: api.client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/h", "events": ["match"]},
                                   headers=api.h(role)).json().get("id", 0) for role in ROLES}
    spare = {role: KeyStore(api.store).create("auditor", owner=None, actor="t")[0].id for role in ROLES}
    return {"pdq": pdq, "match_id": match["matches"][0]["match_id"], "hooks": hooks, "keys": spare,
            "image": jpeg(photos["coffee"])}


def request_for(method: str, path: str, role: str, world: dict) -> dict:
    params = {"name": f"w-{role}", "external_id": "E", "match_id": world["match_id"],
              "hook_id": world["hooks"][role], "key_id": world["keys"][role]}
    url = path.format(**params)
    files = {"files": {"file": ("x.jpg", world["image"], "image/jpeg")}}
    bodies: dict[tuple[str, str], dict] = {
        ("POST", "/v1/hash"): files,
        ("POST", "/v1/match"): {"json": {"hashes": {"pdq": world["pdq"]}}},
        ("POST", "/v1/match/batch"): {"json": {"items": [{"hashes": {"pdq": world["pdq"]}}]}},
        ("POST", "/v1/lists"): {"json": {"name": f"new-{role}"}},
        ("PATCH", "/v1/lists/{name}"): {"json": {"description": "changed"}},
        ("POST", "/v1/lists/{name}/entries"): {"content": json.dumps({"id": "N", "md5": "a" * 32}).encode(),
                                               "headers": {"content-type": "application/x-ndjson"}},
        ("POST", "/v1/lists/{name}/entries/media"): {**files, "data": {"external_id": "M"}},
        ("POST", "/v1/lists/{name}/entries/{external_id}/revoke"): {"json": {"reason": "walk"}},
        ("POST", "/v1/matches/{match_id}/outcomes"): {"json": {"outcome": "under_review"}},
        ("POST", "/v1/webhooks"): {"json": {"url": "http://127.0.0.1:9/x", "events": ["outcome"]}},
        ("POST", "/v1/keys"): {"json": {"role": "auditor"}},
    }
    return {"method": method, "url": url, **bodies.get((method, path), {})}


def send(api: Api, spec: dict, key_headers: dict[str, str]):  # type: ignore[no-untyped-def]
    spec = dict(spec)
    headers = {**spec.pop("headers", {}), **key_headers}
    return api.client.request(spec.pop("method"), spec.pop("url"), headers=headers, **spec)


def test_every_endpoint_with_every_role(api: Api, world):
    walk = sorted(routes(api), key=lambda r: r[0] == "DELETE")  # deletions last, so the rest find their targets
    checked = 0
    for method, path in walk:
        expected = EXPECTED[(method, path)]
        anonymous = send(api, request_for(method, path, "admin", world), {})
        if expected == PUBLIC:
            assert anonymous.status_code == 200, (method, path, anonymous.text)
            continue
        assert_error(anonymous, 401, "unauthorized")
        for role in ROLES:
            response = send(api, request_for(method, path, role, world), api.h(role))
            if role in expected:
                assert response.status_code not in (401, 403), (method, path, role, response.text)
                assert response.status_code < 500, (method, path, role, response.text)
            else:
                assert response.status_code == 403, (method, path, role, response.text)
                assert response.json()["error"]["code"] == "forbidden"
            checked += 1
    assert checked == 4 * sum(1 for v in EXPECTED.values() if v != PUBLIC)


def test_bad_and_revoked_keys(api: Api):
    assert_error(api.client.get("/v1/lists", headers={"authorization": "Bearer tdm_nope"}), 401, "unauthorized")
    assert_error(api.client.get("/v1/lists", headers={"authorization": "Basic abc"}), 401, "unauthorized")
    keys = api.client.get("/v1/keys", headers=api.h("admin")).json()
    assert all("key" not in k and "key_hash" not in k for k in keys)
    made = api.client.post("/v1/keys", json={"role": "matcher", "owner": "p"}, headers=api.h("admin")).json()
    h = {"authorization": f"Bearer {made['key']}"}
    assert api.client.get("/v1/lists", headers=h).status_code == 200
    assert api.client.delete(f"/v1/keys/{made['id']}", headers=api.h("admin")).status_code == 200
    assert_error(api.client.get("/v1/lists", headers=h), 401, "unauthorized")  # at once in this process
    assert_error(api.client.post("/v1/keys", json={"role": "curator"}, headers=api.h("admin")), 422, "invalid")
    actions = [r["action"] for r in api.store.audit(limit=1000)]
    assert actions.count("key.create") >= 7 and "key.revoke" in actions

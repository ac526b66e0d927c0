"""One error shape everywhere (FastAPI's own 404, 405 and 422 included), OpenAPI with examples, health,
readiness and metrics."""

from __future__ import annotations

from test_api_support import Api, api, assert_error, create_list  # noqa: F401


def test_framework_errors_use_the_one_shape(api: Api):
    assert_error(api.client.get("/v1/nothing-here"), 404, "not_found")
    assert_error(api.client.put("/v1/lists", headers=api.h("admin")), 405, "method_not_allowed")
    error = assert_error(api.client.get("/v1/audit?limit=0", headers=api.h("admin")), 422, "invalid")
    assert "limit" in error["message"]
    assert_error(api.client.post("/v1/lists", content=b"{not json", headers={**api.h("admin"), "content-type": "application/json"}),
                 422, "invalid")
    big = b"[" + b" " * (api.services.settings.max_json_bytes + 10) + b"]"
    assert_error(api.client.post("/v1/lists", content=big, headers={**api.h("admin"), "content-type": "application/json"}),
                 413, "too_large")
    assert_error(api.client.get("/v1/lists", headers={"authorization": "Bearer"}), 401, "unauthorized")
    r = api.client.post("/v1/lists", content=b"{}", headers={**api.h("admin"), "content-type": "application/json",
                                                            "content-length": "abc"})
    assert_error(r, 400, "bad_request")


def test_openapi_documents_every_operation_with_examples(api: Api):
    spec = api.client.get("/openapi.json").json()
    assert spec["info"]["title"] == "takedown-matcher"
    match = spec["paths"]["/v1/match"]["post"]
    assert set(match["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert match["requestBody"]["content"]["application/json"]["example"]["hashes"]["pdq"]
    schemas = spec["components"]["schemas"]
    for name in ("ListCreate", "MatchResult", "OutcomeIn", "WebhookIn", "KeyIn", "ErrorOut"):
        assert schemas[name].get("examples"), name
    assert all(op.get("summary") for ops in spec["paths"].values() for op in ops.values())
    assert api.client.get("/docs").status_code == 200


def test_health_readiness_and_metrics(api: Api):
    assert api.client.get("/healthz").json() == {"status": "ok"}
    assert api.client.get("/readyz").json()["status"] == "ready"
    list_id = create_list(api, "metrics-only")["id"]  # counters are per process
    api.client.post("/v1/lists/metrics-only/entries", json=[{"id": "A", "md5": "b" * 32}], headers=api.h("curator"))
    index = api.services.index
    index.stop()  # the follower would catch up by itself; stopped, the index stays behind
    api.store.create_list("written-elsewhere", owner="Ofcom", actor="cli")  # not through this process's API,
    behind = api.client.get("/readyz")  # whose writes bring its index up to date before answering
    assert_error(behind, 503, "not_ready")
    index.refresh()
    assert api.client.get("/readyz").status_code == 200
    api.client.post("/v1/match", json={"hashes": {"md5": "b" * 32}}, headers=api.h("matcher"))
    text = api.client.get("/metrics").text
    # /metrics needs no key: lists by id, never by name (a name can say whom a list protects)
    assert f'takedown_matches_total{{action="takedown",list_id="{list_id}"}}' in text
    assert "metrics-only" not in text
    assert 'takedown_index_rows{signal="md5"} 1.0' in text
    assert 'takedown_http_request_seconds_count{method="POST",route="/v1/match",status="200"}' in text
    assert 'route="/v1/lists/{name}/entries"' in text

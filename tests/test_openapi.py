"""The OpenAPI document and the /docs page: complete, honest, and served with no internet access.

What the document must say (app.api.openapi, app.api.schemas, the routers' `responses=`): the bearer
scheme, on every operation but the three open ones; every refusal each operation can give; request
schemas for every body, uploads and bulk imports included; enums and limits; a description for every
operation; links between operations. tests/test_schemathesis.py holds it to the running service.
"""

from __future__ import annotations

import re
from pathlib import Path

from test_api_support import Api, api, assert_error, make_api  # noqa: F401

from app.api.auth import ANY_ROLE
from app.api.docs import ASSETS, ASSETS_URL
from app.keys import ROLES
from index.ledger import OUTCOMES
from index.model import Action
from matcher.registry import LIST_ONLY, SIGNAL_TYPES

OPEN = {"/healthz", "/readyz", "/metrics"}
PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


def spec(api: Api) -> dict:  # type: ignore[type-arg]
    return api.client.get("/openapi.json").json()  # type: ignore[no-any-return]


def operations(doc: dict) -> list[tuple[str, str, dict]]:  # type: ignore[type-arg]
    return [(method.upper(), path, op) for path, ops in doc["paths"].items() for method, op in ops.items()]


def test_bearer_scheme_on_every_operation_but_health_readiness_and_metrics(api: Api):
    doc = spec(api)
    assert doc["components"]["securitySchemes"] == {"bearer": {
        "type": "http", "scheme": "bearer", "description": doc["components"]["securitySchemes"]["bearer"]["description"]}}
    for method, path, op in operations(doc):
        if path in OPEN:
            assert op["security"] == [], path
            assert "401" not in op["responses"], path
        else:
            assert op["security"] == [{"bearer": []}], (method, path)
            assert op["responses"]["401"]["headers"]["WWW-Authenticate"], (method, path)
            assert "Keys: " in op["description"], (method, path)
            # the key is looked up in the store, which may be busy (app.api.errors answers 503 `busy`)
            assert op["responses"]["503"]["headers"]["Retry-After"], (method, path)
            assert "busy" in op["responses"]["503"]["description"], (method, path)


def test_each_path_allows_the_methods_it_declares(api: Api):
    """A 405's Allow header names what the server serves at a URL; the document must declare the same
    methods at that URL's path, or a client (or fuzzer) is told two things. The one-entry GET takes any
    id, `media` and ids ending in `/revoke` included, so those paths declare their GET too."""
    samples = {"name": "l", "external_id": "x", "match_id": "1", "key_id": "1", "hook_id": "1"}
    for path, ops in spec(api)["paths"].items():
        url = re.sub(r"{(\w+)}", lambda m: samples[m.group(1)], path)
        r = api.client.request("OPTIONS", url)  # no route serves OPTIONS
        assert r.status_code == 405, (url, r.status_code)
        assert set(r.headers["allow"].split(", ")) == {m.upper() for m in ops}, (path, r.headers["allow"])


def test_every_operation_has_a_summary_a_description_and_an_operation_id(api: Api):
    ids = [op["operationId"] for _, _, op in operations(spec(api))]
    assert len(ids) == len(set(ids)) == 30
    for method, path, op in operations(spec(api)):
        assert op.get("summary") and len(op.get("description", "")) > 40, (method, path)


def test_statuses_each_operation_can_return(api: Api):
    doc = spec(api)
    declared = {(m, p): set(op["responses"]) for m, p, op in operations(doc)}
    # the refusals a reader of each route finds in its code
    must = {
        ("POST", "/v1/match"): {"200", "400", "401", "403", "404", "413", "415", "422", "429", "503", "504"},
        ("POST", "/v1/hash"): {"200", "400", "401", "403", "413", "415", "422", "429", "504"},
        ("POST", "/v1/lists/{name}/entries/media"): {"201", "400", "401", "403", "404", "413", "415", "422", "429",
                                                    "504"},
        ("POST", "/v1/lists"): {"201", "400", "401", "403", "409", "413", "422"},
        ("POST", "/v1/lists/{name}/entries"): {"200", "400", "401", "403", "404", "413", "422"},
        ("POST", "/v1/lists/{name}/entries/{external_id}/revoke"): {"200", "401", "403", "404", "409", "413", "422"},
        ("DELETE", "/v1/keys/{key_id}"): {"200", "401", "403", "404", "422"},
        ("GET", "/readyz"): {"200", "503"},
        ("GET", "/v1/lists"): {"200", "401"},  # any role may list lists: never a 403
    }
    for op, statuses in must.items():
        assert statuses <= declared[op], (op, statuses - declared[op])
    doc_ops = {(m, p): op for m, p, op in operations(doc)}
    for upload in (("POST", "/v1/match"), ("POST", "/v1/hash"), ("POST", "/v1/lists/{name}/entries/media")):
        # app.api.uploads: an upload cut short by a stopping service is 503 `unavailable`
        assert "`unavailable`" in doc_ops[upload]["responses"]["503"]["description"], upload
    assert "`match_log_unavailable`" in doc_ops[("POST", "/v1/match")]["responses"]["503"]["description"]
    assert "403" not in declared[("GET", "/v1/lists")] and "422" not in declared[("GET", "/v1/lists")]
    for method, path, op in operations(doc):
        for status, response in op["responses"].items():
            if status[0] in "45":
                assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOut"}
        if "requestBody" in op:
            assert {"400", "413", "422"} <= set(op["responses"]), (method, path)
    assert "HTTPValidationError" not in str(doc)
    assert doc["paths"]["/v1/hash"]["post"]["responses"]["429"]["headers"]["Retry-After"]


def test_403_exactly_where_a_role_is_refused(api: Api):
    doc = spec(api)
    for method, path, op in operations(doc):
        if path in OPEN:
            continue
        roles = set(re.search(r"Keys: ([a-z, ]+)\.", op["description"]).group(1).split(", "))  # type: ignore[union-attr]
        assert roles <= set(ANY_ROLE)
        assert ("403" in op["responses"]) == (roles != set(ANY_ROLE)), (method, path)
    # and what the document says is what the service does: an auditor may not create a list
    r = api.client.post("/v1/lists", json={"name": "x"}, headers=api.h("auditor"))
    assert_error(r, 403, "forbidden")


def test_bulk_import_body_and_formats(api: Api):
    op = spec(api)["paths"]["/v1/lists/{name}/entries"]["post"]
    content = op["requestBody"]["content"]
    assert set(content) == {"application/json", "application/x-ndjson", "text/csv", "text/plain"}
    for media_type, body in content.items():
        assert body["schema"] and body["example"], media_type
    entry = content["application/json"]["schema"]["oneOf"][0]["items"]
    assert entry["required"] == ["id"] and set(SIGNAL_TYPES) <= set(entry["properties"])
    fmt = next(p for p in op["parameters"] if p["name"] == "format")
    enum = spec(api)["components"]["schemas"]["BodyFormat"]["enum"]
    assert enum == ["auto", "json", "jsonl", "csv", "te"] and "threatexchange" in fmt["description"]
    assert "te" in content["text/plain"]["schema"]["description"].split("format=")[1][:3]


def test_enums_and_limits(tmp_path):
    client, _, _ = make_api("sqlite:///" + str(tmp_path / "s.db"), tmp_path, max_batch=7)
    with client:
        doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    hashes = doc["paths"]["/v1/match"]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]["hashes"]
    assert set(hashes["properties"]) == set(SIGNAL_TYPES) - LIST_ONLY and hashes["additionalProperties"] is False
    assert hashes["properties"]["pdq"]["pattern"] == r"^\s*[0-9A-Fa-f]{64}\s*$"
    assert schemas["KeyIn"]["properties"]["role"]["enum"] == list(ROLES)
    assert schemas["KeyIn"]["then"]["required"] == ["owner"]  # a curator or matcher key needs an owner
    assert schemas["OutcomeIn"]["properties"]["outcome"]["enum"] == list(OUTCOMES)
    assert schemas["ListCreate"]["properties"]["default_action"]["enum"] == [a.value for a in Action]
    assert schemas["ListCreate"]["properties"]["thresholds"]["anyOf"][0]["properties"]["pdq"]["maximum"] == 79
    batch = doc["paths"]["/v1/match/batch"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert batch["properties"]["items"]["maxItems"] == 7  # this server's own batch size


def test_the_schema_signal_set_is_the_service_s(api: Api):
    """A list-only signal (pdq_variant) is not a query signal: 422 as the schema says, never a 500."""
    for name in LIST_ONLY:
        r = api.client.post("/v1/match", json={"hashes": {name: PDQ}}, headers=api.h("matcher"))
        assert_error(r, 422, "invalid")
        r = api.client.post("/v1/match/batch", json={"items": [{"hashes": {name: PDQ}}]}, headers=api.h("matcher"))
        assert r.status_code == 200 and r.json()["results"][0]["error"]["code"] == "invalid"
    for name in SIGNAL_TYPES.keys() - LIST_ONLY:
        digits = SIGNAL_TYPES[name].bits // 4
        r = api.client.post("/v1/match", json={"hashes": {name: "7" * digits}}, headers=api.h("matcher"))
        assert r.status_code == 200, (name, r.text)


def test_links_between_operations(api: Api):
    doc = spec(api)
    by_id = {op["operationId"]: (path, op) for _, path, op in operations(doc)}
    links = doc["paths"]["/v1/match"]["post"]["responses"]["200"]["links"]
    assert links["GetMatch"] == {"operationId": "get_match", "parameters": {"match_id": "$response.body#/matches/0/match_id"}}
    assert doc["paths"]["/v1/lists"]["post"]["responses"]["201"]["links"]["GetList"]["parameters"] == {
        "name": "$response.body#/name"}
    count = 0
    for _, _, op in operations(doc):
        for response in op["responses"].values():
            for link in response.get("links", {}).values():
                path, target = by_id[link["operationId"]]
                names = {p["name"] for p in target.get("parameters", ()) if p["in"] == "path"}
                assert set(link["parameters"]) == names, (link, path)
                count += 1
    assert count >= 20


def test_docs_page_needs_no_internet(api: Api):
    page = api.client.get("/docs")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert urls and all(u.startswith(ASSETS_URL + "/") for u in urls), urls
    assert "http://" not in page.text and "https://" not in page.text and "cdn" not in page.text.lower()
    assert '"validatorUrl": null' in page.text  # Swagger UI would otherwise ask validator.swagger.io
    kinds = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
    for url in urls:
        r = api.client.get(url)
        assert r.status_code == 200 and len(r.content) > 100, url
        assert r.headers["content-type"].startswith(kinds[url[url.rfind("."):]]), (url, r.headers["content-type"])
    bundle = api.client.get(f"{ASSETS_URL}/swagger-ui-bundle.js").text
    assert "SwaggerUIBundle" in bundle
    assert "Apache License" in api.client.get(f"{ASSETS_URL}/LICENSE").text  # Swagger UI's licence, served beside it
    assert set(ASSETS) >= {u.rsplit("/", 1)[1] for u in urls}
    assert_error(api.client.get(f"{ASSETS_URL}/swagger-editor-bundle.js"), 404, "not_found")
    assert_error(api.client.get(f"{ASSETS_URL}/..%2fcore.py"), 404, "not_found")
    assert api.client.get("/redoc").status_code == 404  # FastAPI's CDN-based pages are off
    assert api.client.get("/openapi.json").json()["components"]["securitySchemes"]["bearer"]  # the Authorize button


def test_docs_assets_come_from_the_installed_package():
    """From swagger-ui-py's wheel (a pinned dependency), never from files copied into this repository."""
    from app.api.docs import assets_dir

    folder = assets_dir()
    assert folder.parent.name == "swagger_ui" and (folder / "swagger-ui-bundle.js").is_file()
    assert not list(Path(__file__).resolve().parent.parent.joinpath("app").glob("**/swagger-ui*"))

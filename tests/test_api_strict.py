"""The API's reading of parameters: ids out of a column's range are refused (422, never 500) on both
backends, with their bounds in the OpenAPI; booleans are true or false; times read as the CLI reads
them (app.timespec); a 405 names every method the path takes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from test_api_support import Api, api, api_both, assert_error, create_list, import_jsonl  # noqa: F401

from app.api.params import MAX_INT32, MAX_INT64
from app.rescan import parse_since
from app.timespec import TimeSpecError, parse_time

# Every integer path or query parameter, with the largest value its column holds.
INTEGER_PARAMS = [
    ("DELETE", "/v1/keys/{n}", MAX_INT32),
    ("DELETE", "/v1/webhooks/{n}", MAX_INT32),
    ("GET", "/v1/webhooks/{n}/deliveries", MAX_INT32),
    ("GET", "/v1/lists/l/entries?after={n}", MAX_INT64),
    ("GET", "/v1/audit?since_id={n}", MAX_INT64),
    ("GET", "/v1/webhooks/1/deliveries?limit={n}", 1000),
    ("GET", "/v1/lists/l/entries?limit={n}", 1000),
    ("GET", "/v1/audit?limit={n}", 1000),
]


@pytest.mark.parametrize(("method", "template", "top"), INTEGER_PARAMS)
def test_out_of_range_ids_are_refused_never_500(api_both: Api, method: str, template: str, top: int):
    api = api_both
    if "/lists/l/" in template:
        create_list(api, "l")
    if "/webhooks/1/" in template:
        api.client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/h", "events": ["match"]}, headers=api.h("admin"))
    too_big = [top + 1, 2**31, 2**63, 173202575549029810176, 10**40]
    for value in [v for v in too_big if v > top] + ["-1", "1.0", "1_0", "+1", " 1", "1e3", "0x10", "١"]:
        r = api.client.request(method, template.format(n=value), headers=api.h("admin"))
        assert_error(r, 422, "invalid")
    r = api.client.request(method, template.format(n=top), headers=api.h("admin"))
    assert r.status_code in (200, 404), r.text  # the largest value a column holds: asked, and answered


def test_cli_revokes_no_key_past_the_column_and_never_crashes(db_url, monkeypatch):
    """`takedown keys revoke` takes any number: one past api_keys.id's INTEGER range is "no active key"
    (exit 2), not a DataError traceback on PostgreSQL."""
    from typer.testing import CliRunner

    from app.cli import add_commands

    monkeypatch.setenv("TAKEDOWN_DATABASE_URL", db_url)
    cli = add_commands()
    for value in (MAX_INT32 + 1, MAX_INT64):
        run = CliRunner().invoke(cli, ["keys", "revoke", str(value)])
        assert run.exit_code == 2 and f"no active key {value}" in run.stderr, (run.exit_code, run.output)


def test_openapi_shows_the_bounds(api: Api):
    spec = api.client.get("/openapi.json").json()["paths"]

    def param(path: str, method: str, name: str) -> dict:
        return next(p["schema"] for p in spec[path][method]["parameters"] if p["name"] == name)

    for path, method, name in (("/v1/keys/{key_id}", "delete", "key_id"), ("/v1/webhooks/{hook_id}", "delete", "hook_id"),
                               ("/v1/webhooks/{hook_id}/deliveries", "get", "hook_id")):
        assert (param(path, method, name)["minimum"], param(path, method, name)["maximum"]) == (1, MAX_INT32)
    assert param("/v1/lists/{name}/entries", "get", "after")["maximum"] == MAX_INT64
    assert param("/v1/audit", "get", "since_id")["maximum"] == MAX_INT64
    assert param("/v1/audit", "get", "limit")["maximum"] == 1000
    assert param("/v1/lists/{name}/entries", "get", "include_revoked")["type"] == "boolean"
    since = param("/v1/lists/{name}/report", "get", "since")["anyOf"][0]
    assert since["type"] == "string" and "7d" in since["examples"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/v1/lists", "GET, POST"),
        ("DELETE", "/v1/lists", "GET, POST"),
        ("PUT", "/v1/lists/x", "GET, PATCH, DELETE"),
        ("GET", "/v1/match", "POST"),
        ("DELETE", "/v1/keys", "GET, POST"),
        ("PATCH", "/v1/lists/x/entries/a/b/revoke", "GET, POST"),  # the entry a/b/revoke, or a/b's revocation
        ("DELETE", "/v1/lists/x/entries/media", "GET, POST"),
        ("POST", "/healthz", "GET"),
    ],
)
def test_405_names_every_allowed_method(api: Api, method: str, path: str, allowed: str):
    r = api.client.request(method, path, headers=api.h("admin"))
    error = assert_error(r, 405, "method_not_allowed")
    assert r.headers["allow"] == allowed
    assert method in error["message"] and allowed in error["message"]


def test_booleans_are_true_or_false(api: Api):
    create_list(api, "l")
    import_jsonl(api, "l", [{"id": "a", "md5": "a" * 32}])
    api.client.post("/v1/lists/l/entries/a/revoke", json={"reason": "x"}, headers=api.h("curator"))
    for word, count in (("true", 1), ("false", 0), ("True", 1), ("FALSE", 0)):
        r = api.client.get(f"/v1/lists/l/entries?include_revoked={word}", headers=api.h("curator"))
        assert len(r.json()["entries"]) == count, (word, r.text)
    for word in ("0", "1", "yes", "no", "on", "off", "t", "f", "", " true"):
        for url in (f"/v1/lists/l/entries?include_revoked={word}", f"/v1/lists/l/export?include_revoked={word}",
                    f"/v1/keys?include_revoked={word}"):
            error = assert_error(api.client.get(url, headers=api.h("admin")), 422, "invalid")
            assert "true or false" in error["message"], (url, error)
    r = api.client.post("/v1/lists/l/entries?skip_invalid=1", content=b'{"id": "b", "md5": "x"}\n',
                        headers={**api.h("curator"), "content-type": "application/x-ndjson"})
    assert_error(r, 422, "invalid")


def report(api: Api, query: str):  # type: ignore[no-untyped-def]
    return api.client.get(f"/v1/lists/l/report?{query}", headers=api.h("curator"))


def test_report_times_read_as_the_cli_reads_them(api: Api):
    create_list(api, "l")
    for bad in ("until=0.5", "since=1700000000", "since=0", "until=yesterday", "since=-7d", "since=7x",
                "since=1969-12-31", "until=99999999999d", "since=" + "2026-01-01" * 10):
        error = assert_error(report(api, bad), 422, "invalid")
        assert "expected" in error["message"] or "outside" in error["message"], (bad, error)
    # a basic-format ISO date is a date (pydantic read it as seconds after 1970)
    assert report(api, "since=20240501&until=20240502").json()["since"] == "2024-05-01T00:00:00+00:00"
    assert report(api, "until=2026-01-01T00:00:00%2B02:00").json()["until"] == "2025-12-31T22:00:00+00:00"
    assert report(api, "until=2026-01-01T12:00").json()["until"] == "2026-01-01T12:00:00+00:00"  # UTC when unsaid
    since = datetime.fromisoformat(report(api, "since=7d").json()["since"])
    assert abs(since - (datetime.now(UTC) - timedelta(days=7))) < timedelta(minutes=1)
    assert_error(report(api, "since=1d&until=2d"), 422, "invalid")  # since after until


def test_one_time_parser_for_the_api_and_the_cli():
    now = datetime(2026, 5, 1, 12, tzinfo=UTC)
    for text, expected in (("24h", datetime(2026, 4, 30, 12, tzinfo=UTC)), ("90m", now - timedelta(minutes=90)),
                           ("2w", now - timedelta(weeks=2)), ("2026-04-01", datetime(2026, 4, 1, tzinfo=UTC)),
                           ("2026-04-01t10:00z", datetime(2026, 4, 1, 10, tzinfo=UTC)),
                           ("2026-04-01T10:00:00+02:00", datetime(2026, 4, 1, 8, tzinfo=UTC))):
        assert parse_time(text, now) == expected == parse_since(text, now), text
    for bad in ("0.5", "1700000000", "", "7", "d", "7 d", "1e3d", "nan", "last tuesday", "0001-01-01T00:00+01:00"):
        with pytest.raises(TimeSpecError):
            parse_time(bad, now)
        with pytest.raises(ValueError, match="--since"):
            parse_since(bad, now)

"""Shared set-up for the API tests (no tests here): a service on a fresh store, keys for every role,
and small helpers. Imported by the tests/test_api_*.py modules."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.api import create_app
from app.api.settings import Settings
from app.keys import KeyStore
from index.store import Store


LOOPBACK = "127.0.0.0/8,::1/128"


@dataclass
class Api:
    client: TestClient
    store: Store
    keys: dict[str, str]  # role (or role:owner) -> key

    def h(self, who: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.keys[who]}"}

    @property
    def services(self):  # type: ignore[no-untyped-def]
        return self.client.app.state.services  # type: ignore[attr-defined]

    def wait_index(self) -> None:
        """Catch the index up at once (the service follows the store every second by itself)."""
        self.services.index.refresh()


def make_api(url: str, tmp_path, **overrides) -> tuple[TestClient, Store, dict[str, str]]:  # type: ignore[no-untyped-def]
    # The tests' webhook receivers listen on loopback, which only the allowlist opens (app.api.egress).
    fast = {"webhook_poll_seconds": 0.1, "webhook_backoff_seconds": 0.05,
            "index_follow_seconds": 0.2, "webhook_allow_networks": LOOPBACK}
    settings = Settings(database_url=url, snapshot_dir=tmp_path / "index", **{**fast, **overrides})
    store = Store(url)
    ks = KeyStore(store)
    keys = {
        "admin": ks.create("admin", owner=None, actor="test")[1],
        "curator": ks.create("curator", owner="Ofcom", actor="test")[1],
        "curator:Arcom": ks.create("curator", owner="Arcom", actor="test")[1],
        "matcher": ks.create("matcher", owner="platform-a", actor="test")[1],
        "matcher:b": ks.create("matcher", owner="platform-b", actor="test")[1],
        "auditor": ks.create("auditor", owner=None, actor="test")[1],
    }
    return TestClient(create_app(settings)), store, keys


@pytest.fixture
def api(tmp_path):
    client, store, keys = make_api(f"sqlite:///{tmp_path / 'store.db'}", tmp_path)
    with client:
        yield Api(client, store, keys)
    store.close()


@pytest.fixture
def api_both(db_url, tmp_path):
    """The same service on SQLite and on PostgreSQL."""
    client, store, keys = make_api(db_url, tmp_path)
    with client:
        yield Api(client, store, keys)
    store.close()


def jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def create_list(api: Api, name: str = "ofcom-ncii", who: str = "curator", **body) -> dict:  # type: ignore[no-untyped-def]
    r = api.client.post("/v1/lists", json={"name": name, **body}, headers=api.h(who))
    assert r.status_code == 201, r.text
    return r.json()


def import_jsonl(api: Api, name: str, records: list[dict], who: str = "curator") -> dict:  # type: ignore[no-untyped-def]
    body = "".join(json.dumps(r) + "\n" for r in records)
    r = api.client.post(f"/v1/lists/{name}/entries", content=body.encode(),
                        headers={**api.h(who), "content-type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    api.wait_index()
    return r.json()


def assert_error(response, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"], body
    return body["error"]

"""Webhook SSRF (issue 14.1): internal targets are refused in every notation, at registration and again at
connection time (DNS rebinding), the connection goes to the vetted address itself, redirects are not
followed, and the deliveries log shows categories, never addresses or connection errors.

No test here sends anything beyond loopback: names are answered by a fake resolver, numeric hosts are
resolved with AI_NUMERICHOST (no DNS query), and connections to a public address are intercepted."""

from __future__ import annotations

import socket
import ssl
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_api_support import Api, api_both, assert_error, create_list, import_jsonl, make_api  # noqa: F401
from webhook_receiver import Receiver, wait_for

from app.api.delivery import DeliveryWorker
from app.api.egress import EgressPolicy, Refused, Unresolvable, is_public
from index.ledger import Ledger, LoggedMatch, new_match_id
from index.store import Store

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
PUBLIC = "93.184.216.34"
REAL_GETADDRINFO = socket.getaddrinfo

INTERNAL = [
    "http://169.254.169.254/latest/meta-data/iam/", "http://10.0.0.1/", "http://127.0.0.1:5432/",
    "http://[::1]:6379/", "http://2130706433/", "http://0x7f.1/", "http://0x7f000001/", "http://017700000001/",
    "http://127.1/", "http://0/", "http://0.0.0.0:8000/", "http://[::]/", "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/", "http://[::ffff:a9fe:a9fe]/", "http://[fe80::1%25eth0]/", "http://[fe80::1%25lo]/",
    "http://[fe80::1]/",
    "http://192.168.1.1/", "http://172.16.0.1/", "http://100.64.0.1/", "http://224.0.0.1/", "http://239.1.2.3/",
    "http://255.255.255.255/", "http://240.0.0.1/", "http://[ff02::1]/", "http://[fc00::1]/", "http://[fd12::1]/",
    "http://[fec0::1]/", "http://[64:ff9b::7f00:1]/", "http://[2002:7f00:1::]/", "http://[::127.0.0.1]/",
    "http://[2001:db8::1]/", "http://192.0.2.1/", "https://198.18.0.1/", "http://localhost/", "http://LOCALHOST./",
    "http://api.localhost:8080/", "http://0177.0.0.1/", "http://127.0.0.1./", "http://user:pw@8.8.8.8/",
    "ftp://8.8.8.8/", "http:///nohost",
]


def fake_dns(monkeypatch, names: dict[str, list[list[str]]]) -> list[str]:  # type: ignore[no-untyped-def]
    """Answer `names` from the given answers (one list per lookup, the last one repeating); numeric hosts
    the system way without DNS (AI_NUMERICHOST); any other name does not resolve. Returns the lookups."""
    asked: list[str] = []

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):  # type: ignore[no-untyped-def]  # noqa: A002
        name = host.decode() if isinstance(host, bytes) else str(host)
        asked.append(name)
        if name in names:
            answers = names[name]
            ips = answers.pop(0) if len(answers) > 1 else answers[0]
            return [(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                     (ip, port, 0, 0) if ":" in ip else (ip, port)) for ip in ips]
        return REAL_GETADDRINFO(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def no_outside_connections(monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    """Sockets may connect to loopback only: anything else fails at once, before a packet is sent, whatever
    the code under test does. Returns the hosts connections were asked for."""
    real = socket.create_connection
    tried: list[str] = []

    def create_connection(address, *args, **kwargs):  # type: ignore[no-untyped-def]
        tried.append(address[0])
        targets = {info[4][0] for info in socket.getaddrinfo(address[0], address[1], type=socket.SOCK_STREAM)}
        if not targets <= {"127.0.0.1", "::1"}:
            raise ConnectionRefusedError("intercepted by the test: no traffic beyond loopback")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", create_connection)
    return tried


@pytest.mark.parametrize("url", INTERNAL)
def test_internal_targets_are_refused_in_every_notation(monkeypatch, url: str):
    fake_dns(monkeypatch, {})
    with pytest.raises(Refused):
        EgressPolicy().check_url(url)


def test_public_targets_pass_and_the_allowlist_opens_internal_ones(monkeypatch):
    fake_dns(monkeypatch, {"hooks.example.com": [[PUBLIC, "2606:4700::1111"]], "mixed.example.com": [[PUBLIC, "10.0.0.7"]],
                           "receiver.internal": [["10.1.2.3"]]})
    for url in ("http://8.8.8.8/x", "https://[2606:4700:4700::1111]/", "https://hooks.example.com/h"):
        EgressPolicy().check_url(url)
    with pytest.raises(Refused):  # one internal address among public ones is enough to refuse
        EgressPolicy().check_url("https://mixed.example.com/")
    with pytest.raises(Unresolvable):
        EgressPolicy().check_url("https://nowhere.example.com/")
    allowed = EgressPolicy.from_text(hosts="Receiver.Internal.", networks="127.0.0.0/8, ::1/128")
    for url in ("http://127.0.0.1:5432/", "http://[::1]:6379/", "http://2130706433/", "http://receiver.internal/"):
        allowed.check_url(url)
    for url in ("http://10.0.0.1/", "http://169.254.169.254/", "http://localhost/"):
        with pytest.raises(Refused):
            allowed.check_url(url)
    with pytest.raises(ValueError, match="TAKEDOWN_WEBHOOK_ALLOW_NETWORKS"):
        EgressPolicy.from_text(networks="10.0.0.0/33")
    assert not is_public(__import__("ipaddress").ip_address("64:ff9b::a00:1"))  # NAT64 of 10.0.0.1


@pytest.fixture
def strict(tmp_path):
    """The service with no webhook allowlist, as deployed by default."""
    client, store, keys = make_api(f"sqlite:///{tmp_path / 'store.db'}", tmp_path, webhook_allow_networks="")
    with client:
        yield Api(client, store, keys)
    store.close()


def test_registration_refuses_internal_targets_with_a_clear_message(strict: Api, monkeypatch):
    fake_dns(monkeypatch, {"metadata.attacker.example": [["169.254.169.254"]]})
    for url in INTERNAL[:8] + ["http://metadata.attacker.example/latest"]:
        error = assert_error(strict.client.post("/v1/webhooks", json={"url": url, "events": ["match"]},
                                                headers=strict.h("matcher")), 422, "unsafe_url")
        assert "not a public internet address" in error["message"] and "ALLOW_NETWORKS" in error["message"]
    # the caller learns that its host is refused, never what it resolved to
    for url, resolved in (("http://2130706433/", "127.0.0.1"), ("http://0x7f.1/", "127.0.0.1"),
                          ("http://metadata.attacker.example/", "169.254")):
        error = assert_error(strict.client.post("/v1/webhooks", json={"url": url, "events": ["match"]},
                                                headers=strict.h("matcher")), 422, "unsafe_url")
        assert resolved not in error["message"]
    assert strict.client.get("/v1/webhooks", headers=strict.h("admin")).json() == []


def _hook_with_delivery(store: Store, url: str) -> tuple[Ledger, int]:
    lst = store.create_list("ofcom", owner="Ofcom", actor="alice")
    ledger = Ledger(store)
    hook = ledger.create_webhook(url, "s" * 16, ["match"], scope="all", owner="admin", actor="key:1")
    ledger.write_matches([LoggedMatch(new_match_id(), datetime.now(UTC), lst.id, 1, "case-1", "pdq", 3, "image",
                                      "takedown", "ref", 7, "platform-a")])
    return ledger, hook.id


def test_a_stored_internal_target_is_refused_at_delivery(db_url):
    """A webhook stored before this check (or with the allowlist since narrowed) sends nothing inside."""
    store = Store(db_url)
    receiver = Receiver()
    worker = DeliveryWorker(Ledger(store), timeout=5, max_attempts=1)  # no allowlist
    try:
        ledger, hook_id = _hook_with_delivery(store, receiver.url.replace("127.0.0.1", "2130706433"))
        assert worker.run_once() == 1
        [delivery] = ledger.deliveries(hook_id)
        assert receiver.got == [] and delivery["status"] == "failed"
        assert [(t["status_code"], t["error"]) for t in delivery["tries"]] == [(None, "refused")]
    finally:
        worker.stop()
        receiver.close()
        store.close()


def test_dns_rebinding_is_refused_at_connection_time(strict: Api, monkeypatch):
    receiver = Receiver()
    try:
        url = f"http://hooks.attacker.example:{receiver.port}/hook"
        # public when registered and when the delivery checks it, loopback for any later look-up
        asked = fake_dns(monkeypatch, {"hooks.attacker.example": [[PUBLIC], [PUBLIC], ["127.0.0.1"]]})
        tried = no_outside_connections(monkeypatch)
        create_list(strict, "l")
        import_jsonl(strict, "l", [{"id": "A", "pdq": PDQ}])
        made = strict.client.post("/v1/webhooks", json={"url": url, "events": ["match"]}, headers=strict.h("admin"))
        assert made.status_code == 201, made.text
        strict.services.deliveries.max_attempts = 2
        strict.client.post("/v1/match", json={"hashes": {"pdq": PDQ}}, headers=strict.h("matcher"))
        ledger = strict.services.ledger
        wait_for(lambda: [d["status"] for d in ledger.deliveries(made.json()["id"])] == ["failed"])
        [delivery] = ledger.deliveries(made.json()["id"])
        # 1st attempt: the vetted public address itself was connected to (not the name: no second look-up);
        # 2nd attempt: the name now resolves to loopback and is refused before any connection
        assert tried == [PUBLIC]
        assert [t["error"] for t in delivery["tries"]] == ["connect_error", "refused"]
        assert receiver.got == [] and asked.count("hooks.attacker.example") == 3
    finally:
        receiver.close()


def test_the_connection_is_pinned_with_the_host_header_kept(tmp_path, monkeypatch):
    receiver = Receiver()
    client, store, keys = make_api(f"sqlite:///{tmp_path / 'store.db'}", tmp_path, webhook_allow_hosts="receiver.test",
                                   webhook_allow_networks="")
    try:
        fake_dns(monkeypatch, {"receiver.test": [["127.0.0.1"]]})
        with client:
            api = Api(client, store, keys)
            create_list(api, "l")
            import_jsonl(api, "l", [{"id": "A", "pdq": PDQ}])
            made = client.post("/v1/webhooks", json={"url": f"http://receiver.test:{receiver.port}/h", "events": ["match"]},
                               headers=api.h("admin"))
            assert made.status_code == 201, made.text
            client.post("/v1/match", json={"hashes": {"pdq": PDQ}}, headers=api.h("matcher"))
            wait_for(lambda: len(receiver.got) == 1)
            assert receiver.got[0][0]["host"] == f"receiver.test:{receiver.port}"
    finally:
        receiver.close()
        store.close()


def test_redirects_are_not_followed_and_errors_are_categories(api_both: Api):
    inside = Receiver()
    redirecting = Receiver(status=302, headers={"location": inside.url})
    try:
        create_list(api_both, "l")
        import_jsonl(api_both, "l", [{"id": "A", "pdq": PDQ}])
        api_both.services.deliveries.max_attempts = 1
        hooks = [api_both.client.post("/v1/webhooks", json={"url": url, "events": ["match"]},
                                      headers=api_both.h("admin")).json()["id"]
                 for url in (redirecting.url, "http://127.0.0.1:9/nothing-listens")]
        api_both.client.post("/v1/match", json={"hashes": {"pdq": PDQ}}, headers=api_both.h("matcher"))
        ledger = api_both.services.ledger
        wait_for(lambda: all([d["status"] for d in ledger.deliveries(h)] == ["failed"] for h in hooks))
        shown = [api_both.client.get(f"/v1/webhooks/{h}/deliveries", headers=api_both.h("admin")).json()[0]["tries"]
                 for h in hooks]
        assert [(t["status_code"], t["error"]) for t in shown[0]] == [(302, "http_302")]
        assert [(t["status_code"], t["error"]) for t in shown[1]] == [(None, "connect_error")]
        assert len(redirecting.got) == 1 and inside.got == []

        # an attempt logged with detail (as before this fix) is shown without it
        from sqlalchemy import update

        from index.schema import webhook_attempts
        with api_both.store.engine.begin() as conn:
            conn.execute(update(webhook_attempts).values(error="ConnectError: [Errno 111] Connection refused 10.0.0.5"))
        old = api_both.client.get(f"/v1/webhooks/{hooks[1]}/deliveries", headers=api_both.h("admin")).json()
        assert [t["error"] for t in old[0]["tries"]] == ["error"]
    finally:
        redirecting.close()
        inside.close()


def test_tls_keeps_the_host_name_for_sni_and_the_certificate_check(tmp_path: Path, monkeypatch):
    """Pinning the address must not pin TLS to it: the server name sent and checked stays the URL's host."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=receiver.test",
                    "-addext", "subjectAltName=DNS:receiver.test"], check=True, capture_output=True)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    names: list[str | None] = []
    server_tls.sni_callback = lambda _sock, name, _ctx: names.append(name)  # type: ignore[assignment,misc,func-returns-value]
    receiver = Receiver(tls=server_tls)
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    fake_dns(monkeypatch, {"receiver.test": [["127.0.0.1"]], "other.test": [["127.0.0.1"]]})
    policy = EgressPolicy.from_text(hosts="receiver.test,other.test")
    worker = DeliveryWorker(Ledger(store), timeout=5, max_attempts=1, policy=policy,
                            verify=ssl.create_default_context(cafile=str(cert)))
    try:
        ledger, right = _hook_with_delivery(store, f"https://receiver.test:{receiver.port}/h")
        wrong = ledger.create_webhook(f"https://other.test:{receiver.port}/h", "s" * 16, ["match"], scope="all",
                                      owner="admin", actor="key:1").id
        ledger.write_matches([LoggedMatch(new_match_id(), datetime.now(UTC), 1, 1, "case-1", "pdq", 3, "image",
                                          "takedown", "ref", 7, "platform-a")])
        while worker.run_once():
            pass
        assert [d["status"] for d in ledger.deliveries(right)] == ["delivered", "delivered"]
        assert {h["host"] for h, _, _ in receiver.got} == {f"receiver.test:{receiver.port}"}
        # the certificate is for receiver.test: other.test (same address) must fail the check
        assert [t["error"] for d in ledger.deliveries(wrong) for t in d["tries"]] == ["tls_error"]
        assert set(names) == {"receiver.test", "other.test"}
    finally:
        worker.stop()
        receiver.close()
        store.close()


def test_an_unexpected_failure_is_a_logged_attempt_not_a_stuck_delivery(tmp_path: Path, monkeypatch):
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    worker = DeliveryWorker(Ledger(store), timeout=5, max_attempts=1, policy=EgressPolicy.from_text(networks="127.0.0.0/8"))

    def broken(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise OSError("getpeername failed on 10.9.8.7")

    try:
        ledger, hook_id = _hook_with_delivery(store, "http://127.0.0.1:9/h")
        monkeypatch.setattr(worker._client, "stream", broken)
        assert worker.run_once() == 1
        [delivery] = ledger.deliveries(hook_id)
        assert delivery["status"] == "failed" and [t["error"] for t in delivery["tries"]] == ["network_error"]
    finally:
        worker.stop()
        store.close()

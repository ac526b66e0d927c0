"""Deleting a webhook means nothing more is sent (issue 13.3), on SQLite and PostgreSQL: its queued retries
are cancelled, a delivery the worker had already claimed is checked again right before sending, and an
attempt in flight at deletion is logged but never puts its delivery back in the queue."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from test_api_support import Api, create_list, import_jsonl, make_api
from webhook_receiver import Receiver, wait_for

from app.api.delivery import DeliveryWorker
from app.api.egress import EgressPolicy
from index.ledger import Ledger, LoggedMatch, new_match_id
from index.store import Store

LOOPBACK = EgressPolicy.from_text(networks="127.0.0.0/8")
PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


@pytest.fixture
def failing():
    r = Receiver(status=503)
    yield r
    r.close()


def test_deleted_webhook_sends_no_more_retries(db_url, tmp_path, failing: Receiver):
    # retries 0.5 s, 1 s, 2 s ... apart: the test deletes between the first attempt and the first retry
    client, store, keys = make_api(db_url, tmp_path, webhook_backoff_seconds=0.5)
    with client:
        api = Api(client, store, keys)
        create_list(api, "l")
        import_jsonl(api, "l", [{"id": "A", "pdq": PDQ}])
        hook = client.post("/v1/webhooks", json={"url": failing.url, "events": ["match"]}, headers=api.h("curator")).json()
        assert client.post("/v1/match", json={"hashes": {"pdq": PDQ}}, headers=api.h("matcher")).json()["decision"] != "none"
        ledger = api.services.ledger
        wait_for(lambda: [len(d["tries"]) for d in ledger.deliveries(hook["id"])] == [1])

        gone = client.delete(f"/v1/webhooks/{hook['id']}", headers=api.h("curator"))
        answered = time.monotonic()
        assert gone.status_code == 200 and gone.json() == {"deleted": hook["id"], "cancelled_deliveries": 1}
        time.sleep(2.0)  # two retries would have arrived by now
        assert [at > answered for _, _, at in failing.got] == [False]
        [delivery] = ledger.deliveries(hook["id"])
        assert delivery["status"] == "cancelled" and delivery["attempts"] == 1
        audit = [r for r in store.audit() if r["action"] == "webhook.delete"]
        assert audit[-1]["details"]["cancelled_deliveries"] == 1
    store.close()


def _queued(store: Store, url: str) -> tuple[Ledger, int]:
    """A webhook on `url` with one queued match delivery."""
    lst = store.create_list("ofcom", owner="Ofcom", actor="alice")
    ledger = Ledger(store)
    hook = ledger.create_webhook(url, "s" * 16, ["match"], scope="all", owner="admin", actor="key:1")
    ledger.write_matches([LoggedMatch(new_match_id(), datetime.now(UTC), lst.id, 1, "case-1", "pdq", 3, "image",
                                      "takedown", "ref", 7, "platform-a")])
    return ledger, hook.id


def test_a_claimed_delivery_is_not_sent_once_its_webhook_is_deleted(db_url):
    store = Store(db_url)
    receiver = Receiver()
    worker = DeliveryWorker(Ledger(store), timeout=5, policy=LOOPBACK)  # not started: driven by hand
    try:
        ledger, hook_id = _queued(store, receiver.url)
        [claimed] = ledger.claim_due()
        ledger.delete_webhook(hook_id, actor="key:1")  # after the worker took it, before it sent it
        assert worker.deliver(claimed) is False
        assert receiver.got == []
        [delivery] = ledger.deliveries(hook_id)
        assert delivery["status"] == "cancelled" and delivery["tries"] == []
        assert ledger.claim_due() == []
    finally:
        worker.stop()
        receiver.close()
        store.close()


@pytest.mark.parametrize("answer", [503, 200])
def test_an_attempt_in_flight_at_deletion_never_requeues_its_delivery(db_url, answer: int):
    store = Store(db_url)
    receiver = Receiver(status=answer, hold=True)
    worker = DeliveryWorker(Ledger(store), timeout=5, backoff=0.01, policy=LOOPBACK)
    try:
        ledger, hook_id = _queued(store, receiver.url)
        [claimed] = ledger.claim_due()
        sending = threading.Thread(target=worker.deliver, args=(claimed,))
        sending.start()
        assert receiver.arrived.wait(10)
        ledger.delete_webhook(hook_id, actor="key:1")  # while the receiver holds its answer
        receiver.release.set()
        sending.join(10)
        [delivery] = ledger.deliveries(hook_id)
        assert delivery["status"] == "cancelled"
        assert [t["status_code"] for t in delivery["tries"]] == [answer]  # the attempt that happened is logged
        time.sleep(0.1)
        assert ledger.claim_due() == [] and len(receiver.got) == 1
    finally:
        worker.stop()
        receiver.close()
        store.close()


def test_a_delivery_queued_before_deletion_cancelled_deliveries_is_dropped(db_url):
    """Rows left pending by a deletion made before this fix (the webhook is deleted, the row is not)."""
    from sqlalchemy import update

    from index.schema import webhooks

    store = Store(db_url)
    receiver = Receiver()
    worker = DeliveryWorker(Ledger(store), timeout=5, policy=LOOPBACK)
    try:
        ledger, hook_id = _queued(store, receiver.url)
        with store.engine.begin() as conn:
            conn.execute(update(webhooks).where(webhooks.c.id == hook_id).values(deleted_at=datetime.now(UTC)))
        assert worker.run_once() == 1
        assert receiver.got == [] and ledger.deliveries(hook_id)[0]["status"] == "cancelled"
    finally:
        worker.stop()
        receiver.close()
        store.close()

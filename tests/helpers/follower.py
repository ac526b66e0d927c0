"""A second process for tests/test_live.py: opens the index on a store URL, follows it, and prints a
JSON line each time the set of entries matching one PDQ hash changes. Stops after `seconds`."""

import json
import sys
import time

from index.live import LiveIndex
from index.store import Store
from matcher.bits import hex_to_words

url, pdq_hex, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
index = LiveIndex.open(Store(url))
index.follow(interval=0.5)
print(json.dumps({"ready": True}), flush=True)
query = {"pdq": hex_to_words(pdq_hex, 256)[None, :]}
seen = None
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    found = sorted({h.entry_id for h in index.search(query)})
    if found != seen:
        seen = found
        print(json.dumps({"entries": found, "at": time.time()}), flush=True)
    time.sleep(0.05)
index.stop()

"""Schemathesis hooks for tests/test_schemathesis.py (loaded through SCHEMATHESIS_HOOKS).

- JSON Lines bodies (`application/x-ndjson`, what `POST /v1/lists/{name}/entries` reads) are text:
  sent as text, as schemathesis sends text/csv and text/plain.
- The run's own admin key must outlive the run: a `DELETE /v1/keys/{key_id}` aimed at it (ids are
  small integers, which the fuzzer tries first) is sent for a spare admin key instead, otherwise
  every later request would be a 401. The ids come from the test (TAKEDOWN_FUZZ_KEY_ID,
  TAKEDOWN_SPARE_KEY_ID).
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis

schemathesis.serializer.alias("application/x-ndjson", "text/plain")


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    own, spare = os.environ.get("TAKEDOWN_FUZZ_KEY_ID"), os.environ.get("TAKEDOWN_SPARE_KEY_ID")
    if own is None or spare is None or case.method.upper() != "DELETE" or case.path != "/v1/keys/{key_id}":
        return
    if str((case.path_parameters or {}).get("key_id")) == own:
        case.path_parameters["key_id"] = int(spare)

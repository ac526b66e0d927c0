"""One router per resource: health, hash, match, lists, entries, reports, outcomes, webhooks, audit, keys."""

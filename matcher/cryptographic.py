"""MD5 and SHA-256 of the raw bytes: the exact-copy signals existing hash lists carry.

They match only byte-identical files (one re-encode defeats them), but they cost almost nothing and
many lists contain nothing else. Pure: bytes in, hex out.
"""

from __future__ import annotations

import hashlib

from matcher.signal import BytesSignal, SignalValue


class Md5(BytesSignal):
    name = "md5"
    bits = 128
    description = "MD5 of the file bytes (exact copies only)"

    @classmethod
    def hash_bytes(cls, data: bytes) -> SignalValue:
        return SignalValue(hashlib.md5(data, usedforsecurity=False).hexdigest())


class Sha256(BytesSignal):
    name = "sha256"
    bits = 256
    description = "SHA-256 of the file bytes (exact copies only)"

    @classmethod
    def hash_bytes(cls, data: bytes) -> SignalValue:
        return SignalValue(hashlib.sha256(data).hexdigest())

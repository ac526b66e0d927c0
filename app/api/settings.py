"""The service's settings: where the store is, and every limit, each overridable from the environment.

Plain data read once at start-up; nothing here opens a database or a socket.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from index import db

MB = 1024 * 1024


def _env(name: str, default: float | str) -> float | str:
    value = os.environ.get(f"TAKEDOWN_{name.upper()}")
    if value is None or value == "":
        return default
    try:
        return type(default)(value)
    except ValueError:
        raise ValueError(f"TAKEDOWN_{name.upper()}={value!r} is not a number") from None


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None  # None: TAKEDOWN_DATABASE_URL, else SQLite in the data folder
    snapshot_dir: Path | None = field(default=None)  # None: DATA_DIR/index
    max_image_bytes: int = 50 * MB
    max_video_bytes: int = 500 * MB
    max_json_bytes: int = 10 * MB  # match by hashes, batches, settings
    max_import_bytes: int = 2048 * MB  # bulk entry uploads (streamed into the importer)
    max_concurrent_uploads: int = 8  # per process; the next one gets 429
    processing_timeout: float = 120.0  # seconds of hashing per upload before 504 (the worker is killed)
    body_read_timeout: float = 30.0  # seconds without a byte of a request body before 408
    # The work one upload may cost (app.sandbox, matcher.video.VideoLimits); past any, 413 too_much_work.
    max_cpu_seconds: float = 60.0  # CPU time of the worker process hashing one upload
    max_upload_memory: int = 2048 * MB  # memory a worker may add to hash one upload (RLIMIT_AS); a 100 MP JPEG peaks at 0.9 GB
    worker_recycle_memory: int = 512 * MB  # a worker holding more after an upload is replaced
    warm_upload_workers: int = 1  # worker processes started with the service, before any upload
    max_image_pixels: int = 100_000_000  # one image, decoded
    max_decoded_pixels: int = 30_000_000_000  # a video's frames, decoded in all (about 2 min of CPU)
    max_animation_frames: int = 10_000  # GIF/WebP frames composited
    max_animation_pixels: int = 2_000_000_000  # GIF/WebP canvas pixels composited in all
    key_cache_seconds: float = 10.0  # how long a key revoked elsewhere may keep working here
    match_log_window: float = 0.0  # seconds a commit waits for more requests' rows (0: commits as they come)
    match_log_timeout: float = 15.0  # seconds a request waits for its match-log commit before 503
    index_follow_seconds: float = 1.0
    webhook_poll_seconds: float = 1.0
    webhook_timeout: float = 10.0
    webhook_max_attempts: int = 8
    webhook_backoff_seconds: float = 2.0  # first retry after this, doubling each time
    # Webhooks go to public internet addresses only (app.api.egress); these open internal receivers on
    # purpose: comma-separated host names, and networks as CIDRs (e.g. "10.20.0.0/16,127.0.0.1/32").
    webhook_allow_hosts: str = ""
    webhook_allow_networks: str = ""
    max_batch: int = 1000  # hash sets per /v1/match/batch call
    shutdown_seconds: float = 30.0  # from SIGTERM to exit, whatever is running (app.api.shutdown)

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Defaults, then TAKEDOWN_<NAME> environment variables (e.g. TAKEDOWN_MAX_IMAGE_BYTES), then overrides."""
        values: dict[str, object] = {}
        for f in fields(cls):
            if f.name in ("database_url", "snapshot_dir"):
                continue
            values[f.name] = _env(f.name, getattr(cls, f.name))
        values |= overrides
        return cls(**values)  # type: ignore[arg-type]

    def store_url(self) -> str:
        return self.database_url or db.database_url()

    def snapshot_folder(self) -> Path:
        return self.snapshot_dir or db.data_dir() / "index"

    def upload_body_limit(self) -> int:
        """Bytes an upload request may carry: the larger media limit plus room for the form's framing."""
        return max(self.max_image_bytes, self.max_video_bytes) + MB

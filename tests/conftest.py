"""Shared fixtures: real photos (scikit-image's bundled ones), synthetic images, the developer corpus."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def encode(im: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **params)
    return buf.getvalue()


def skimage_photos() -> dict[str, np.ndarray]:
    """Real photographs that ship inside the scikit-image wheel (no download)."""
    from skimage import data

    photos = {}
    for name in ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field", "retina"):
        photos[name] = np.ascontiguousarray(getattr(data, name)()[..., :3])
    for name in ("camera", "moon", "page", "text", "coins", "grass", "gravel", "brick"):
        grey = getattr(data, name)()
        photos[name] = np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))
    return photos


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    return skimage_photos()


def synthetic_images(seed: int = 7) -> dict[str, np.ndarray]:
    """Shapes and contents the corpus lacks: extreme aspect ratios, tiny and odd sizes, flat areas."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for h, w in [(5, 5), (6, 9), (63, 65), (64, 64), (127, 129), (300, 7), (7, 300), (1000, 37), (480, 640), (1203, 1601)]:
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([(xx * 255 // max(1, w - 1)), (yy * 255 // max(1, h - 1)), ((xx + yy) % 97) * 2], axis=2)
        noise = rng.integers(0, 40, size=(h, w, 3))
        out[f"gradient_{h}x{w}"] = np.clip(base + noise, 0, 255).astype(np.uint8)
    out["noise_256"] = rng.integers(0, 256, size=(256, 256, 3), dtype=np.uint8)
    blocks = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    out["blocks_400x300"] = np.kron(blocks, np.ones((50, 38, 1), dtype=np.uint8))[:400, :300].copy()
    out["flat_grey"] = np.full((200, 300, 3), 128, dtype=np.uint8)
    return out


@pytest.fixture(scope="session")
def synthetic() -> dict[str, np.ndarray]:
    return synthetic_images()


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The developer corpus, built on first use by the project's own recipe (scripts/build-corpus.sh)."""
    target = Path(os.environ.get("TAKEDOWN_CORPUS", Path.home() / ".cache" / "takedown-corpus"))
    if not (target / "img" / "manifest.tsv").exists():
        env = {**os.environ, "PY": os.environ.get("PY", str(Path(os.sys.executable)))}
        subprocess.run(["bash", str(ROOT / "scripts" / "build-corpus.sh"), str(target)], check=True, env=env)
    return target


@pytest.fixture(scope="session")
def corpus_images(corpus_dir: Path) -> list[Path]:
    files = sorted(p for p in (corpus_dir / "img").iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    assert len(files) >= 200, f"developer corpus looks incomplete: {len(files)} images in {corpus_dir}"
    return files


PG_URL = os.environ.get("TAKEDOWN_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_schema_url(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL schema per test. Fails (never skips) when the server is unreachable: CI's
    machine has one, and a silently skipped backend would hide breakage."""
    import uuid

    from sqlalchemy import text

    from index.db import make_engine

    schema = "t_" + uuid.uuid4().hex[:12]
    admin = make_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"PostgreSQL at {PG_URL} is unreachable: {exc}")
    yield _pg_schema_url(schema)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """The same tests on both backends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_url")

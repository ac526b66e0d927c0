#!/usr/bin/env bash
# Debian packages the dev set-up needs to build Meta's `vpdq` (the vPDQ test oracle) from its sdist:
# scikit-build-core + cython + cmake compile it against FFmpeg's development libraries (a C++ compiler
# must be present too). Idempotent: installs only what is missing, and prints nothing when all is there.
set -euo pipefail

PACKAGES=(
    pkg-config cmake ffmpeg
    libavcodec-dev libavformat-dev libavdevice-dev libavutil-dev
    libswscale-dev libswresample-dev libavfilter-dev
    # tests/test_webhooks_egress.py makes a throw-away TLS certificate with the openssl command
    openssl
)

missing=()
for pkg in "${PACKAGES[@]}"; do
    # `dpkg-query -W` also succeeds for removed packages whose config files remain: check the status.
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    if [[ "$status" != "installed" ]]; then
        missing+=("$pkg")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "dev-system-packages: missing Debian packages: ${missing[*]}" >&2
    echo "dev-system-packages: install them as root, then rerun:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
fi

echo "dev-system-packages: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

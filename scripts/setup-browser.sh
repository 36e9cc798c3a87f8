#!/usr/bin/env bash
# Debian's chromium for the browser tests (tests/browser/: Python playwright drives /usr/bin/chromium
# through executable_path; `playwright install` downloads its own browser and fails here, so never
# run it). Idempotent: nothing to do when /usr/bin/chromium exists. Needs root (CI runs as root)
# or sudo.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
    echo "chromium present: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium
/usr/bin/chromium --version

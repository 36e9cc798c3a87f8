#!/usr/bin/env bash
# The Debian packages some tests need, installed when missing (idempotent; root, as CI runs, or sudo):
# - chromium for the browser tests (tests/browser/: Python playwright drives /usr/bin/chromium through
#   executable_path; `playwright install` downloads its own browser and fails here, so never run it);
# - espeak-ng, which speaks the sentence the real Whisper test transcribes (tests/test_whisper_real.py);
# - alsa-utils, whose nine real recordings (/usr/share/sounds/alsa/) the speech tests transcribe;
# - dataset-fashion-mnist, the IDX files the vision fine-tuning recipe and its tests read (30 MB).
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
[ -f /usr/share/sounds/alsa/Front_Center.wav ] || missing+=(alsa-utils)
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || missing+=(dataset-fashion-mnist)
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        SUDO="sudo"
    fi
    echo "setup-system: apt-get update, then installing ${missing[*]} without recommends (about a minute) ..."
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "chromium: $(/usr/bin/chromium --version 2>/dev/null)"
echo "espeak-ng: $(espeak-ng --version)"
echo "alsa recordings: $(ls /usr/share/sounds/alsa/ | wc -l)"
echo "fashion-mnist: $(ls /usr/share/datasets/fashion-mnist/ | tr '\n' ' ')"

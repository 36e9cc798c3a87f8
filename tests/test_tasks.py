"""workbench.tasks, the one task table: its defaults load in workbench, it agrees with the reference
where it should, every user reads it (no second copy), and the modules around it import no cycle."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from workbench import auto
from workbench.models import FAMILIES
from workbench.pipelines.base import Pipeline
from workbench.tasks import (ALIASES, PIPELINE_TASKS, TASKS, auto_class_name, infer_task, resolve_task,
                             task_for_class)

PACKAGE = Path(__file__).resolve().parents[1] / "workbench"
# where the reference's default is replaced, and the reference default's model_type (from its model card's
# config.json; workbench has no such family)
REPLACED_DEFAULTS: dict[str, tuple[str, str]] = {}
# where the reference's default is of a family workbench loads but a kind its pipeline does not serve
UNSERVED_DEFAULTS = {"image-segmentation": "facebook/detr-resnet-50-panoptic"}  # panoptic; workbench: semantic only


@pytest.mark.parametrize("name", sorted(t for t in TASKS if TASKS[t].default is not None))
def test_every_default_is_of_a_family_workbench_loads_with_the_tasks_auto_class(name):
    task = TASKS[name]
    assert task.default.model_type in FAMILIES, (name, task.default)
    config = auto.AutoConfig.for_model(task.default.model_type)
    model_class = getattr(auto, task.auto_class).model_class(config)  # raises when the family lacks the head
    family = FAMILIES[task.default.model_type]
    assert model_class.__name__ == {**family.heads, **family.also_auto}[task.auto_class]
    # the class-name mapping sends that class to a task that loads with the same Auto class
    assert TASKS[task_for_class(model_class.__name__)].auto_class == task.auto_class


def test_defaults_and_aliases_are_the_reference_s_but_where_its_family_is_missing():
    from transformers.pipelines import SUPPORTED_TASKS, TASK_ALIASES

    assert ALIASES.items() <= TASK_ALIASES.items()
    for name, task in PIPELINE_TASKS.items():
        if name not in SUPPORTED_TASKS:  # question-answering, text2text-generation, ...: dropped in the reference's 5.0
            continue
        reference_default = SUPPORTED_TASKS[name]["default"]["model"][0]
        if name in REPLACED_DEFAULTS:
            model, model_type = REPLACED_DEFAULTS[name]
            assert reference_default == model and model_type not in FAMILIES
            assert task.default_model != model
        elif name in UNSERVED_DEFAULTS:
            assert reference_default == UNSERVED_DEFAULTS[name] and task.default_model != reference_default
        else:
            assert task.default_model == reference_default, name


def test_every_pipeline_named_in_the_table_exists():
    for name, task in PIPELINE_TASKS.items():
        module = importlib.import_module(f"workbench.pipelines.{task.pipeline_module}")
        assert issubclass(getattr(module, task.pipeline_class), Pipeline), name
        assert all(hasattr(auto, name) for name in (task.auto_class, *task.other_auto_classes)), name


@pytest.mark.parametrize("class_name, task", [
    ("LlamaForCausalLM", "text-generation"), ("GPT2LMHeadModel", "text-generation"),
    ("BertForSequenceClassification", "text-classification"), ("RobertaForMaskedLM", "fill-mask"),
    ("DistilBertForQuestionAnswering", "question-answering"), ("BertForTokenClassification", "token-classification"),
    ("T5ForConditionalGeneration", "text2text-generation"), ("MarianMTModel", "text2text-generation"),
    ("WhisperForConditionalGeneration", "automatic-speech-recognition"), ("BertModel", "feature-extraction"),
    ("DistilBertForMultipleChoice", "multiple-choice"), ("Wav2Vec2ForCTC", "automatic-speech-recognition"),
    ("ViTForImageClassification", "image-classification"), ("ViTModel", "image-feature-extraction"),
    ("CLIPModel", "zero-shot-image-classification"), ("BlipForConditionalGeneration", "image-to-text"),
    ("BlipForQuestionAnswering", "visual-question-answering"), ("ViTForMaskedImageModeling", None), (None, None),
    ("DetrForObjectDetection", "object-detection"), ("SegformerForSemanticSegmentation", "image-segmentation"),
])
def test_class_names_map_to_tasks(class_name, task):
    assert task_for_class(class_name) == task


def test_infer_task_names_only_tasks_with_a_pipeline():
    assert infer_task("GPT2LMHeadModel") == "text-generation"
    for name in ("BertForMultipleChoice", "ViTForMaskedImageModeling"):
        with pytest.raises(ValueError, match=f"Cannot tell which task {name} is for: pass task="):
            infer_task(name)


def test_resolving_names():
    assert resolve_task("ner") == ("token-classification", {})
    assert resolve_task("translation_en_to_de") == ("translation", {"src_lang": "en", "tgt_lang": "de"})
    with pytest.raises(KeyError, match="Did you mean 'text-generation'"):
        resolve_task("text-generaton")
    with pytest.raises(KeyError, match="Unknown task 'multiple-choice'"):  # a head, not a pipeline
        resolve_task("multiple-choice")
    assert auto_class_name("sentiment-analysis") == "AutoModelForSequenceClassification"
    assert auto_class_name(None) == auto_class_name("no-such-task") == "AutoModel"


# --- one copy, and no cycle -----------------------------------------------------------------------

# the class-name endings that make a task mapping; only workbench.tasks may spell them alone
SUFFIXES = {"ForCausalLM", "LMHeadModel", "ForSequenceClassification", "ForTokenClassification", "ForMaskedLM",
            "ForQuestionAnswering", "ForConditionalGeneration", "MTModel", "ForMultipleChoice"}
READERS = ["pipelines", "zoo.py", "zoo_lookup.py", "catalog.py", "widgets", "training", "lab", "cli"]


def test_no_reader_of_the_table_keeps_its_own_copy():
    for reader in READERS:
        for path in sorted((PACKAGE / reader).rglob("*.py")) if (PACKAGE / reader).is_dir() else [PACKAGE / reader]:
            strings = {node.value for node in ast.walk(ast.parse(path.read_text()))
                       if isinstance(node, ast.Constant) and isinstance(node.value, str)}
            assert not strings & SUFFIXES, (path, strings & SUFFIXES)
            assert not {t.auto_class for t in TASKS.values() if t.auto_class != "AutoModel"} & strings, path


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """workbench modules ``path`` imports anywhere (at the top or inside a function)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            submodules = {f"{base}.{alias.name}" for alias in node.names} & modules
            found |= submodules if len(submodules) == len(node.names) else submodules | {base}
    return {module for module in found if module in modules and module != name}


def test_the_modules_around_the_table_are_on_no_import_cycle():
    paths = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {name: imports_of(path, set(paths)) for name, path in paths.items()}
    assert graph["workbench.tasks"] == set()
    assert graph["workbench.zoo_lookup"] == {"workbench.tasks"}
    for name in ("workbench.tasks", "workbench.zoo_lookup", "workbench.zoo", "workbench.pipelines",
                 "workbench.catalog", "workbench.lab.cache", "workbench.widgets.model_picker", "workbench.cli.zoo"):
        seen, stack = set(), list(graph[name])
        while stack:
            current = stack.pop()
            assert current != name, f"{name} imports itself back through {current}"
            if current not in seen:
                seen.add(current)
                stack.extend(graph[current])

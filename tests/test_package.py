"""Package hygiene: a light import, and the reference library never imported by workbench."""

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
HEAVY = ("torch", "transformers", "datasets", "accelerate", "ipywidgets", "matplotlib", "IPython", "gguf",
         "workbench.training", "workbench.pipelines", "workbench.widgets", "workbench.generation")


def loaded_modules(code: str) -> set[str]:
    script = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


def heavy(modules: set[str], allowed=()) -> set[str]:
    return {m for m in modules if m.split(".")[0] in HEAVY or m in HEAVY
            if not any(m == a or m.startswith(a + ".") for a in allowed)}


def test_import_workbench_loads_no_heavy_module():
    assert heavy(loaded_modules("import workbench; workbench.__version__")) == set()


def test_auto_classes_load_models_and_tokenizers_only():
    modules = loaded_modules("from workbench import AutoModelForCausalLM, AutoTokenizer, AutoConfig")
    assert heavy(modules, allowed=("torch",)) == set()
    # no model family is imported before a config asks for it (only the registry, which names them)
    assert [m for m in modules if m.startswith("workbench.models.")] == ["workbench.models.registry"]


def test_registry_entries_name_classes_their_modules_define():
    """Each family's module holds the config and every head the registry names, each head built from
    that config, and ``workbench`` exports each name lazily from there."""
    import importlib

    import workbench
    from workbench.auto import class_for_architecture
    from workbench.modeling import PreTrainedModel
    from workbench.models.registry import FAMILIES

    for model_type, family in FAMILIES.items():
        module = importlib.import_module(f"workbench.models.{family.module}")
        missing = [name for name in family.exports if not hasattr(module, name)]
        assert missing == [], f"{model_type}: workbench/models/{family.module}.py has no {missing}"
        config = getattr(module, family.config)
        assert config.model_type == model_type
        for auto, name in family.heads.items():
            head = getattr(module, name)
            assert issubclass(head, PreTrainedModel) and head.config_class is config, name
            assert class_for_architecture(name) is head
            assert getattr(workbench, auto).model_class(config()) is head
        assert all(getattr(workbench, name) is getattr(module, name) for name in family.exports)


def test_unknown_architecture_names_the_supported_model_types():
    import pytest

    from workbench import UnsupportedModelError
    from workbench.auto import class_for_architecture

    with pytest.raises(UnsupportedModelError, match=r"'NoSuchFamilyForCausalLM' is not implemented.*bert, .*distilbert"):
        class_for_architecture("NoSuchFamilyForCausalLM")


def test_unknown_attribute_is_an_attribute_error():
    import pytest
    import workbench

    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        workbench.NoSuchThing


def test_nothing_under_workbench_imports_transformers():
    offenders = []
    for path in (ROOT / "workbench").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            if any(n == "transformers" or n.startswith("transformers.") for n in names):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_using_workbench_does_not_pull_in_transformers(minilm_path):
    code = (
        f"from workbench import AutoModel, AutoTokenizer; p = {minilm_path!r}; "
        "m = AutoModel.from_pretrained(p); t = AutoTokenizer.from_pretrained(p); m(**t(['hi'], return_tensors='pt'))"
    )
    assert "transformers" not in loaded_modules(code)

"""``workbench add-model`` (workbench/porting/scaffold.py, workbench/cli/add_model.py): what it writes,
its errors, and a scaffolded family passing the shared contract suite unchanged."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.models.registry import FAMILIES
from workbench.porting import scaffold

ROOT = Path(__file__).resolve().parents[1]


def package_copy(tmp_path: Path) -> Path:
    """A copy of this checkout's workbench package under ``tmp_path`` (the tree add-model writes into)."""
    shutil.copytree(ROOT / "workbench", tmp_path / "workbench", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def tree_snapshot(root: Path) -> dict[str, str]:
    models = root / "workbench" / "models"
    return {path.name: path.read_text() for path in sorted(models.glob("*.py"))}


# --- errors: the problem and the fix, nothing written ------------------------------------------


def test_unknown_source_lists_the_registered_families(tmp_path, capsys):
    root = package_copy(tmp_path)
    before = tree_snapshot(root)
    assert main(["add-model", "--like", "lama", "--name", "olmo_two", "--root", str(root)]) == 2
    error = capsys.readouterr().err
    assert "--like 'lama' is not a registered family" in error and "llama" in error and "bert" in error
    assert tree_snapshot(root) == before


@pytest.mark.parametrize("name,says", [
    ("llama", "model_type 'llama' is already registered (workbench/models/llama.py, LlamaConfig): pick another --name."),
    ("mistral", "model_type 'mistral' is already registered"),
    ("9lives", "--name '9lives' is not a model_type workbench can use"),
    ("class", "not a Python keyword"),
    ("Olmo", "lowercase letters"),
    ("registry", "a file the package needs"),
])
def test_bad_names_are_refused_with_the_fix(tmp_path, capsys, name, says):
    root = package_copy(tmp_path)
    before = tree_snapshot(root)
    assert main(["add-model", "--like", "llama", "--name", name, "--root", str(root)]) == 2
    assert says in capsys.readouterr().err
    assert tree_snapshot(root) == before


def test_a_root_without_the_package_is_refused(tmp_path, capsys):
    assert main(["add-model", "--like", "llama", "--name", "olmo_two", "--root", str(tmp_path)]) == 2
    assert "holds no workbench/models/registry.py" in capsys.readouterr().err


def test_dry_run_writes_nothing_and_existing_files_need_force(tmp_path, capsys):
    root = package_copy(tmp_path)
    before = tree_snapshot(root)
    assert main(["add-model", "--like", "llama", "--name", "olmo_two", "--root", str(root), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "create    workbench/models/olmo_two.py" in out and '"olmo_two": Family("olmo_two", "OlmoTwoConfig"' in out
    assert tree_snapshot(root) == before
    (root / "workbench" / "models" / "olmo_two.py").write_text("# mine\n")
    assert main(["add-model", "--like", "llama", "--name", "olmo_two", "--root", str(root)]) == 2
    assert "olmo_two.py already exists: pass --force to overwrite" in capsys.readouterr().err
    assert (root / "workbench" / "models" / "olmo_two.py").read_text() == "# mine\n"
    assert main(["add-model", "--like", "llama", "--name", "olmo_two", "--root", str(root), "--force"]) == 0
    assert "class OlmoTwoConfig(LlamaConfig)" in (root / "workbench" / "models" / "olmo_two.py").read_text()


def test_a_failed_write_leaves_the_tree_as_it_was(tmp_path, monkeypatch):
    root = package_copy(tmp_path)
    before = tree_snapshot(root)
    plan = scaffold.plan("bert", "bert_two", root)
    real_replace = os.replace

    def failing_replace(source, target):  # the registry, written last, fails
        if Path(target).name == "registry.py":
            raise OSError(28, "No space left on device")
        real_replace(source, target)

    monkeypatch.setattr(scaffold.os, "replace", failing_replace)
    with pytest.raises(OSError):
        scaffold.write(plan)
    assert tree_snapshot(root) == before
    assert not list((root / "workbench" / "models").glob(".*.tmp"))


# --- what it writes ------------------------------------------------------------------------------


def test_generated_files_read_as_subclasses_and_the_entry_sits_in_its_section(tmp_path, capsys):
    root = package_copy(tmp_path)
    assert main(["add-model", "--like", "bert", "--name", "bert_two", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "pytest tests/test_models.py -k bert_two" in out and "ActivationDiff" in out
    model = (root / "workbench" / "models" / "bert_two.py").read_text()
    assert "class BertTwoConfig(BertConfig):" in model and 'model_type = "bert_two"' in model
    assert "class BertTwoForMaskedLM(BertForMaskedLM):\n    config_class = BertTwoConfig\n    base_model_class = BertTwoModel" in model
    assert len(model.splitlines()) < 100
    registry = (root / "workbench" / "models" / "registry.py").read_text()
    section = registry[registry.index(scaffold.SECTION):registry.index("\n}\n")]
    assert '"bert_two": Family("bert_two", "BertTwoConfig", {' in section
    assert "vocab_size=99" in section  # bert's tiny config, in the entry
    script = root / "workbench" / "models" / "convert_bert_two_checkpoint.py"
    assert "RENAMES" in script.read_text() and "--dry-run" in script.read_text()


DRY_RUNS = """\
import sys
from workbench.models.convert_llama_two_checkpoint import main
for checkpoint in sys.argv[1:]:
    print(f"exit {main([checkpoint, '--dry-run'])}", flush=True)
"""


def test_the_conversion_template_dry_run_reports_unmatched_keys_both_ways(tmp_path):
    """The template on a checkpoint saved by the family it was scaffolded for: a clean dry run; with a
    renamed key and a dropped one, both directions listed; nothing written either time."""
    from safetensors.torch import load_file, save_file

    import workbench

    root = package_copy(tmp_path / "tree")
    assert main(["add-model", "--like", "llama", "--name", "llama_two", "--root", str(root)]) == 0
    clean, broken = tmp_path / "clean", tmp_path / "broken"
    workbench.LlamaForCausalLM.from_config(workbench.LlamaConfig(**FAMILIES["llama"].tiny)).save_pretrained(clean)
    shutil.copytree(clean, broken)
    state = load_file(broken / "model.safetensors")
    state["transformer.wte.weight"] = state.pop("model.embed_tokens.weight")
    del state["model.norm.weight"]
    save_file(state, broken / "model.safetensors")
    before = {folder: sorted(p.name for p in folder.iterdir()) for folder in (clean, broken)}
    # one interpreter for both runs (the generated module is imported from the copy: it is first on the path)
    run = subprocess.run([sys.executable, "-c", DRY_RUNS, str(clean), str(broken)], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(root)}, cwd=root, timeout=300)
    assert run.returncode == 0, run.stderr
    first, second = run.stdout.split("exit 0\n")
    assert "0 match no workbench key, 0 workbench keys unfilled" in first
    assert second.rstrip().endswith("exit 1")
    assert re.search(r"match no workbench key:\n\s+transformer\.wte\.weight", second), second
    assert re.search(r"no checkpoint key fills:\n\s+model\.embed_tokens\.weight\n\s+model\.norm\.weight", second)
    assert {folder: sorted(p.name for p in folder.iterdir()) for folder in (clean, broken)} == before


# --- the scaffolded family passes the shared suite -----------------------------------------------

REFERENCE_ALIAS = '''\
"""A pytest plugin: the reference library learns model_type {name!r} as its {like!r} classes under
the scaffolded family's names (what the test docstring explains)."""
import sys

import transformers

_sources = {{new: getattr(transformers, source) for new, source in {classes!r}.items()}}
# the first model class looked up replaces sys.modules["transformers"] with a new module object: the
# names go on the one the tests will import
transformers = sys.modules["transformers"]
_config = type("{config}", (_sources["{config}"],), {{"model_type": "{name}"}})
transformers.AutoConfig.register("{name}", _config)
setattr(transformers, "{config}", _config)
for _auto, _new in {autos!r}.items():
    _cls = type(_new, (_sources[_new],), {{"config_class": _config}})
    setattr(transformers, _new, _cls)
    getattr(transformers, _auto).register(_config, _cls)
'''


def test_scaffolded_family_passes_the_shared_suite(tmp_path):
    """``workbench add-model --like llama --name scaffolded_llama`` into a copy of the package tree; then
    tests/test_models.py, unchanged, runs on it in a subprocess with that tree first on PYTHONPATH.

    Parity needs the reference library to know the new model_type. Of the two ways (scaffold under the
    name of a family the reference has and workbench lacks, or map the new name to the source family's
    reference), this test maps: a plugin registers ``scaffolded_llama`` with transformers as its Llama
    classes, subclassed under the scaffolded names. A name borrowed from the reference would stop
    working the day workbench adds that family (or the reference changes it), and would test the
    scaffold against a model that is not the one it copies; the mapping keeps the check exact: an
    unchanged scaffold is the source family under new names, so every contract and parity test of the
    source must pass for it too. One case only (CI time): llama, the config-driven decoder families
    are most often scaffolded from.
    """
    root = package_copy(tmp_path / "tree")
    name, prefix = "scaffolded_llama", "ScaffoldedLlama"
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    made = subprocess.run([sys.executable, "-m", "workbench", "add-model", "--like", "llama", "--name", name],
                          capture_output=True, text=True, env=env, cwd=root, timeout=300)  # default root: the copy
    assert made.returncode == 0, made.stderr
    assert f"wrote {root / 'workbench' / 'models' / (name + '.py')}" in made.stdout
    autos = {auto: prefix + source.removeprefix("Llama") for auto, source in FAMILIES["llama"].heads.items()}
    classes = {f"{prefix}Config": "LlamaConfig",
               **{autos[auto]: source for auto, source in FAMILIES["llama"].heads.items()}}
    (root / "reference_alias.py").write_text(REFERENCE_ALIAS.format(
        name=name, like="llama", config=f"{prefix}Config", classes=classes, autos=autos))
    suite = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "reference_alias", "-p", "no:cacheprovider",
                            str(ROOT / "tests" / "test_models.py"), "-k", name],
                           capture_output=True, text=True, env=env, cwd=root, timeout=1200)
    summary = suite.stdout.strip().splitlines()[-1] if suite.stdout.strip() else suite.stderr
    assert suite.returncode == 0, suite.stdout[-4000:] + suite.stderr[-2000:]
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed[1]) >= 20 and "failed" not in summary and "skipped" not in summary, summary

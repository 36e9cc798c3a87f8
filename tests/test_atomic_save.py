"""Saves that cannot half-happen (workbench/atomic_folder.py): a save killed with SIGKILL at any point
leaves its folder wholly old or wholly new (config and weights never mixed), keeps the files that are
not its own (checkpoint-* folders, a README, the model beside a tokenizer), and the next save leaves
no staging folder or temporary file anywhere.

The kill grids fork the test process once per kill point (a fresh interpreter per point would spend
~1.5 s importing torch). The child counts, with an audit hook (``sys.addaudithook``), the filesystem
changes Python makes (an open for writing, mkdir, rename, link, unlink, rmtree, chmod, the ctypes
call of renameat2) and SIGKILLs itself just before the k-th one, for every k up to the number a
whole save makes. Kills at random times (one of them of a fresh interpreter) land inside writes
too: safetensors writes its file from Rust, which no hook sees.
"""

from __future__ import annotations

import errno
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, pre_tokenizers
from tokenizers.models import WordLevel

from workbench import (AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast, Trainer, TrainingArguments,
                       pipeline)
from workbench import atomic_folder
from workbench.models.registry import FAMILIES
from workbench.training.checkpoints import get_last_checkpoint

from tests.training.tiny import tiny_dataset, tiny_model

ROOT = Path(__file__).resolve().parents[1]
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
CHANGES = {"os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.link", "os.symlink", "shutil.rmtree", "os.chmod",
           "os.utime", "tempfile.mkstemp", "ctypes.call_function"}
SHARDED = dict(max_shard_size="20KB")  # the old save in several shards, the new one in one file


# --- killing a save ----------------------------------------------------------------------------------

def _hook(kill_at: int | None, seen: list[str]):
    def hook(event: str, args: tuple) -> None:
        writes = event == "open" and isinstance(args[2], int) and args[2] & WRITE_FLAGS
        if writes or event in CHANGES:
            seen.append(f"{event} {os.path.basename(str(args[0])) if args and isinstance(args[0], (str, bytes)) else ''}")
            if len(seen) == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
    return hook


def in_child(action, kill_at: int | None = None) -> tuple[int, list[str]]:
    """Run ``action()`` in a forked child that SIGKILLs itself just before its ``kill_at``-th filesystem
    change; return (the signal that ended it, or 0), and the changes a whole run made."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        os.close(read)
        seen: list[str] = []
        try:
            sys.addaudithook(_hook(kill_at, seen))
            action()
            os.write(write, "\n".join(seen).encode())
            os._exit(0)
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(1)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        events = pipe.read().decode().splitlines()
    _, status = os.waitpid(pid, 0)
    return (os.WTERMSIG(status) if os.WIFSIGNALED(status) else -os.WEXITSTATUS(status)), events


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes)."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def leftovers(parent: Path) -> list[str]:
    return [str(path) for path in parent.rglob("*")
            if atomic_folder.STAGE_MARK in path.name or atomic_folder.OLD_MARK in path.name or path.name.endswith(".tmp")]


def kill_points(events: list[str]) -> list[int]:
    """Every change, except that of the old folder's deletion after the swap (one file after another:
    its first, middle and last)."""
    cleanup = max((k for k, event in enumerate(events, 1) if event.startswith("shutil.rmtree")), default=len(events))
    deletions = list(range(cleanup + 1, len(events) + 1)) or [cleanup]
    return sorted({*range(1, cleanup + 1), deletions[0], deletions[len(deletions) // 2], deletions[-1]})


def kill_grid(folder: Path, save_old, save_new, check) -> list[str]:
    """Kill ``save_new`` (over ``save_old``'s save) before each of its filesystem changes in turn; after
    each kill the folder must hold exactly the old or the new save (``check(folder, which)`` loads
    it), and the next save must leave nothing behind. Returns what was left at each kill point."""
    save_old()
    old = tree(folder)
    code, events = in_child(save_new)
    assert code == 0 and events, "the whole save failed in the child (its traceback is above)"
    new = tree(folder)
    assert new != old
    outcomes = []
    for k in kill_points(events):
        save_old()  # the next save, over whatever the kill left
        assert not leftovers(folder.parent) and tree(folder) == old
        code, _ = in_child(save_new, kill_at=k)
        assert code == signal.SIGKILL, f"the save was not killed before change {k} ({events[k - 1]})"
        state = tree(folder)
        assert state in (old, new), (f"killed before change {k} ({events[k - 1]}): a mix; differs from the old save in "
                                     f"{sorted(set(state.items()) ^ set(old.items()))[:4]}")
        which = "old" if state == old else "new"
        check(folder, which)
        outcomes.append(f"{events[k - 1]} -> {which}")
    save_old()
    assert not leftovers(folder.parent)
    assert "old" in outcomes[0] and "new" in outcomes[-1]  # the grid reaches both sides of the swap
    return outcomes


def random_kills(folder: Path, save_old, save_new, old: dict, new: dict, count: int) -> None:
    """A child saves new and old in turn without pause; kill it at random times."""
    started = time.perf_counter()
    save_old()
    duration = time.perf_counter() - started
    rng = random.Random(0)
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            try:
                while True:
                    save_new()
                    save_old()
            finally:
                os._exit(1)
        time.sleep(rng.uniform(0, 4 * duration))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        assert tree(folder) in (old, new)
        save_old()
        assert not leftovers(folder.parent)


# --- the model grid ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A tiny Llama twice (other seeds, configs marked old/new), each saved and loaded back."""
    import transformers

    root = tmp_path_factory.mktemp("sources")
    loaded = {}
    for seed, name in enumerate(("old", "new")):
        torch.manual_seed(seed)
        reference = transformers.LlamaForCausalLM(transformers.LlamaConfig(**FAMILIES["llama"].tiny, save_marker=name))
        reference.generation_config.max_new_tokens = 7 + seed
        reference.save_pretrained(root / name)
        loaded[name] = AutoModelForCausalLM.from_pretrained(root / name)
    return loaded


def assert_model(folder: Path, expected, reference: bool = False) -> None:
    load = AutoModelForCausalLM.from_pretrained
    if reference:
        import transformers

        load = transformers.AutoModelForCausalLM.from_pretrained
    model = load(folder)
    assert model.config.save_marker == expected.config.save_marker
    assert model.generation_config.max_new_tokens == expected.generation_config.max_new_tokens
    got, want = model.state_dict(), expected.state_dict()
    assert got.keys() == want.keys()
    for key in want:
        assert torch.equal(got[key], want[key]), key


def test_model_save_killed_anywhere_leaves_old_or_new(models, tmp_path):
    folder = tmp_path / "model"
    models["old"].save_pretrained(folder)
    (folder / "README.md").write_text("# my model\n")  # files of others, kept by every save
    (folder / "checkpoint-1").mkdir()
    (folder / "checkpoint-1" / "trainer_state.json").write_text("{}\n")
    (folder / ".model.safetensors.a1b2c3d4.tmp").write_bytes(b"\0" * 1000)  # left by a save of old workbench
    checked_by_reference = set()

    def check(folder, which):
        assert_model(folder, models[which])
        if which not in checked_by_reference:  # once each way with the reference
            checked_by_reference.add(which)
            assert_model(folder, models[which], reference=True)

    outcomes = kill_grid(folder, lambda: models["old"].save_pretrained(folder, **SHARDED),
                         lambda: models["new"].save_pretrained(folder), check)
    assert checked_by_reference == {"old", "new"}
    assert len(outcomes) >= 15, outcomes  # stage, three files, links of the kept ones, swap, cleanup
    print("\n".join(outcomes))
    old, new = tree(folder), None
    models["new"].save_pretrained(folder)
    new = tree(folder)
    random_kills(folder, lambda: models["old"].save_pretrained(folder, **SHARDED),
                 lambda: models["new"].save_pretrained(folder), old, new, count=6)


SCRIPT = """
import sys
from workbench import AutoModelForCausalLM
old, new, folder = AutoModelForCausalLM.from_pretrained(sys.argv[1]), AutoModelForCausalLM.from_pretrained(sys.argv[2]), sys.argv[3]
print("ready", flush=True)
while True:
    new.save_pretrained(folder)
    old.save_pretrained(folder, max_shard_size="20KB")
"""


def test_fresh_interpreter_killed_at_a_random_time(models, tmp_path):
    sources = {}
    for name, model in models.items():
        model.save_pretrained(tmp_path / f"src-{name}")
        sources[name] = tmp_path / f"src-{name}"
    folder = tmp_path / "out" / "model"
    models["new"].save_pretrained(folder)
    new = tree(folder)
    models["old"].save_pretrained(folder, **SHARDED)
    old = tree(folder)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-c", SCRIPT, str(sources["old"]), str(sources["new"]), str(folder)],
                             stdout=subprocess.PIPE, env=env, cwd=ROOT)
    try:
        assert child.stdout.readline().strip() == b"ready"
        time.sleep(random.uniform(0.02, 0.2))
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    state = tree(folder)
    assert state in (old, new)
    assert_model(folder, models["old" if state == old else "new"])
    models["new"].save_pretrained(folder)
    assert tree(folder) == new and not leftovers(folder.parent)


# --- a tokenizer beside a model, a Trainer's output folder -----------------------------------------------

def tiny_tokenizer(new: bool) -> PreTrainedTokenizerFast:
    vocab = {word: index for index, word in enumerate(["[UNK]", "[PAD]", "hello", "world", "again"])}
    backend = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(backend, unk_token="[UNK]", pad_token="[PAD]", model_max_length=16 if new else 8)
    if new:  # a token and a chat template more: chat_template.jinja must go when the old one is saved back
        tokenizer.add_tokens(["<extra>"])
        tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    return tokenizer


def test_tokenizer_save_killed_anywhere_keeps_the_model(models, tmp_path):
    folder = tmp_path / "both"
    models["old"].save_pretrained(folder)
    model_files = tree(folder)
    tokenizers = {"old": tiny_tokenizer(False), "new": tiny_tokenizer(True)}

    def check(folder, which):
        loaded = AutoTokenizer.from_pretrained(folder)
        expected = tokenizers[which]
        assert loaded("hello <extra> world")["input_ids"] == expected("hello <extra> world")["input_ids"]
        assert loaded.model_max_length == expected.model_max_length
        assert {name: data for name, data in tree(folder).items() if name in model_files} == model_files

    outcomes = kill_grid(folder, lambda: tokenizers["old"].save_pretrained(folder),
                         lambda: tokenizers["new"].save_pretrained(folder), check)
    assert not (folder / "chat_template.jinja").exists()
    assert len(outcomes) >= 10, outcomes


def test_trainer_output_dir_keeps_its_checkpoints(tmp_path):
    folder = tmp_path / "run"
    args = TrainingArguments(output_dir=str(folder), per_device_train_batch_size=4, max_steps=2, save_steps=1,
                             disable_tqdm=True, use_cpu=True, report_to="none", seed=3, save_only_model=True)
    trainer = Trainer(model=tiny_model(), args=args, train_dataset=tiny_dataset(8))
    trainer.train()
    checkpoints = {name: data for name, data in tree(folder).items() if name.startswith("checkpoint-")}
    assert {name.split("/")[0] for name in checkpoints} == {"checkpoint-1", "checkpoint-2"}
    old = {key: value.clone() for key, value in trainer.model.state_dict().items()}

    def save_new():
        with torch.no_grad():
            for parameter in trainer.model.parameters():
                parameter.add_(1.0)  # in the child only
        trainer.save_model()

    def check(folder, which):
        state = type(trainer.model).from_pretrained(folder).state_dict()
        shift = 0.0 if which == "old" else 1.0
        assert all(torch.equal(state[key], old[key] + shift) for key in old if old[key].is_floating_point())
        assert {name: data for name, data in tree(folder).items() if name.startswith("checkpoint-")} == checkpoints
        assert get_last_checkpoint(str(folder)) == str(folder / "checkpoint-2")

    outcomes = kill_grid(folder, trainer.save_model, save_new, check)
    assert sum("link" in outcome for outcome in outcomes) >= len(checkpoints)  # each checkpoint file carried over


# --- what a save replaces, nests and refuses -----------------------------------------------------------

def test_one_swap_per_save_and_owned_files(models, tmp_path, monkeypatch):
    swaps = []
    exchange = atomic_folder._exchange
    monkeypatch.setattr(atomic_folder, "_exchange", lambda *paths: swaps.append(paths) or exchange(*paths))
    folder = tmp_path / "model"
    models["old"].save_pretrained(folder, **SHARDED)
    (folder / "adapter_config.json").write_text("{}")
    (folder / "adapter_model.safetensors").write_bytes(b"old adapter")
    assert swaps == []  # a new folder is created by a rename
    models["new"].save_pretrained(folder)  # config, weights, generation config: one swap
    assert len(swaps) == 1
    assert sorted(os.listdir(folder)) == ["adapter_config.json", "adapter_model.safetensors", "config.json",
                                          "generation_config.json", "model.safetensors"]  # old shards dropped
    with atomic_folder.staged_save(folder, owns=["adapter_*"]) as stage:  # an adapter save drops the old adapter
        Path(stage, "adapter_config.json").write_text('{"r": 8}')
    assert sorted(os.listdir(folder)) == ["adapter_config.json", "config.json", "generation_config.json",
                                          "model.safetensors"]
    generator = pipeline("text-generation", model=models["old"], tokenizer=tiny_tokenizer(True))
    generator.save_pretrained(str(folder))  # model and tokenizer: still one swap
    assert len(swaps) == 3
    assert sorted(os.listdir(folder)) == ["adapter_config.json", "chat_template.jinja", "config.json",
                                          "generation_config.json", "model.safetensors", "special_tokens_map.json",
                                          "tokenizer.json", "tokenizer_config.json"]
    (folder / "adapter_config.json").unlink()  # a stand-in, not a real adapter: from_pretrained would load it
    assert_model(folder, models["old"])
    before = tree(folder)
    with pytest.raises(RuntimeError, match="midway"), atomic_folder.staged_save(folder) as stage:
        Path(stage, "config.json").write_text("half")
        raise RuntimeError("midway")
    assert tree(folder) == before and not leftovers(tmp_path)


def test_without_renameat2(models, tmp_path, monkeypatch, caplog):
    """Elsewhere two renames swap the folders; a crash between them leaves .NAME.wb-old-*, which the
    next save puts back (keeping its foreign files). A folder that cannot be swapped (EBUSY: a mount
    point) has its files replaced one by one, with a warning."""
    folder = tmp_path / "model"
    models["old"].save_pretrained(folder, **SHARDED)
    (folder / "README.md").write_text("kept")
    monkeypatch.setattr(atomic_folder, "_exchange", lambda first, second: False)
    models["new"].save_pretrained(folder)
    assert sorted(os.listdir(tmp_path)) == ["model"]
    assert_model(folder, models["new"])
    folder.rename(tmp_path / ".model.wb-old-0badf00d")  # as if killed between the two renames
    models["old"].save_pretrained(folder)
    assert sorted(os.listdir(tmp_path)) == ["model"] and (folder / "README.md").read_text() == "kept"
    assert_model(folder, models["old"])

    def busy(first, second):
        raise OSError(errno.EBUSY, "Device or resource busy", second)

    monkeypatch.setattr(atomic_folder, "_exchange", busy)
    models["new"].save_pretrained(folder)
    assert "replaced one by one" in caplog.text
    assert sorted(os.listdir(folder)) == ["README.md", "config.json", "generation_config.json", "model.safetensors"]
    assert_model(folder, models["new"])
    assert not leftovers(tmp_path)


def test_symlinked_folder_and_working_directory(models, tmp_path, monkeypatch):
    real = tmp_path / "real"
    models["old"].save_pretrained(real)
    (tmp_path / "link").symlink_to(real)
    models["new"].save_pretrained(tmp_path / "link")
    assert (tmp_path / "link").is_symlink()
    assert_model(tmp_path / "link", models["new"])
    monkeypatch.chdir(real)
    models["old"].save_pretrained(".")
    assert Path.cwd() == real and Path("config.json").is_file()  # moved into the new folder, not the deleted one
    assert_model(real, models["old"])


def test_a_file_in_the_way(models, tmp_path):
    (tmp_path / "model").write_text("not a folder")
    with pytest.raises(ValueError, match=rf"needs a folder, but {re.escape(str(tmp_path / 'model'))} is a file.*move the "
                                         "file away"):
        models["new"].save_pretrained(tmp_path / "model")
    assert (tmp_path / "model").read_text() == "not a folder" and os.listdir(tmp_path) == ["model"]


@pytest.fixture()
def shared_tmp():
    """A folder that an unprivileged user can reach (tmp_path's parents are private to root)."""
    base = Path(tempfile.mkdtemp(prefix="wb-atomic-"))
    base.chmod(0o777)
    yield base
    for path in [base, *base.rglob("*")]:
        if path.is_dir():
            path.chmod(0o777)
    import shutil

    shutil.rmtree(base)


def as_unprivileged(action) -> str:
    """Run ``action`` in a child process without root's rights; return the error it raised ("" if none)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        message = ""
        try:
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)  # nobody
            action()
        except Exception as error:
            message = f"{type(error).__name__}: {error}"
        finally:
            os.write(write, message.encode())
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        message = pipe.read().decode()
    os.waitpid(pid, 0)
    return message


def test_permissions(models, shared_tmp):
    locked = shared_tmp / "locked"
    models["old"].save_pretrained(locked)
    before = tree(locked)
    locked.chmod(0o555)
    message = as_unprivileged(lambda: models["new"].save_pretrained(locked))
    assert message.startswith("PermissionError") and str(locked) in message and "chmod u+w" in message, message
    assert tree(locked) == before and not leftovers(shared_tmp)

    closed = shared_tmp / "closed"  # a parent the user may not write to
    closed.mkdir()
    open_folder = closed / "model"
    models["old"].save_pretrained(open_folder, **SHARDED)
    (open_folder / "README.md").write_text("kept")
    for path in [open_folder, *open_folder.iterdir()]:
        path.chmod(0o777)
    closed.chmod(0o555)
    message = as_unprivileged(lambda: models["new"].save_pretrained(closed / "new"))
    assert message.startswith("PermissionError") and str(closed) in message and "writable" in message, message
    # the folder itself is writable: its files are replaced one by one (not as a whole), still correct
    assert as_unprivileged(lambda: models["new"].save_pretrained(open_folder)) == ""
    assert sorted(os.listdir(open_folder)) == ["README.md", "config.json", "generation_config.json", "model.safetensors"]
    assert_model(open_folder, models["new"])

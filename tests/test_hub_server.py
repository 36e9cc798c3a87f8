"""The local Hub server (tests/hub_server.py) against the real huggingface_hub client: what the push
and download tests rely on, checked once on plain files."""

import os

import pytest
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import HfHubHTTPError, RemoteEntryNotFoundError

# huggingface_hub's own LFS upload (httpx2's data= for a file) warns; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


def test_upload_download_round_trip(hub, tmp_path):
    api = HfApi()
    assert api.whoami()["name"] == "user"
    assert api.create_repo("round-trip", private=True).repo_id == "user/round-trip"
    api.create_repo("round-trip", exist_ok=True)
    text, weights = tmp_path / "a.txt", tmp_path / "w.safetensors"
    text.write_text("hello")
    weights.write_bytes(os.urandom(3000))
    api.upload_file(path_or_fileobj=str(text), path_in_repo="a.txt", repo_id="user/round-trip",
                    commit_message="add text")
    info = api.upload_file(path_or_fileobj=str(weights), path_in_repo="sub/w.safetensors",
                           repo_id="user/round-trip", create_pr=True)
    assert info.pr_revision == "refs/pr/1"

    create = hub.calls_of("create_repo", "user/round-trip")
    assert [call["private"] for call in create] == [True, False]
    commits = hub.calls_of("commit", "user/round-trip")
    assert [(c["summary"], c["files"], c["lfs_files"], c["ref"]) for c in commits] == [
        ("add text", ["a.txt"], [], "main"),
        ("Upload sub/w.safetensors with huggingface_hub", ["sub/w.safetensors"], ["sub/w.safetensors"], "refs/pr/1")]
    assert hub.calls_of("lfs_upload")[-1]["size"] == 3000  # went through the LFS batch API, not Xet

    assert open(hf_hub_download("user/round-trip", "a.txt")).read() == "hello"
    assert "sub/w.safetensors" not in hub.files("user/round-trip")  # the PR did not touch main
    folder = snapshot_download("user/round-trip", revision="refs/pr/1")
    assert sorted(os.listdir(folder)) == [".gitattributes", "a.txt", "sub"]
    assert (open(os.path.join(folder, "sub", "w.safetensors"), "rb").read() == weights.read_bytes())
    with pytest.raises(RemoteEntryNotFoundError):
        hf_hub_download("user/round-trip", "missing.json")


def test_writes_need_a_valid_token(hub):
    with pytest.raises(HfHubHTTPError) as error:
        HfApi(token="hf_wrong").create_repo("no-entry")
    assert error.value.response.status_code == 401
    assert "user/no-entry" not in hub.repos

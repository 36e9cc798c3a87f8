"""Sharing on the Hugging Face Hub: ``push_to_hub`` for models, configs, tokenizers and processors.

``obj.push_to_hub("my-model")`` creates the repo (``exist_ok``), lets ``obj.save_pretrained`` write
into a temporary staging folder, and uploads every file of that save in one commit through
``huggingface_hub`` (``HF_ENDPOINT``, ``HF_TOKEN``, ``hf auth login`` work as usual). What gets
uploaded is whatever the object's own ``save_pretrained`` writes: a model's config.json,
generation_config.json and safetensors shards (+ index, sharded by ``max_shard_size``), a tokenizer's
files, a processor's files. So a model that saves only its adapter pushes only its adapter.

``obj.save_pretrained(folder, push_to_hub=True, repo_id=...)`` saves into ``folder`` as usual, then
uploads the files that this save wrote or changed (other files already in the folder stay local).

The staging folder lives under ``$HF_HOME/workbench-push-staging/``, is deleted when the push
ends (even by an exception), and one left by a killed process is removed by the next push.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import WorkbenchError

STAGING_FOLDER_NAME = "workbench-push-staging"
# The default commit message by the pushed object's class name, first match wins (the reference's rule:
# BertModel -> "Upload model", CLIPImageProcessor -> "Upload processor", BertForMaskedLM -> "Upload BertForMaskedLM").
COMMIT_MESSAGES = (("Model", "Upload model"), ("Config", "Upload config"), ("Tokenizer", "Upload tokenizer"),
                   ("FeatureExtractor", "Upload feature extractor"), ("Processor", "Upload processor"))
MODEL_SAVE_OPTIONS = ("max_shard_size", "safe_serialization")
PUSH_OPTIONS = ("repo_id", "commit_message", "commit_description", "private", "token", "create_pr", "revision",
                "tags")
CARD_DESCRIPTION = ("This model card was written automatically when the model was pushed to the Hub; "
                    "its files load with Hugging Face transformers.")


class HubPushError(WorkbenchError, OSError):
    """A push to the Hub that cannot happen as asked: offline, no token, or a token the Hub refuses."""


class PushToHubMixin:
    """``push_to_hub`` (and ``save_pretrained(push_to_hub=True)``) for any class with a ``save_pretrained``."""

    def push_to_hub(self, repo_id: str, use_temp_dir: bool | None = None, commit_message: str | None = None,
                    private: bool | None = None, token: str | bool | None = None,
                    max_shard_size: int | str = "5GB", create_pr: bool = False, safe_serialization: bool = True,
                    revision: str | None = None, commit_description: str | None = None,
                    tags: list[str] | None = None, **save_kwargs: Any):
        """Save into a temporary folder and upload that save to the Hub repo ``repo_id`` in one commit.

        ``repo_id`` is ``"name"`` (under your user) or ``"org/name"``; the repo is created if needed
        (``private=True`` makes a new repo private). ``create_pr=True`` opens a pull request instead of
        committing to ``main`` (or to ``revision``, a branch created if missing). ``max_shard_size``
        (``"5GB"``, ``"200MB"`` or bytes) splits a model's weights into safetensors shards with an index.
        ``tags`` go into the model card's metadata (README.md, created when the repo has none).
        ``use_temp_dir`` is accepted for compatibility: pushes always stage in a temporary folder.

        Returns huggingface_hub's ``CommitInfo`` (``.commit_url``, ``.oid``, ``.pr_url``, ``.pr_revision``).

        >>> model.push_to_hub("my-model", commit_message="First version")    # doctest: +SKIP
        """
        del use_temp_dir
        api = hub_client(token)
        with explained_hub_errors(repo_id):
            repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
        options = {"max_shard_size": max_shard_size, "safe_serialization": safe_serialization, **save_kwargs}
        with staging_folder() as folder:
            call_save_pretrained(self, folder, options)
            write_model_card(api, folder, repo_id, tags)
            files = sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())
            return upload_files(api, folder, files, repo_id, commit_message or default_commit_message(self),
                                commit_description, create_pr, revision)

    def _start_push(self, save_directory: str | os.PathLike, push_to_hub: bool,
                    kwargs: dict[str, Any]) -> "PendingPush | None":
        """For ``save_pretrained(folder, push_to_hub=True, repo_id=..., ...)``: takes the push options
        out of ``kwargs`` (the rest are the save's), creates the repo and notes the folder's files. The
        caller then saves and calls :meth:`PendingPush.finish`. ``repo_id`` defaults to the folder's name."""
        if not push_to_hub:
            return None
        push = {name: kwargs.pop(name) for name in PUSH_OPTIONS if name in kwargs}
        api = hub_client(push.get("token"))
        repo_id = push.pop("repo_id", None) or Path(save_directory).resolve().name
        with explained_hub_errors(repo_id):
            repo_id = api.create_repo(repo_id, private=push.pop("private", None), exist_ok=True).repo_id
        push.setdefault("commit_message", default_commit_message(self))
        return PendingPush(api, Path(save_directory), repo_id, push, file_stamps(Path(save_directory)))


@dataclass
class PendingPush:
    """A ``save_pretrained(push_to_hub=True)`` under way: the files the folder had before the save."""

    api: Any
    folder: Path
    repo_id: str
    options: dict[str, Any]  # commit_message, commit_description, token, create_pr, revision, tags
    before: dict[str, tuple[int, int]]

    def finish(self):
        """Uploads the files the save wrote or changed (and a README.md card if the folder has none)."""
        write_model_card(self.api, self.folder, self.repo_id, self.options.get("tags"), keep_existing=True)
        changed = sorted(name for name, stamp in file_stamps(self.folder).items() if self.before.get(name) != stamp)
        return upload_files(self.api, self.folder, changed, self.repo_id, self.options["commit_message"],
                            self.options.get("commit_description"), self.options.get("create_pr", False),
                            self.options.get("revision"))


def default_commit_message(obj: Any) -> str:
    name = type(obj).__name__
    return next((message for part, message in COMMIT_MESSAGES if part in name), f"Upload {name}")


def call_save_pretrained(obj: Any, folder: Path, options: dict[str, Any]) -> None:
    """``obj.save_pretrained(folder, **options)``, leaving out the model-only options (``max_shard_size``,
    ``safe_serialization``) when its ``save_pretrained`` takes neither them nor ``**kwargs``."""
    parameters = inspect.signature(obj.save_pretrained).parameters
    takes_any = any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters.values())
    obj.save_pretrained(folder, **{name: value for name, value in options.items()
                                   if takes_any or name in parameters or name not in MODEL_SAVE_OPTIONS})


# --- the client and its errors -----------------------------------------------------------------

def hub_client(token: str | bool | None):
    """An ``HfApi`` for a push, after checking that the network is allowed and a token exists."""
    from huggingface_hub import HfApi, constants, get_token

    from .hub import is_offline

    if is_offline() or constants.is_offline_mode():
        raise HubPushError("Pushing to the Hub needs the network, and offline mode is on (HF_HUB_OFFLINE=1 or "
                           "TRANSFORMERS_OFFLINE=1): unset HF_HUB_OFFLINE (and TRANSFORMERS_OFFLINE) to push.")
    if token is False or (token is None and get_token() is None):
        raise HubPushError(_NO_TOKEN)
    return HfApi(token=token)


_NO_TOKEN = ("Pushing to the Hub needs a token with write access, and none was found: run `hf auth login`, "
             "set the HF_TOKEN environment variable, or pass token= (create one at "
             "https://huggingface.co/settings/tokens).")


@contextlib.contextmanager
def explained_hub_errors(repo_id: str):
    """Turns the Hub's refusals (401, 403), offline mode and an unreachable Hub into :class:`HubPushError`
    naming the fix."""
    from huggingface_hub import constants
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled
    from huggingface_hub.utils import httpx  # huggingface_hub's own HTTP library, whatever its version

    try:
        yield
    except OfflineModeIsEnabled:
        raise HubPushError("Pushing to the Hub needs the network, and offline mode is on: unset "
                           "HF_HUB_OFFLINE to push.") from None
    except httpx.TransportError as error:
        raise HubPushError(f"Cannot reach the Hub at {constants.ENDPOINT} to push to {repo_id!r} ({error}): "
                           "check the network connection (and HF_ENDPOINT, if set), then push again.") from error
    except HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else None
        if status == 401:
            raise HubPushError(f"The Hub ({constants.ENDPOINT}) refused the token while pushing to {repo_id!r} "
                               "(401 Unauthorized): it is invalid or expired. Run `hf auth login`, set "
                               "HF_TOKEN, or pass token= with a valid token that has write access.") from None
        if status == 403:
            raise HubPushError(f"The token has no write access to {repo_id!r} (403 Forbidden): use a token with "
                               "write permission for that namespace, or push to a repo of your own.") from None
        raise


# --- staging, cards, upload ----------------------------------------------------------------------

@contextlib.contextmanager
def staging_folder():
    """A fresh folder under ``$HF_HOME/workbench-push-staging/``, removed on exit; first removes the
    folders that processes no longer running left there (a push killed half-way)."""
    from huggingface_hub import constants

    parent = Path(constants.HF_HOME) / STAGING_FOLDER_NAME
    parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned_staging(parent)
    folder = Path(tempfile.mkdtemp(prefix=f"push-{os.getpid()}-", dir=parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def remove_abandoned_staging(parent: Path) -> None:
    for folder in parent.glob("push-*-*"):
        try:
            pid = int(folder.name.split("-")[1])
        except ValueError:
            continue
        if pid != os.getpid() and not process_alive(pid):
            shutil.rmtree(folder, ignore_errors=True)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def write_model_card(api, folder: Path, repo_id: str, tags: list[str] | None, keep_existing: bool = False) -> None:
    """README.md for the push, unless the save wrote one: the repo's card (``tags`` added), or a new
    card from huggingface_hub's template. ``keep_existing``: a README.md already in the folder stays as is."""
    from huggingface_hub import ModelCard, ModelCardData
    from huggingface_hub.errors import EntryNotFoundError

    readme = folder / "README.md"
    if readme.exists() and (keep_existing or not tags):
        return
    try:
        with explained_hub_errors(repo_id):
            card = ModelCard.load(readme if readme.exists() else repo_id, token=api.token)
    except EntryNotFoundError:
        card = ModelCard.from_template(ModelCardData(tags=list(tags or []), library_name="transformers"),
                                       model_description=CARD_DESCRIPTION)
    if tags:
        card.data.tags = list(dict.fromkeys([*(card.data.tags or []), *tags]))
    card.save(readme)


def upload_files(api, folder: Path, files: list[str], repo_id: str, commit_message: str,
                 commit_description: str | None, create_pr: bool, revision: str | None):
    """One commit adding ``files`` (paths relative to ``folder``) to ``repo_id``; returns its ``CommitInfo``.
    A ``revision`` that is a branch name is created first (from main) when missing."""
    from huggingface_hub import CommitOperationAdd

    operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(folder / name)) for name in files]
    with explained_hub_errors(repo_id):
        if revision is not None and not revision.startswith("refs/pr/"):
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        return api.create_commit(repo_id, operations, commit_message=commit_message,
                                 commit_description=commit_description, create_pr=create_pr, revision=revision)


def file_stamps(folder: Path) -> dict[str, tuple[int, int]]:
    """(mtime in ns, size) of every file under ``folder``, by relative path: what a save changed."""
    if not folder.is_dir():
        return {}
    return {path.relative_to(folder).as_posix(): (path.stat().st_mtime_ns, path.stat().st_size)
            for path in folder.rglob("*") if path.is_file()}

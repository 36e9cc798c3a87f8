"""Where files come from: a local folder, or a Hub repo id resolved through huggingface_hub.

``huggingface_hub`` does all fetching and cache lookups (``HF_HOME``, ``HF_HUB_CACHE``,
``cache_dir=``, ``HF_HUB_OFFLINE=1``); this module only turns its failures into errors that say
which repo and file were wanted and what to do about it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import CheckpointNotFoundError


@dataclass(frozen=True)
class HubOptions:
    """The download options every ``from_pretrained`` accepts, gathered in one place."""

    cache_dir: str | os.PathLike | None = None
    revision: str | None = None
    subfolder: str = ""
    local_files_only: bool = False
    token: str | bool | None = None
    force_download: bool = False

    @classmethod
    def pop_from(cls, kwargs: dict) -> "HubOptions":
        """Take the hub keywords out of ``kwargs`` (which then holds only the caller's other options)."""
        return cls(
            cache_dir=kwargs.pop("cache_dir", None),
            revision=kwargs.pop("revision", None),
            subfolder=kwargs.pop("subfolder", "") or "",
            local_files_only=kwargs.pop("local_files_only", False),
            token=kwargs.pop("token", None),
            force_download=kwargs.pop("force_download", False),
        )


def is_offline() -> bool:
    value = os.environ.get("HF_HUB_OFFLINE", "") or os.environ.get("TRANSFORMERS_OFFLINE", "")
    return value.strip().upper() in {"1", "ON", "YES", "TRUE"}


def resolve_file(
    path_or_repo: str | os.PathLike,
    filename: str,
    options: HubOptions | None = None,
    *,
    required: bool = True,
) -> str | None:
    """Return a local path to ``filename`` of a model folder or Hub repo.

    A missing optional file (``required=False``) gives ``None``; a missing required one raises
    :class:`CheckpointNotFoundError` naming the repo, the file and the fix.
    """
    options = options or HubOptions()
    location = str(path_or_repo)
    relative = f"{options.subfolder}/{filename}" if options.subfolder else filename
    if os.path.isdir(location):
        candidate = os.path.join(location, relative)
        if os.path.isfile(candidate):
            return candidate
        if required:
            raise CheckpointNotFoundError(
                f"{location} has no file {relative!r}. Point to a folder written by save_pretrained "
                f"(it holds {relative}), or pass the right subfolder=."
            )
        return None
    if _looks_like_path(location):
        raise CheckpointNotFoundError(
            f"{location!r} is neither a local folder nor a Hub repo id (like 'org/model'). "
            "Check the path exists."
        )
    return _resolve_hub_file(location, relative, options, required)


def _looks_like_path(location: str) -> bool:
    return (
        location.startswith((".", "/", "~"))
        or os.sep in location.strip("/").replace("/", "", 1)
        or location.count("/") > 1
        or location.endswith((".json", ".safetensors", ".bin", ".gguf"))
    )


def _resolve_hub_file(repo_id: str, relative: str, options: HubOptions, required: bool) -> str | None:
    from huggingface_hub import hf_hub_download
    from huggingface_hub import errors as hub_errors

    subfolder, _, name = relative.rpartition("/")
    offline = options.local_files_only or is_offline()
    try:
        return hf_hub_download(
            repo_id,
            name,
            subfolder=subfolder or None,
            revision=options.revision,
            cache_dir=options.cache_dir,
            local_files_only=offline,
            token=options.token,
            force_download=options.force_download,
        )
    except hub_errors.EntryNotFoundError:
        # Includes LocalEntryNotFoundError: neither cached nor downloadable (offline, or absent).
        if not required:
            return None
        raise CheckpointNotFoundError(_not_found_message(repo_id, relative, options, offline)) from None
    except hub_errors.RevisionNotFoundError:
        raise CheckpointNotFoundError(
            f"Revision {options.revision!r} of {repo_id!r} does not exist. Pass a branch, tag or "
            "commit hash that the repo has."
        ) from None
    except hub_errors.RepositoryNotFoundError:
        raise CheckpointNotFoundError(
            f"{repo_id!r} is not a local folder, and the Hub has no such repo (or it is private: "
            "pass token=). Check the spelling or give the path to a model folder."
        ) from None
    except hub_errors.HFValidationError:
        raise CheckpointNotFoundError(
            f"{repo_id!r} is neither a local folder nor a valid Hub repo id (like 'org/model')."
        ) from None
    except (OSError, hub_errors.HfHubHTTPError) as error:
        if not required:
            return None
        raise CheckpointNotFoundError(
            _not_found_message(repo_id, relative, options, True) + f" (network error: {error})"
        ) from None


def _not_found_message(repo_id: str, relative: str, options: HubOptions, offline: bool) -> str:
    revision = f" at revision {options.revision!r}" if options.revision else ""
    if offline:
        return (
            f"Cannot find {relative!r} of {repo_id!r}{revision} in the Hugging Face cache "
            f"({options.cache_dir or _default_cache()}), and downloads are off "
            "(HF_HUB_OFFLINE=1 or local_files_only=True). Download it once while online "
            f"(huggingface-cli download {repo_id}), point cache_dir= at a cache that has it, "
            "or pass the path of a local model folder instead."
        )
    return f"{repo_id!r}{revision} has no file {relative!r} on the Hub."


def _default_cache() -> str:
    from huggingface_hub import constants

    return str(Path(constants.HF_HUB_CACHE))

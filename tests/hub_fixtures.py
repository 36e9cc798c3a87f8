"""Pytest fixtures around the local Hub server (tests/hub_server.py); conftest loads them as a plugin.

``hub_server`` (session) runs one server. ``hub`` (per test) points huggingface_hub at it and
hands the test the server's :class:`~hub_server.HubState`: its repos and recorded calls (kept across
tests, so each test pushes to repo names of its own; ``hub.reset()`` empties it). For the test's duration:

- env: ``HF_ENDPOINT`` = the server, ``HF_TOKEN`` = :data:`HUB_TOKEN`, a throwaway ``HF_HOME`` /
  ``HF_HUB_CACHE`` (so every download really goes through the server), ``HF_HUB_OFFLINE=0`` (the
  suite's conftest sets it to 1), ``HF_HUB_DISABLE_XET=1``, ``NO_PROXY`` covering 127.0.0.1;
- ``huggingface_hub.constants``: huggingface_hub reads these variables ONCE, at import, into
  module constants (``ENDPOINT``, ``HUGGINGFACE_CO_URL_TEMPLATE``, which ``hf_hub_url`` formats for
  every download, ``HF_HUB_OFFLINE``, ``HF_HUB_DISABLE_XET``, ``HF_HOME``, ``HF_HUB_CACHE``,
  ``HF_TOKEN_PATH``, ...), so setting the environment alone changes nothing in a process that already
  imported it: the fixture patches the constants too. ``HfApi()`` reads ``constants.ENDPOINT`` when
  it is constructed; the module-level functions (``huggingface_hub.create_repo`` etc.) are bound to
  one ``HfApi`` built at import, so its ``endpoint`` is patched as well.
- ``HF_HUB_DISABLE_XET``: with ``hf_xet`` installed, huggingface_hub uploads every file the
  server marks "lfs" through Xet storage (which this server does not speak), whatever the server
  answers; the flag sends them through the classic LFS batch API instead.

Everything is restored afterwards (``monkeypatch``).
"""

from __future__ import annotations

import os

import pytest

from hub_server import HubServer, HubState

HUB_TOKEN = "hf_test_write_token"
HUB_USER = "user"


@pytest.fixture(scope="session")
def hub_server():
    with HubServer(tokens={HUB_TOKEN}) as server:
        yield server


def point_huggingface_hub_at(monkeypatch, endpoint: str, home: str, token: str | None) -> None:
    """Env and ``huggingface_hub.constants`` for a Hub at ``endpoint`` with its files under ``home``."""
    from huggingface_hub import constants, hf_api

    hub_cache = os.path.join(home, "hub")
    env = {"HF_ENDPOINT": endpoint, "HF_HOME": home, "HF_HUB_CACHE": hub_cache, "HF_HUB_OFFLINE": "0",
           "TRANSFORMERS_OFFLINE": "0", "HF_HUB_DISABLE_XET": "1",
           "NO_PROXY": ",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1", "localhost"]))}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("HUGGINGFACE_HUB_CACHE", "HF_TOKEN_PATH", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(name, raising=False)
    if token is None:
        monkeypatch.delenv("HF_TOKEN", raising=False)
    else:
        monkeypatch.setenv("HF_TOKEN", token)
    patched = {
        "ENDPOINT": endpoint,
        "HUGGINGFACE_CO_URL_TEMPLATE": endpoint + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_HUB_OFFLINE": False,
        "HF_HUB_DISABLE_XET": True,
        "HF_HOME": home,
        "HF_HUB_CACHE": hub_cache,
        "HUGGINGFACE_HUB_CACHE": hub_cache,
        "HF_TOKEN_PATH": os.path.join(home, "token"),
        "HF_STORED_TOKENS_PATH": os.path.join(home, "stored_tokens"),
        "HF_XET_CACHE": os.path.join(home, "xet"),
    }
    for name, value in patched.items():
        monkeypatch.setattr(constants, name, value)
    monkeypatch.setattr(hf_api.api, "endpoint", endpoint)


@pytest.fixture
def hub(hub_server, monkeypatch, tmp_path) -> HubState:
    """The local Hub for one test: huggingface_hub (and so workbench and the reference) talk to it,
    with :data:`HUB_TOKEN` in ``HF_TOKEN`` and a fresh, empty cache."""
    point_huggingface_hub_at(monkeypatch, hub_server.endpoint, str(tmp_path / "hf_home"), HUB_TOKEN)
    return hub_server.state

"""Helpers for the JupyterLab tests: a fake Hugging Face cache in huggingface_hub's layout and a
Jupyter server in a subprocess on 127.0.0.1, with workbench.lab enabled by the config file the
wheel ships and every Jupyter / Hugging Face folder of its own (nothing of the machine's is read
or written)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVER_CONFIG = ROOT / "jupyter-config" / "jupyter_server_config.d" / "workbench.json"


def write_cached_model(cache: Path, repo_id: str, commit: str, files: dict[str, bytes],
                       refs: tuple[str, ...] = ()) -> Path:
    """One revision of a model repo laid out as huggingface_hub caches it: blobs named by their
    hash (shared between revisions), a snapshot folder of relative symlinks, refs naming the
    commit. Returns the snapshot folder."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    snapshot.mkdir(parents=True)
    for ref in refs:
        (repo / "refs" / ref).write_text(commit)
    for name, data in files.items():
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        if not blob.exists():
            blob.write_bytes(data)
        (snapshot / name).symlink_to(os.path.relpath(blob, snapshot))
    return snapshot


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    token: str
    process: subprocess.Popen
    log: Path

    def call(self, method: str, path: str, token: str | None = "default", **params) -> tuple[int, object]:
        """(status, JSON body) of a request; ``token=None`` sends none, the default sends the server's."""
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        request = urllib.request.Request(f"{self.url}{path}{'?' + query if query else ''}", method=method)
        token = self.token if token == "default" else token
        if token:
            request.add_header("Authorization", f"token {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read()
        try:
            return status, json.loads(body) if body else None
        except ValueError:
            return status, body.decode("utf-8", "replace")


def isolated_env(home: Path, cache: Path) -> dict[str, str]:
    """Environment of the server: its own Jupyter and HF folders, this checkout's workbench."""
    config = home / "jupyter-config"
    (config / "jupyter_server_config.d").mkdir(parents=True, exist_ok=True)
    shutil.copy(SERVER_CONFIG, config / "jupyter_server_config.d" / "workbench.json")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("JUPYTER", "HF_"))}
    env.update(
        JUPYTER_CONFIG_DIR=str(config), JUPYTER_DATA_DIR=str(home / "jupyter-data"),
        JUPYTER_RUNTIME_DIR=str(home / "jupyter-runtime"), IPYTHONDIR=str(home / "ipython"),
        HF_HOME=str(home / "hf"), HF_HUB_CACHE=str(cache), HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1",
        WORKBENCH_ZOO=str(home / "zoo"), PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    )
    return env


@contextlib.contextmanager
def jupyter_server(root: Path, home: Path, cache: Path, *, token: str, lab: bool = False,
                   extra_args: tuple[str, ...] = (), env: dict[str, str] | None = None, timeout: float = 60,
                   app: str | None = None):
    """``jupyter server`` (``jupyter lab`` with ``lab``, or the module ``app``: "notebook" for
    Notebook 7) serving ``root``; yields a :class:`Server`. The server runs in its own process
    group, which is ended with it (kernels included)."""
    port = free_port()
    log = home / ("lab.log" if lab else "server.log")
    args = [sys.executable, "-m", app or ("jupyterlab" if lab else "jupyter_server"), "--no-browser", "--ip=127.0.0.1",
            f"--port={port}", "--port-retries=0", f"--ServerApp.token={token}", "--ServerApp.password=",
            f"--ServerApp.root_dir={root}", *extra_args]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")
    with open(log, "wb") as out:
        process = subprocess.Popen(args, env=env or isolated_env(home, cache), stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", token, process, log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"jupyter exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            status, _ = server.call("GET", "/api/status") if _port_open(port) else (0, None)
            if status == 200:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"jupyter did not answer within {timeout} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.25)
        yield server
    finally:
        _stop(process)


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # the server shuts its kernels down
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # anything of this server's group still left

"""A local stand-in for the Hugging Face Hub, enough for huggingface_hub's upload and download code.

The tests push through the real ``huggingface_hub`` client (``HfApi.create_repo`` / ``create_commit``,
``hf_hub_download``, ``snapshot_download``) with ``HF_ENDPOINT`` pointing here. Repos live in memory:
each has commits (ids are sha1 hex), branches and ``refs/pr/N`` refs, and the files of every commit.
Every request is recorded in :attr:`HubState.calls` so a test can assert what was pushed.

Endpoints (model repos; ``{repo}`` is ``namespace/name``, ``{rev}`` a url-quoted branch, PR ref or commit):

=======================================================  =============================================
``GET  /api/whoami-v2``                                    the token's user (401 without a valid token)
``POST /api/repos/create``                                 new repo (409 if it exists); ``visibility``
``DELETE /api/repos/delete``                               remove a repo
``POST /api/validate-yaml``                                README metadata check (always valid)
``GET  /api/models/{repo}[/revision/{rev}]``               repo info: sha, private, siblings
``GET  /api/models/{repo}/tree/{rev}[/{path}]``            file listing (``recursive=``)
``GET  /api/models/{repo}/refs``                           branches and PR refs
``GET  /api/models/{repo}/commits/{rev}``                  history, newest first
``POST /api/models/{repo}/branch/{branch}``                new branch (409 if it exists)
``POST /api/models/{repo}/preupload/{rev}``                "lfs" for tracked suffixes or large files,
                                                           else "regular"; the remote oid of each path
``POST /{repo}.git/info/lfs/objects/batch``                LFS batch: basic transfer, upload + verify
``PUT  /_lfs/{oid}``, ``POST /_lfs/{oid}/verify``          LFS object upload and check (sha256)
``POST /api/models/{repo}/commit/{rev}[?create_pr=1]``     ndjson commit: header, file, lfsFile,
                                                           deletedFile, deletedFolder
``HEAD|GET /{repo}/resolve/{rev}/{path}``                  download with X-Repo-Commit, ETag,
                                                           X-Linked-Etag / X-Linked-Size for LFS, Range
=======================================================  =============================================

Writes (and reads of private repos) need ``Authorization: Bearer <token>`` with a token in
:attr:`HubState.tokens`; otherwise the answer is a 401 as the Hub gives. The client never uses Xet
here: the fixture sets ``HF_HUB_DISABLE_XET`` (huggingface_hub uploads every LFS-mode file through
Xet whenever ``hf_xet`` is importable, whatever the server says).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

USER = "user"
# Suffixes the Hub's default .gitattributes sends through LFS, however small the file.
LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".h5", ".msgpack", ".onnx", ".npz",
                ".pkl", ".model", ".zip", ".tar.gz", ".arrow", ".parquet")
GITATTRIBUTES = "".join(f"*{suffix} filter=lfs diff=lfs merge=lfs -text\n" for suffix in LFS_SUFFIXES)


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Blob:
    data: bytes
    lfs: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def pointer(self) -> bytes:
        return f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\nsize {len(self.data)}\n".encode()

    def tree_entry(self, path: str) -> dict:
        entry = {"type": "file", "path": path, "size": len(self.data)}
        if self.lfs:
            pointer = self.pointer()
            entry.update(oid=git_blob_sha1(pointer),
                         lfs={"oid": self.sha256, "size": len(self.data), "pointerSize": len(pointer)})
        else:
            entry["oid"] = git_blob_sha1(self.data)
        return entry


@dataclass
class Commit:
    oid: str
    parent: str | None
    title: str
    description: str
    files: dict[str, Blob]


@dataclass
class Repo:
    repo_id: str
    private: bool
    refs: dict[str, str] = field(default_factory=dict)  # "main", other branches, "refs/pr/N" -> commit oid
    commits: dict[str, Commit] = field(default_factory=dict)
    pull_requests: int = 0

    def commit(self, parent: str | None, title: str, description: str, files: dict[str, Blob]) -> Commit:
        digest = hashlib.sha1(f"{parent}\n{title}\n{len(self.commits)}".encode())
        for path in sorted(files):
            digest.update(f"{path}\0{files[path].sha256}\n".encode())
        commit = Commit(digest.hexdigest(), parent, title, description, files)
        self.commits[commit.oid] = commit
        return commit

    def resolve(self, revision: str) -> Commit | None:
        oid = self.refs.get(revision, revision)
        return self.commits.get(oid)


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


@dataclass
class HubState:
    """Everything the server holds: repos, LFS objects, valid tokens and the recorded calls."""

    endpoint: str = ""
    tokens: set[str] = field(default_factory=set)
    repos: dict[str, Repo] = field(default_factory=dict)
    lfs_objects: dict[str, bytes] = field(default_factory=dict)
    calls: list[dict] = field(default_factory=list)
    lfs_threshold: int = 10 * 1024 * 1024
    lock: threading.RLock = field(default_factory=threading.RLock)

    def record(self, method: str, path: str, **summary) -> None:
        self.calls.append({"method": method, "path": path, **summary})

    def calls_of(self, action: str, repo_id: str | None = None) -> list[dict]:
        """The recorded calls of one kind ("create_repo", "commit", "preupload", "lfs_upload",
        "download", ...), for one repo if given, oldest first."""
        return [call for call in self.calls
                if call.get("action") == action and (repo_id is None or call.get("repo_id") == repo_id)]

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        """The files of ``repo_id`` at ``revision`` (branch, PR ref or commit id)."""
        commit = self.repos[repo_id].resolve(revision)
        return {path: blob.data for path, blob in commit.files.items()}

    def reset(self) -> None:
        with self.lock:
            self.repos.clear()
            self.lfs_objects.clear()
            self.calls.clear()

    def repo(self, repo_id: str, token: str | None, write: bool = False) -> Repo:
        repo = self.repos.get(repo_id)
        if write:
            self.check_token(token)
        if repo is None or (repo.private and token not in self.tokens):
            raise HubError(404 if token in self.tokens else 401, f"Repository {repo_id} not found", "RepoNotFound")
        return repo

    def check_token(self, token: str | None) -> None:
        if token is None:
            raise HubError(401, "You must be authenticated to do this (pass a token)")
        if token not in self.tokens:
            raise HubError(401, "Invalid credentials in Authorization header")

    def create_repo(self, repo_id: str, private: bool) -> Repo:
        repo = Repo(repo_id, private)
        first = repo.commit(None, "initial commit", "", {".gitattributes": Blob(GITATTRIBUTES.encode(), False)})
        repo.refs["main"] = first.oid
        self.repos[repo_id] = repo
        return repo

    def upload_mode(self, path: str, size: int) -> str:
        return "lfs" if size >= self.lfs_threshold or path.endswith(LFS_SUFFIXES) else "regular"


class HubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: HubState  # set on the subclass made by start_hub_server

    def log_message(self, format, *args):  # quiet: pytest shows failures, not every request
        pass

    # --- plumbing -------------------------------------------------------------------------------
    def do_GET(self):
        self.dispatch("GET")

    def do_HEAD(self):
        self.dispatch("HEAD")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    @property
    def token(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        return auth[len("Bearer "):].strip() if auth.startswith("Bearer ") else None

    def send(self, status: int, body: bytes = b"", headers: dict | None = None, head: bool = False) -> None:
        self.send_response(status)
        headers = {"Content-Type": "application/json", **(headers or {})}
        headers.setdefault("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def send_json(self, payload, status: int = 200) -> None:
        self.send(status, json.dumps(payload).encode())

    def dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        parts = [unquote(part) for part in url.path.strip("/").split("/")]
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        body = self.read_body() if method in ("POST", "PUT", "DELETE") else b""
        try:
            with self.state.lock:
                self.route(method, parts, query, body)
        except HubError as error:
            headers = {"X-Error-Message": error.message, **error.headers}
            if error.code:
                headers["X-Error-Code"] = error.code
            self.send(error.status, json.dumps({"error": error.message}).encode(), headers, head=method == "HEAD")

    def route(self, method: str, parts: list[str], query: dict, body: bytes) -> None:
        state = self.state
        if parts[:2] == ["api", "whoami-v2"]:
            state.check_token(self.token)
            state.record(method, self.path, action="whoami")
            return self.send_json({"type": "user", "name": USER, "fullname": USER, "orgs": [],
                                   "auth": {"type": "access_token", "accessToken": {"role": "write"}}})
        if parts[:3] == ["api", "repos", "create"]:
            return self.create_repo(json.loads(body))
        if parts[:3] == ["api", "repos", "delete"]:
            payload = json.loads(body)
            repo_id = f"{payload.get('organization') or USER}/{payload['name']}"
            state.repo(repo_id, self.token, write=True)
            del state.repos[repo_id]
            state.record(method, self.path, action="delete_repo", repo_id=repo_id)
            return self.send_json({})
        if parts[:2] == ["api", "validate-yaml"]:
            return self.send_json({})
        if parts[:2] == ["api", "models"] and len(parts) >= 4:
            return self.api_model(method, f"{parts[2]}/{parts[3]}", parts[4:], query, body)
        if parts[0] == "_lfs" and len(parts) >= 2:
            return self.lfs_object(method, parts[1], parts[2:], body)
        if len(parts) >= 2 and parts[1].endswith(".git") and parts[2:] == ["info", "lfs", "objects", "batch"]:
            return self.lfs_batch(f"{parts[0]}/{parts[1][:-len('.git')]}", json.loads(body))
        if len(parts) >= 5 and parts[2] == "resolve" and method in ("GET", "HEAD"):
            return self.resolve(method, f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]))
        raise HubError(404, f"{method} {self.path} is not implemented by the test Hub server")

    # --- repos ----------------------------------------------------------------------------------
    def create_repo(self, payload: dict) -> None:
        self.state.check_token(self.token)
        repo_id = f"{payload.get('organization') or USER}/{payload['name']}"
        private = payload.get("visibility", "public") == "private" or bool(payload.get("private"))
        self.state.record("POST", self.path, action="create_repo", repo_id=repo_id, private=private,
                          visibility=payload.get("visibility"))
        url = f"{self.state.endpoint}/{repo_id}"
        if repo_id in self.state.repos:  # the Hub's 409 still gives the url (create_repo(exist_ok=True) reads it)
            error = f"You already created this model repo: {repo_id}"
            return self.send(409, json.dumps({"error": error, "url": url}).encode(), {"X-Error-Message": error})
        self.state.create_repo(repo_id, private)
        self.send_json({"url": url, "name": repo_id})

    def api_model(self, method: str, repo_id: str, rest: list[str], query: dict, body: bytes) -> None:
        state, token = self.state, self.token
        kind = rest[0] if rest else "info"
        if kind in ("info", "revision") and method == "GET":
            repo = state.repo(repo_id, token)
            revision = rest[1] if kind == "revision" else "main"
            commit = self.commit_or_404(repo, revision)
            state.record(method, self.path, action="repo_info", repo_id=repo_id, revision=revision)
            return self.send_json({"id": repo_id, "modelId": repo_id, "author": repo_id.split("/")[0],
                                   "sha": commit.oid, "private": repo.private, "disabled": False,
                                   "gated": False, "tags": [],
                                   "siblings": [{"rfilename": path} for path in sorted(commit.files)]})
        if kind == "tree" and method == "GET":
            return self.tree(state.repo(repo_id, token), rest[1], "/".join(rest[2:]), query)
        if kind == "refs" and method == "GET":
            repo = state.repo(repo_id, token)
            ref = lambda name: {"name": name, "ref": f"refs/heads/{name}", "targetCommit": repo.refs[name]}
            return self.send_json({"branches": [ref(name) for name in repo.refs if not name.startswith("refs/")],
                                   "converts": [], "tags": [],
                                   "pullRequests": [{"name": name, "ref": name, "targetCommit": oid}
                                                    for name, oid in repo.refs.items()
                                                    if name.startswith("refs/pr/")]})
        if kind == "commits" and method == "GET":
            return self.history(state.repo(repo_id, token), rest[1] if len(rest) > 1 else "main")
        repo = state.repo(repo_id, token, write=True)
        if kind == "branch" and method == "POST":
            return self.create_branch(repo, "/".join(rest[1:]), json.loads(body or b"{}"))
        if kind == "preupload" and method == "POST":
            return self.preupload(repo, rest[1], json.loads(body))
        if kind == "commit" and method == "POST":
            return self.commit(repo, rest[1], body, query.get("create_pr") == "1")
        raise HubError(404, f"{method} {self.path} is not implemented by the test Hub server")

    def commit_or_404(self, repo: Repo, revision: str) -> Commit:
        commit = repo.resolve(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit

    def tree(self, repo: Repo, revision: str, folder: str, query: dict) -> None:
        commit = self.commit_or_404(repo, revision)
        self.state.record("GET", self.path, action="tree", repo_id=repo.repo_id, revision=revision)
        prefix = f"{folder.strip('/')}/" if folder.strip("/") else ""
        recursive = query.get("recursive", "false").lower() == "true"
        entries, folders = [], set()
        for path, blob in sorted(commit.files.items()):
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix):]
            if "/" in rest and not recursive:
                folders.add(prefix + rest.split("/")[0])
                continue
            parents = path.split("/")[:-1]
            folders.update("/".join(parents[:i]) for i in range(len(prefix.split("/")), len(parents) + 1))
            entries.append(blob.tree_entry(path))
        folders.discard("")
        folder_entries = [{"type": "directory", "path": path, "oid": hashlib.sha1(path.encode()).hexdigest(),
                           "size": 0} for path in sorted(folders)]
        self.send_json(folder_entries + entries)

    def history(self, repo: Repo, revision: str) -> None:
        commit, history = self.commit_or_404(repo, revision), []
        while commit is not None:
            history.append({"id": commit.oid, "title": commit.title, "message": commit.description,
                            "authors": [{"user": USER}], "date": "2026-01-01T00:00:00.000Z"})
            commit = repo.commits.get(commit.parent) if commit.parent else None
        self.send_json(history)

    def create_branch(self, repo: Repo, branch: str, payload: dict) -> None:
        self.state.record("POST", self.path, action="create_branch", repo_id=repo.repo_id, branch=branch)
        if branch in repo.refs:
            raise HubError(409, f"Reference already exists: {branch}")
        repo.refs[branch] = self.commit_or_404(repo, payload.get("startingPoint") or "main").oid
        self.send_json({})

    # --- uploads --------------------------------------------------------------------------------
    def preupload(self, repo: Repo, revision: str, payload: dict) -> None:
        head = repo.resolve(revision) or self.commit_or_404(repo, "main")
        answers = []
        for item in payload["files"]:
            mode = self.state.upload_mode(item["path"], item["size"])
            remote = head.files.get(item["path"])
            oid = None if remote is None else (remote.sha256 if remote.lfs else git_blob_sha1(remote.data))
            answers.append({"path": item["path"], "uploadMode": mode, "shouldIgnore": False, "oid": oid})
        self.state.record("POST", self.path, action="preupload", repo_id=repo.repo_id, revision=revision,
                          modes={answer["path"]: answer["uploadMode"] for answer in answers})
        self.send_json({"files": answers, "commitOid": head.oid})

    def lfs_batch(self, repo_id: str, payload: dict) -> None:
        state = self.state
        state.repo(repo_id, self.token, write=True)
        objects = []
        for item in payload["objects"]:
            answer = {"oid": item["oid"], "size": item["size"], "authenticated": True}
            if item["oid"] not in state.lfs_objects:
                href = f"{state.endpoint}/_lfs/{item['oid']}"
                answer["actions"] = {"upload": {"href": href}, "verify": {"href": f"{href}/verify"}}
            objects.append(answer)
        state.record("POST", self.path, action="lfs_batch", repo_id=repo_id,
                     oids=[item["oid"] for item in payload["objects"]])
        self.send_json({"transfer": "basic", "objects": objects})

    def lfs_object(self, method: str, oid: str, rest: list[str], body: bytes) -> None:
        if method == "PUT" and not rest:
            if hashlib.sha256(body).hexdigest() != oid:
                raise HubError(400, f"LFS object content does not match its oid {oid}")
            self.state.lfs_objects[oid] = body
            self.state.record(method, self.path, action="lfs_upload", oid=oid, size=len(body))
            return self.send(200, b"")
        if method == "POST" and rest == ["verify"]:
            payload = json.loads(body)
            stored = self.state.lfs_objects.get(oid)
            if stored is None or len(stored) != payload["size"]:
                raise HubError(404, f"LFS object {oid} was not uploaded")
            return self.send_json({})
        raise HubError(404, f"{method} {self.path} is not implemented by the test Hub server")

    def commit(self, repo: Repo, revision: str, body: bytes, create_pr: bool) -> None:
        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        header = next(line["value"] for line in lines if line["key"] == "header")
        parent = self.commit_or_404(repo, header.get("parentCommit") or revision)
        files = dict(parent.files)
        added, lfs_added, deleted = [], [], []
        for line in lines:
            key, value = line["key"], line["value"]
            if key == "file":
                files[value["path"]] = Blob(base64.b64decode(value["content"]), False)
                added.append(value["path"])
            elif key == "lfsFile":
                data = self.state.lfs_objects.get(value["oid"])
                if data is None:
                    raise HubError(400, f"LFS file {value['path']} ({value['oid']}) was never uploaded")
                files[value["path"]] = Blob(data, True)
                lfs_added.append(value["path"])
            elif key == "deletedFile":
                if files.pop(value["path"], None) is None:
                    raise HubError(404, "A file with this name doesn't exist", "EntryNotFound")
                deleted.append(value["path"])
            elif key == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                deleted += [path for path in files if path.startswith(prefix)]
                files = {path: blob for path, blob in files.items() if not path.startswith(prefix)}
        commit = repo.commit(parent.oid, header["summary"], header.get("description", ""), files)
        if create_pr:
            repo.pull_requests += 1
            ref = f"refs/pr/{repo.pull_requests}"
        elif revision in repo.refs or revision == "main":
            ref = revision
        else:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        repo.refs[ref] = commit.oid
        self.state.record("POST", self.path, action="commit", repo_id=repo.repo_id, revision=revision,
                          ref=ref, create_pr=create_pr, summary=header["summary"],
                          description=header.get("description", ""), files=sorted(added + lfs_added),
                          lfs_files=sorted(lfs_added), deleted=sorted(deleted), oid=commit.oid)
        base = f"{self.state.endpoint}/{repo.repo_id}"
        self.send_json({"success": True, "commitOid": commit.oid, "commitUrl": f"{base}/commit/{commit.oid}",
                        "pullRequestUrl": f"{base}/discussions/{repo.pull_requests}" if create_pr else None})

    # --- downloads ------------------------------------------------------------------------------
    def resolve(self, method: str, repo_id: str, revision: str, path: str) -> None:
        repo = self.state.repo(repo_id, self.token)
        commit = self.commit_or_404(repo, revision)
        blob = commit.files.get(path)
        self.state.record(method, self.path, action="download", repo_id=repo_id, revision=revision,
                          file=path, found=blob is not None)
        if blob is None:
            # the Hub names the commit even on a miss (the client caches the miss under it)
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound", {"X-Repo-Commit": commit.oid})
        headers = {"X-Repo-Commit": commit.oid, "Content-Type": "application/octet-stream",
                   "Accept-Ranges": "bytes"}
        if blob.lfs:
            headers.update({"X-Linked-Etag": f'"{blob.sha256}"', "X-Linked-Size": str(len(blob.data)),
                            "ETag": f'"{blob.sha256}"'})
        else:
            headers["ETag"] = f'"{git_blob_sha1(blob.data)}"'
        data, status = blob.data, 200
        wanted = self.headers.get("Range", "")
        if wanted.startswith("bytes=") and method == "GET":
            start, _, end = wanted[len("bytes="):].partition("-")
            stop = int(end) + 1 if end else len(data)
            headers["Content-Range"] = f"bytes {int(start)}-{stop - 1}/{len(data)}"
            data, status = data[int(start):stop], 206
        headers["Content-Length"] = str(len(data))
        self.send(status, data, headers, head=method == "HEAD")


class HubServer:
    """The server thread around a :class:`HubState`; ``endpoint`` is ``http://127.0.0.1:<port>``."""

    def __init__(self, tokens: set[str] | None = None):
        self.state = HubState(tokens=set(tokens or ()))
        handler = type("BoundHubHandler", (HubHandler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.endpoint = self.state.endpoint = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       name="test-hub-server", daemon=True)

    def __enter__(self) -> "HubServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

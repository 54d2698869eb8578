"""A tiny Hugging Face Hub on 127.0.0.1: just the endpoints huggingface_hub's `model_info` and file downloads
call, serving local directories as model repositories at fake commit shas. Reached through HF_ENDPOINT.

    GET /api/models/<org>/<name>[/revision/<rev>][?blobs=True]  → {"id", "sha", "gated", "siblings": [...]}
    GET|HEAD /<org>/<name>/resolve/<rev>/<path>                   → the file (X-Repo-Commit, ETag)

Errors carry the Hub's `X-Error-Code` headers, which huggingface_hub turns into its exceptions: an unknown
or private repository is 401 `RepoNotFound`, an unknown revision 404 `RevisionNotFound`, a gated file
without an accepted token 403 `GatedRepo`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import unquote, urlsplit

from servers.threaded import ThreadedServer


@dataclass
class Repo:
    directory: Path
    sha: str
    revisions: tuple[str, ...] = ("main",)
    gated: bool = False
    private: bool = False
    token: str | None = None
    """The token that may read a gated or private repository."""
    downloads: list[str] = field(default_factory=list)


class FakeHub(ThreadedServer):
    def __init__(self, repos: dict[str, Repo]) -> None:
        self.repos = repos
        self.seen: list[str] = []
        super().__init__("fake-hub")
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def _serve(self, handler: BaseHTTPRequestHandler, *, head: bool) -> None:
        self.seen.append(f"{handler.command} {handler.path}")
        parts = [unquote(p) for p in urlsplit(handler.path).path.strip("/").split("/")]
        token = (handler.headers.get("Authorization") or "").removeprefix("Bearer ") or None
        if len(parts) >= 4 and parts[0] == "api" and parts[1] == "models":
            repo_id = f"{parts[2]}/{parts[3]}"
            revision = parts[5] if len(parts) >= 6 and parts[4] == "revision" else "main"
            return self._info(handler, repo_id, revision, token, head)
        if len(parts) >= 5 and parts[2] == "resolve":
            return self._file(handler, f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]), token, head)
        _reply(handler, 404, {"error": "not found"}, head=head)

    def _repo(self, handler: BaseHTTPRequestHandler, repo_id: str, revision: str, token: str | None,
              head: bool) -> Repo | None:
        repo = self.repos.get(repo_id)
        if repo is None or (repo.private and token != repo.token):
            _reply(handler, 401, {"error": "Repository not found"}, head=head,
                   headers={"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"})
            return None
        if revision not in (*repo.revisions, repo.sha):
            _reply(handler, 404, {"error": f"Invalid rev id: {revision}"}, head=head,
                   headers={"X-Error-Code": "RevisionNotFound", "X-Error-Message": f"Invalid rev id: {revision}"})
            return None
        return repo

    def _info(self, handler: BaseHTTPRequestHandler, repo_id: str, revision: str, token: str | None,
              head: bool) -> None:
        repo = self._repo(handler, repo_id, revision, token, head)
        if repo is None:
            return
        siblings = []
        for path in sorted(p for p in repo.directory.rglob("*") if p.is_file()):
            data = path.read_bytes()
            siblings.append({"rfilename": path.relative_to(repo.directory).as_posix(), "size": len(data),
                             "blobId": hashlib.sha1(data).hexdigest()})
        _reply(handler, 200, {"_id": repo_id, "id": repo_id, "modelId": repo_id, "sha": repo.sha,
                              "private": repo.private, "gated": "manual" if repo.gated else False,
                              "disabled": False, "tags": [], "siblings": siblings}, head=head)

    def _file(self, handler: BaseHTTPRequestHandler, repo_id: str, revision: str, name: str, token: str | None,
              head: bool) -> None:
        repo = self._repo(handler, repo_id, revision, token, head)
        if repo is None:
            return
        if repo.gated and token != repo.token:
            _reply(handler, 403, {"error": "Access to this model is restricted"}, head=head,
                   headers={"X-Error-Code": "GatedRepo", "X-Error-Message": "Access restricted"})
            return
        path = (repo.directory / name).resolve()
        if not path.is_file() or not path.is_relative_to(repo.directory.resolve()):
            _reply(handler, 404, {"error": "Entry not found"}, head=head,
                   headers={"X-Error-Code": "EntryNotFound", "X-Error-Message": "Entry not found"})
            return
        data = path.read_bytes()
        if not head:
            repo.downloads.append(name)
        handler.send_response(200)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("X-Repo-Commit", repo.sha)
        handler.send_header("ETag", '"' + hashlib.sha1(data).hexdigest() + '"')
        handler.end_headers()
        if not head:
            handler.wfile.write(data)


def _reply(handler: BaseHTTPRequestHandler, status: int, body: object, *, head: bool,
           headers: dict[str, str] | None = None) -> None:
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    if not head:
        handler.wfile.write(data)

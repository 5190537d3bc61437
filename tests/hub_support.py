"""A model hub on 127.0.0.1 that speaks the part of the Hugging Face hub API downloads use.

``snapshot_download`` asks ``GET /api/models/<repo>/revision/<rev>`` for the commit and the
file list, then ``HEAD`` and ``GET /<repo>/resolve/<commit>/<file>`` for each file (commit,
ETag and size in the headers). Every repository is served from one local folder; a
repository named in ``gated`` answers 403 ``GatedRepo`` unless the request carries
``Authorization: Bearer <token>``. Point a process at it with ``HF_ENDPOINT``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class _Handler(BaseHTTPRequestHandler):
    folder: Path
    gated: set[str]
    token: str
    requests: list[str]

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _repo_and_rest(self) -> tuple[str, list[str]]:
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts[:2] == ["api", "models"]:
            return "/".join(parts[2:4]), parts[4:]
        return "/".join(parts[:2]), parts[2:]

    def _refuse_gated(self, repo: str) -> bool:
        if repo in self.gated and self.headers.get("Authorization") != f"Bearer {self.token}":
            self.send_response(403)
            self.send_header("X-Error-Code", "GatedRepo")
            self.send_header("X-Error-Message", f"Access to model {repo} is restricted.")
            self.end_headers()
            return True
        return False

    def _serve(self, body: bool) -> None:
        self.requests.append(f"{self.command} {self.path}")
        repo, rest = self._repo_and_rest()
        if self._refuse_gated(repo):
            return
        if self.path.startswith("/api/models/"):
            files = sorted(
                p.relative_to(self.folder).as_posix() for p in self.folder.rglob("*") if p.is_file()
            )
            data = json.dumps(
                {"id": repo, "modelId": repo, "sha": COMMIT, "private": False,
                 "siblings": [{"rfilename": f} for f in files]}
            ).encode()  # fmt: skip
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)
            return
        if len(rest) >= 3 and rest[0] == "resolve":
            path = self.folder / "/".join(rest[2:])
            if not path.is_file():
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.end_headers()
                return
            data = path.read_bytes()
            self.send_response(200)
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)
            return
        self.send_response(404)
        self.send_header("X-Error-Code", "RepoNotFound")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve(True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(False)


@contextmanager
def local_hub(
    folder: Path, *, gated: tuple[str, ...] = (), token: str = "secret"
) -> Iterator[tuple[str, list[str]]]:
    """Serve ``folder`` as every repository; yields the endpoint URL and the request log."""
    log: list[str] = []
    handler = type(
        "Handler",
        (_Handler,),
        {"folder": folder, "gated": set(gated), "token": token, "requests": log},
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", log
    finally:
        server.shutdown()
        server.server_close()

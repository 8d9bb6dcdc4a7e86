"""A small local web server over a store of runs: an index of all runs, each run's report and files.

Contract:
- Serves only files inside the store: a path with ``..``, a NUL, or one that resolves (through symlinks) outside
  the store's real path gets 404, the same as a file that doesn't exist, so nothing outside can be probed.
- Binds 127.0.0.1 unless told otherwise; while bound to loopback it answers only requests whose Host header
  names a loopback address (a web page elsewhere can't reach it by DNS rebinding).
- Read-only except for one thing: a run's ``report.html`` that is missing or older than the run's files is
  rendered on request (atomically, one render at a time) before it is served.
- Every response says ``nosniff``; anything but HTML is sent as ``text/plain`` (logs and histories hold values
  from the system under test and must never be read as markup); HTML gets a CSP header that lets only the
  report's and index's own inline code run.
- Thread-safe: the standard library's ThreadingHTTPServer, handlers keep no shared state but the render lock.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from splitbrain.history.errors import BadInput

from splitbrain.reports import render
from splitbrain.reports import run_dir as rd

log = logging.getLogger(__name__)

_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
_TYPES = {".html": "text/html; charset=utf-8", ".png": "image/png"}
_render_lock = threading.Lock()


def resolve_in_store(store_real: Path, url_path: str) -> Path | None:
    """The file or directory a URL path names inside the store, or None if it names anything outside it (or is
    malformed). ``store_real`` must already be a real path (``Path.resolve()``)."""
    path = unquote(urlsplit(url_path).path, errors="strict") if url_path else "/"
    if "\x00" in path or "\\" in path:
        return None
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        return None
    candidate = Path(os.path.realpath(store_real.joinpath(*parts)))
    if candidate != store_real and store_real not in candidate.parents:
        return None
    return candidate


def _stale(report: Path) -> bool:
    try:
        made = report.stat().st_mtime
    except FileNotFoundError:
        return True
    for f in (*rd.RUN_FILES, rd.ANNOTATIONS_FILE):
        try:
            if (report.parent / f).stat().st_mtime > made:
                return True
        except FileNotFoundError:
            continue
    return False


def html_csp() -> str:
    """The CSP header for HTML answers: the union of what our two kinds of page need, nothing else."""
    scripts = " ".join(render._sha256(render._static(n)) for n in ("report.js", "index.js"))
    style = render._sha256(render._static("report.css"))
    return (f"default-src 'none'; script-src {scripts}; style-src {style}; img-src data:; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'none'")


class _Handler(BaseHTTPRequestHandler):
    server: "StoreHTTPServer"
    server_version = "splitbrain"
    sys_version = ""

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        log.debug("%s - %s", self.address_string(), format % args)

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def do_GET(self) -> None:
        self._answer(head=False)

    # -------------------------------------------------------------------------------------------------------
    def _answer(self, *, head: bool) -> None:
        if not self._host_allowed():
            return self._text(HTTPStatus.MISDIRECTED_REQUEST, "wrong Host for a server bound to loopback\n", head)
        path = urlsplit(self.path).path
        if path in ("/", "/index.html"):
            return self._send(HTTPStatus.OK, _TYPES[".html"],
                              render.index_html(self.server.store, live=True).encode(), head)
        try:
            target = resolve_in_store(self.server.store_real, self.path)
        except UnicodeDecodeError:
            target = None
        if target is None:
            return self._text(HTTPStatus.NOT_FOUND, "not found\n", head)
        if target.is_dir():
            if rd.is_run_dir(target):
                self.send_response(HTTPStatus.FOUND)
                self.send_header("Location", path.rstrip("/") + "/" + rd.REPORT_FILE)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            return self._text(HTTPStatus.NOT_FOUND, "not found\n", head)
        if target.name == rd.REPORT_FILE and rd.is_run_dir(target.parent) and _stale(target):
            try:
                with _render_lock:
                    if _stale(target):
                        render.render_report(target.parent)
            except BadInput as e:
                return self._text(HTTPStatus.UNPROCESSABLE_ENTITY, f"can't render this run: {e}\n", head)
        if not target.is_file():
            return self._text(HTTPStatus.NOT_FOUND, "not found\n", head)
        ctype = _TYPES.get(target.suffix.lower(), "text/plain; charset=utf-8")
        try:
            f = open(target, "rb")
        except OSError:
            return self._text(HTTPStatus.NOT_FOUND, "not found\n", head)
        with f:
            size = os.fstat(f.fileno()).st_size
            self._headers(HTTPStatus.OK, ctype, size)
            if not head:
                shutil.copyfileobj(f, self.wfile)

    def _host_allowed(self) -> bool:
        if not self.server.loopback_only:
            return True
        host = self.headers.get("Host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return name.lower() in _LOOPBACK_HOSTS

    def _headers(self, status: int, ctype: str, length: int) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(length))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Content-Security-Policy", self.server.csp if ctype.startswith("text/html")
                         else "default-src 'none'; sandbox")
        self.end_headers()

    def _send(self, status: int, ctype: str, body: bytes, head: bool) -> None:
        self._headers(status, ctype, len(body))
        if not head:
            self.wfile.write(body)

    def _text(self, status: int, text: str, head: bool) -> None:
        self._send(status, "text/plain; charset=utf-8", text.encode(), head)


class StoreHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, store: Path, host: str, port: int):
        self.store = Path(store)
        self.store_real = self.store.resolve()
        self.loopback_only = host in _LOOPBACK_HOSTS or host.startswith("127.")
        self.csp = html_csp()
        super().__init__((host, port), _Handler)


class StoreServer:
    """Serves a store in a background thread. ``start()`` binds (port 0 = any free port), ``stop()`` shuts down
    and closes the socket; use it as a context manager so a failing caller still stops it."""

    def __init__(self, store: str | os.PathLike, host: str = "127.0.0.1", port: int = 0):
        store = Path(store)
        if not store.is_dir():
            raise BadInput("no such store directory", str(store))
        self.store, self.host, self.port = store, host, port
        self._server: StoreHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _bind(self) -> StoreHTTPServer:
        try:
            server = StoreHTTPServer(self.store, self.host, self.port)
        except OSError as e:
            raise BadInput(f"can't listen there ({e.strerror or e})", f"{self.host}:{self.port}") from None
        self.port = server.server_address[1]
        return server

    def start(self) -> "StoreServer":
        self._server = self._bind()
        # A short poll interval makes stop() quick; the cost is a few idle wake-ups a second.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="splitbrain-serve", daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def serve_forever(self, on_ready=lambda: None) -> None:
        """Serve in the calling thread until interrupted (the CLI); ``on_ready`` runs once the port is bound."""
        self._server = self._bind()
        on_ready()
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()

    def stop(self) -> None:
        if self._server is not None:
            if self._thread is not None:
                self._server.shutdown()
                self._thread.join(timeout=10)
            self._server.server_close()
            self._server = None
            self._thread = None

    def __enter__(self) -> "StoreServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

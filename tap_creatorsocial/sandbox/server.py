"""HTTP front-end for the emulator on 127.0.0.1, for demos and black-box tests (e.g. through Meltano).

URL scheme: the first path segment names the emulated host - ``http://127.0.0.1:P/graph.facebook.com/v25.0/me`` is
served as ``https://graph.facebook.com/v25.0/me``; paths without a host prefix go to graph.facebook.com. The server
passes ``X-Sandbox-Base-Url: http://<Host header>/<host>`` to the emulator so ``paging.next`` links point back at this
server under the same prefix.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from .api import BASE_URL_HEADER, FB_GRAPH, HOSTS, GraphEmulator


class SandboxHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server bound to one emulator."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, emulator: GraphEmulator, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.emulator = emulator
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> str:
        """Serve in a daemon thread; returns the base URL."""
        self._thread = threading.Thread(target=self.serve_forever, name="sandbox-http", daemon=True)
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, each keep-alive response then waits ~40 ms for the
    # client's delayed ACK, which made a full served run 20x slower than the same run in-process.
    disable_nagle_algorithm = True
    server: SandboxHTTPServer

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        split = urlsplit(self.path)
        first, _, rest = split.path.lstrip("/").partition("/")
        origin = f"http://{self.headers.get('Host') or self.server.base_url.removeprefix('http://')}"
        if first in HOSTS:
            host, path, base = first, "/" + rest, f"{origin}/{first}"
        else:
            host, path, base = FB_GRAPH, split.path or "/", origin
        url = f"https://{host}{path}" + (f"?{split.query}" if split.query else "")
        headers = {k: v for k, v in self.headers.items() if k.lower() != BASE_URL_HEADER.lower()}
        headers[BASE_URL_HEADER] = base
        try:
            resp = self.server.emulator.handle(self.command, url, headers, body)
        except Exception as exc:  # a sandbox bug must not kill the connection silently
            msg = f"sandbox internal error: {exc!r}".encode()
            self.send_response(500)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(msg)))
            self.end_headers()
            self.wfile.write(msg)
            return
        self.send_response(resp.status)
        for name, value in resp.headers.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(resp.body)

    do_GET = _dispatch
    do_POST = _dispatch
    do_DELETE = _dispatch
    do_PUT = _dispatch
    do_HEAD = _dispatch

    def log_message(self, format: str, *args: object) -> None:
        """Silence per-request logging (the stats endpoint is the record)."""


def serve_in_thread(emulator: GraphEmulator, port: int = 0) -> tuple[SandboxHTTPServer, str]:
    """Start a server for ``emulator`` on 127.0.0.1 (port 0 = ephemeral); returns ``(server, base_url)``.

    Call ``server.stop()`` to shut it down.
    """
    server = SandboxHTTPServer(emulator, port)
    return server, server.start()

"""Run ``tap-creatorsocial-sandbox`` with TCP_NODELAY on every accepted connection (benchmark helper).

Same arguments and output as ``tap-creatorsocial-sandbox`` (``serve`` prints one JSON line with the URLs first).
The stock server writes each response's headers and body in two ``send`` calls; on a keep-alive connection Nagle's
algorithm then holds the body until the client's delayed ACK (~40 ms on Linux), so every request a client makes
through a ``requests.Session`` costs ~40 ms more than the configured latency. That artefact would swamp what the
benchmark measures, so the benchmark serves through this wrapper unless ``--stock-server`` is given. Nothing of the
emulator changes: only the listening socket's accepted connections get ``TCP_NODELAY``.
"""

from __future__ import annotations

import socket
import sys

from tap_creatorsocial.sandbox import cli
from tap_creatorsocial.sandbox.server import SandboxHTTPServer


class NoDelaySandboxServer(SandboxHTTPServer):
    """The sandbox's HTTP server, with Nagle's algorithm disabled on each accepted connection."""

    def get_request(self) -> tuple[socket.socket, object]:
        """Accept a connection and set ``TCP_NODELAY`` on it."""
        sock, addr = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr


def main() -> int:
    """Patch the server class the sandbox CLI instantiates, then run the CLI unchanged."""
    cli.SandboxHTTPServer = NoDelaySandboxServer  # type: ignore[misc]
    return cli.main()


if __name__ == "__main__":
    sys.exit(main())

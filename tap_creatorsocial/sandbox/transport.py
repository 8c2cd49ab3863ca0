"""``requests`` transport adapter that answers from a ``GraphEmulator`` in-process (no port, no network).

``mount(session, emulator)`` routes the five Meta hosts the tap talks to into the emulator; everything else on the
session is untouched. Responses are genuine ``requests.Response`` objects (status, reason, headers, url, request,
streamable raw body) so ``raise_for_status``, ``.json()``, redirects and retry adapters behave as against Meta.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers

from .api import HOSTS, GraphEmulator


class SandboxAdapter(BaseAdapter):
    """A transport adapter that hands each prepared request to ``emulator.handle``."""

    def __init__(self, emulator: GraphEmulator) -> None:
        super().__init__()
        self.emulator = emulator

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Answer ``request`` from the emulator (timeouts do not apply: latency is simulated by the scenario)."""
        body = request.body
        if isinstance(body, str):
            raw_body: bytes | None = body.encode("utf-8")
        elif isinstance(body, bytes | bytearray):
            raw_body = bytes(body)
        elif body is None:
            raw_body = None
        elif hasattr(body, "read"):
            raw_body = body.read()
        else:  # iterable of chunks
            raw_body = b"".join(c if isinstance(c, bytes) else str(c).encode() for c in body)
        url = request.url or ""
        answer = self.emulator.handle(request.method or "GET", url, dict(request.headers), raw_body)
        resp = requests.Response()
        resp.status_code = answer.status
        resp.headers = CaseInsensitiveDict(answer.headers)
        resp.encoding = get_encoding_from_headers(resp.headers)
        resp.raw = io.BytesIO(answer.body)
        try:
            resp.reason = HTTPStatus(answer.status).phrase
        except ValueError:
            resp.reason = ""
        resp.url = url
        resp.request = request
        resp.connection = self  # type: ignore[assignment]  # requests annotates it as HTTPAdapter
        return resp

    def close(self) -> None:
        """Nothing to release."""


def mount(session: requests.Session, emulator: GraphEmulator) -> SandboxAdapter:
    """Route ``https://`` requests for every emulated Meta host on ``session`` into ``emulator``."""
    adapter = SandboxAdapter(emulator)
    for host in HOSTS:
        session.mount(f"https://{host}/", adapter)
    return adapter

"""GraphClient resolves proxies once per host, and still honours HTTPS_PROXY / NO_PROXY from the environment."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from tap_creatorsocial.graph import GraphClient


class RecordingAdapter(requests.adapters.BaseAdapter):
    """Answers `{}` and keeps the proxies each request was sent with."""

    def __init__(self) -> None:
        super().__init__()
        self.proxies: list[tuple[str, dict[str, str]]] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.proxies.append((request.url or "", kwargs["proxies"]))
        response = requests.Response()
        response.request = request
        response.status_code = 200
        response._content = json.dumps({}).encode()
        return response

    def close(self) -> None:
        """Nothing to release."""


def test_environment_proxies_and_no_proxy_per_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "graph.instagram.com")
    adapter = RecordingAdapter()
    session = requests.Session()
    session.mount("https://", adapter)
    graph = GraphClient(session, api_version="v25.0")
    for _ in range(2):
        graph.get("https://graph.facebook.com/v25.0/me", "token")
        graph.get("https://graph.instagram.com/v25.0/me", "token")
    seen = {(url.split("/v25.0")[0], proxies.get("https")) for url, proxies in adapter.proxies}
    assert seen == {("https://graph.facebook.com", "http://proxy.example:3128"), ("https://graph.instagram.com", None)}

    monkeypatch.setenv("HTTPS_PROXY", "http://other.example:3128")  # read once per run: a new run sees it
    assert GraphClient(session, api_version="v25.0").proxies_for(
        requests.Request("GET", "https://graph.facebook.com/v25.0/me").prepare()
    ) == {"https": "http://other.example:3128"}

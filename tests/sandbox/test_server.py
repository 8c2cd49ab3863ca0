"""The emulator over real HTTP (serve_in_thread) and the console script."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tap_creatorsocial.sandbox import GraphEmulator
from tap_creatorsocial.sandbox.cli import main
from tap_creatorsocial.sandbox.model import Dataset
from tap_creatorsocial.sandbox.server import SandboxHTTPServer, serve_in_thread


@pytest.fixture
def served(base_dataset: Dataset) -> Iterator[tuple[GraphEmulator, str]]:
    emu = GraphEmulator(base_dataset)
    server, base = serve_in_thread(emu)
    yield emu, base
    server.stop()


def test_http_paging_links_point_back_at_server(served: tuple[GraphEmulator, str]) -> None:
    emu, base = served
    token = emu.connections()[0]["access_token"]
    graph = f"{base}/graph.facebook.com/v25.0"
    r = requests.get(
        f"{graph}/me/accounts", params={"access_token": token, "fields": "instagram_business_account"}, timeout=5
    )
    assert r.status_code == 200
    assert r.headers["facebook-api-version"] == "v25.0"
    ig_id = next(p for p in r.json()["data"] if "instagram_business_account" in p)["instagram_business_account"]["id"]
    seen: list[str] = []
    url: str | None = f"{graph}/{ig_id}/media?limit=9&fields=id&access_token={token}"
    while url:
        assert url.startswith(f"{graph}/{ig_id}/media?")
        body = requests.get(url, timeout=5).json()
        seen += [m["id"] for m in body["data"]]
        url = body.get("paging", {}).get("next")
    assert seen == [m.id for m in emu.dataset.accounts[ig_id].media]
    assert emu.stats()["http_requests"] >= 6


def test_http_unprefixed_paths_go_to_graph_facebook(served: tuple[GraphEmulator, str]) -> None:
    emu, base = served
    token = emu.connections()[0]["access_token"]
    r = requests.get(f"{base}/v25.0/me", params={"access_token": token}, timeout=5)
    assert r.json()["id"] == emu.dataset.facebook_users[0].id
    err = requests.get(f"{base}/v25.0/me", timeout=5)
    assert err.status_code == 400
    assert "WWW-Authenticate" in err.headers
    stats = requests.get(f"{base}/__stats", timeout=5).json()
    assert stats["api_calls"] == 2


def test_http_batch_and_ig_host(served: tuple[GraphEmulator, str]) -> None:
    emu, base = served
    fb = emu.connections()[0]["access_token"]
    ig_conn = next(c for c in emu.connections() if c["provider"] == "instagram")
    batch = json.dumps([{"method": "GET", "relative_url": "me"}] * 3)
    requests.post(f"{base}/__stats/reset", timeout=5)
    r = requests.post(f"{base}/graph.facebook.com/v25.0/", data={"access_token": fb, "batch": batch}, timeout=5)
    assert [i["code"] for i in r.json()] == [200, 200, 200]
    stats = requests.get(f"{base}/graph.facebook.com/__stats", timeout=5).json()
    assert (stats["http_requests"], stats["api_calls"]) == (1, 3)
    me = requests.get(
        f"{base}/graph.instagram.com/v25.0/me",
        timeout=5,
        headers={"Authorization": f"Bearer {ig_conn['access_token']}"},
        params={"fields": "user_id"},
    )
    assert me.json()["user_id"] == ig_conn["owner_id"]


def test_http_consent_form_round_trip(served: tuple[GraphEmulator, str]) -> None:
    emu, base = served
    app = emu.dataset.app
    params = {
        "client_id": app.id,
        "redirect_uri": app.redirect_uris[0],
        "response_type": "code",
        "scope": "instagram_business_basic",
        "state": "xyz",
    }
    page = requests.get(f"{base}/www.instagram.com/oauth/authorize", params=params, timeout=5)
    assert page.status_code == 200
    assert "<form method='post' action=''>" in page.text
    choice = re.findall(r"name='decision' value='(allow[^']*)'", page.text)[0]
    resp = requests.post(page.url, data={**params, "decision": choice}, allow_redirects=False, timeout=5)
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith("#_")
    code = parse_qs(urlsplit(resp.headers["Location"]).query)["code"][0]
    token = requests.post(
        f"{base}/api.instagram.com/oauth/access_token",
        timeout=5,
        data={
            "client_id": app.id,
            "client_secret": app.secret,
            "grant_type": "authorization_code",
            "redirect_uri": app.redirect_uris[0],
            "code": code,
        },
    ).json()
    assert token["data"][0]["access_token"].startswith("SBXIG")


def test_server_stops_cleanly(base_dataset: Dataset) -> None:
    server = SandboxHTTPServer(GraphEmulator(base_dataset))
    base = server.start()
    assert requests.get(f"{base}/__stats", timeout=5).status_code == 200
    server.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/__stats", timeout=2)


def test_cli_tokens_and_truth(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tokens", "--accounts", "2", "--media", "5", "--now", "2026-09-15T12:00:00Z"]) == 0
    conns = json.loads(capsys.readouterr().out)
    assert {c["provider"] for c in conns} == {"facebook", "instagram"}
    assert all(c["access_token"].startswith("SBX") for c in conns)
    # deterministic: same seed → same tokens (so `serve` and `tokens` agree)
    main(["tokens", "--accounts", "2", "--media", "5", "--now", "2026-09-15T12:00:00Z"])
    assert json.loads(capsys.readouterr().out) == conns
    pytest.importorskip("tap_creatorsocial.sandbox.truth")
    assert main(["truth", "--accounts", "1", "--media", "3", "--version", "25", "--now", "2026-09-15T12:00:00Z"]) == 0
    assert json.loads(capsys.readouterr().out)


def test_cli_serve_prints_urls_and_stops_on_sigterm() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tap_creatorsocial.sandbox.cli",
            "serve",
            "--port",
            "0",
            "--accounts",
            "2",
            "--media",
            "5",
            "--latency-ms",
            "0",
            "--scenario",
            "usage-95",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert info["graph_api_url"].endswith("/graph.facebook.com")
        assert info["instagram_api_url"].endswith("/graph.instagram.com")
        conns = requests.get(info["connections_url"], timeout=5).json()
        r = requests.get(
            f"{info['graph_api_url']}/v25.0/me", params={"access_token": conns[0]["access_token"]}, timeout=5
        )
        assert r.status_code == 200
        assert json.loads(r.headers["X-App-Usage"])["call_count"] == 95
        assert requests.get(info["stats_url"], timeout=5).json()["api_calls"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0

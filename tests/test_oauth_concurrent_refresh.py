"""Two runs starting together on one OAuth store, both due to renew every token: each token is renewed once, both
runs use the renewed tokens, and the store loses nothing (the generic lost-update and kill-mid-write cases are in
test_oauth_store.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import multiprocessing
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests

from tap_creatorsocial.oauth.flows import OAuthClient, OAuthSettings
from tap_creatorsocial.oauth.manager import OAuthManager
from tap_creatorsocial.oauth.store import FileStore, StoreData
from tap_creatorsocial.sandbox import create_emulator
from tap_creatorsocial.sandbox.server import serve_in_thread
from tests.test_oauth_midrun import connect


def _run(config: dict[str, Any], barrier: Any, out: str) -> None:
    """One tap run's start: read the store's connections (renewing what is due), report the tokens it got."""
    manager = OAuthManager(config, requests.Session(), interactive=False)
    barrier.wait(timeout=30)
    tokens = {manager.key_for(c.label): c.access_token for c in manager.connections()}
    Path(out).write_text(json.dumps(tokens))


def test_two_processes_renewing_the_same_store_renew_each_token_once(tmp_path: Path) -> None:
    emu = create_emulator(accounts=5, media=1, stories=0)
    renewals: Counter[str] = Counter()
    handle = emu.handle

    def counting(method: str, url: str, headers: Any, body: bytes | None = None) -> Any:
        params = dict(parse_qsl(urlsplit(url).query))
        if params.get("grant_type") in ("fb_exchange_token", "ig_refresh_token"):
            renewals[params["grant_type"]] += 1
        return handle(method, url, headers, body)

    emu.handle = counting  # type: ignore[method-assign]
    server, base = serve_in_thread(emu)
    try:
        config = {
            "sandbox": True,
            "graph_api_url": f"{base}/graph.facebook.com",
            "instagram_api_url": f"{base}/graph.instagram.com",
            "oauth_settings_location": str(tmp_path / "oauth.json"),
        }
        store = FileStore(tmp_path / "oauth.json")
        client = OAuthClient(OAuthSettings.from_config(config), requests.Session())
        connect(client, "facebook", None, store, emu)
        for user in emu.dataset.instagram_users:
            connect(client, "instagram", user.account_id, store, emu)
        emu.advance(2 * 24 * 3600)  # Instagram tokens must be 24 h old before Meta renews them
        renewals.clear()

        now = dt.datetime.now(dt.UTC)

        def due_soon(data: StoreData) -> None:  # as the runs' clocks see it: 10 days left, issued 2 days ago
            for key, conn in data.connections.items():
                data.connections[key] = dataclasses.replace(
                    conn, issued_at=now - dt.timedelta(days=2), expires_at=now + dt.timedelta(days=10)
                )

        store.update(due_soon)
        before = {key: c.access_token for key, c in store.load().connections.items()}
        assert len(before) == 3  # one Facebook-Login creator (3 accounts), two Instagram-Login ones

        ctx = multiprocessing.get_context("fork")
        barrier = ctx.Barrier(2)
        outs = [str(tmp_path / f"run{i}.json") for i in range(2)]
        procs = [ctx.Process(target=_run, args=(config, barrier, out)) for out in outs]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(timeout=60)
            assert proc.exitcode == 0
    finally:
        server.stop()

    first, second = (json.loads(Path(out).read_text()) for out in outs)
    after = store.load().connections
    assert set(after) == set(before)  # nothing lost
    assert first == second == {key: c.access_token for key, c in after.items()}  # both runs use the renewed tokens
    assert all(after[key].access_token != token for key, token in before.items())  # every token was renewed...
    assert renewals == {"fb_exchange_token": 1, "ig_refresh_token": 2}  # ...once, not once per run
    assert all(c.refreshed_at is not None and c.status == "linked" for c in after.values())
    assert all(emu.tokens.lookup(c.access_token) is not None for c in after.values())

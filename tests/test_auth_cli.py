"""`tap-creatorsocial-auth` against a served sandbox: headless and browser logins, status, refresh, revoke — and no
token or secret in anything it prints or logs."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tap_creatorsocial.auth_cli import load_config, main
from tap_creatorsocial.oauth.store import FileStore, LinkedAccount, StoreData, StoredConnection
from tap_creatorsocial.sandbox import GraphEmulator, create_emulator
from tap_creatorsocial.sandbox.dataset import APP_SECRET
from tap_creatorsocial.sandbox.server import serve_in_thread
from tap_creatorsocial.tap import TapCreatorSocial
from tests.test_oauth_flows import FakeBrowser, drive_consent, register_callback

DAY = 24 * 3600


class Run:
    """Runs CLI commands in-process and keeps everything they print, for the secrets scan."""

    def __init__(self, emu: GraphEmulator, config_path: Path) -> None:
        self.emu = emu
        self.config_path = config_path
        self.transcript: list[str] = []

    def __call__(self, *args: str, environ: dict[str, str] | None = None, browser: Any = None) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = main(
            ["--config", str(self.config_path), *args],
            environ=environ or {},
            clock=self.emu.now,
            open_browser=browser,
            out=out,
            err=err,
        )
        self.transcript += [out.getvalue(), err.getvalue()]
        return code, out.getvalue(), err.getvalue()


@pytest.fixture
def served() -> Iterator[tuple[GraphEmulator, str]]:
    emu = create_emulator(accounts=4, media=2, stories=0)
    server, base = serve_in_thread(emu)
    try:
        yield emu, base
    finally:
        server.stop()


@pytest.fixture
def setup(served: tuple[GraphEmulator, str], tmp_path: Path) -> tuple[Run, dict[str, Any], FileStore]:
    emu, base = served
    config = {
        "sandbox": True,
        "graph_api_url": f"{base}/graph.facebook.com",
        "instagram_api_url": f"{base}/graph.instagram.com",
        "oauth_settings_location": str(tmp_path / "oauth.json"),
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return Run(emu, path), config, FileStore(tmp_path / "oauth.json")


def all_secrets(emu: GraphEmulator, store: FileStore) -> list[str]:
    """Every token the sandbox issued (incl. codes) and everything the store holds, plus the app secret."""
    found = [APP_SECRET]
    found += list(emu.tokens._tokens)
    found += list(emu.tokens._codes)
    for conn in store.load().connections.values():
        found.append(conn.access_token)
        found += [p.access_token for p in conn.pages if p.access_token]
    return found


def assert_no_secrets(text: str, secrets: list[str]) -> None:
    leaked = [s[:8] + "…" for s in secrets if s and s in text]
    assert not leaked, f"secrets in output: {leaked}"


def headless_login(run: Run, provider: str, who: str | None = None) -> tuple[str, str]:
    code, url, _ = run("url", "--provider", provider)
    assert code == 0
    location = drive_consent(requests.Session(), url.strip(), who=who)
    return location, url.strip()


def test_headless_url_then_exchange(
    setup: tuple[Run, dict[str, Any], FileStore], caplog: pytest.LogCaptureFixture
) -> None:
    run, _, store = setup
    caplog.set_level(logging.DEBUG)
    emu = run.emu
    owner = emu.dataset.instagram_users[0].account_id

    location, url = headless_login(run, "instagram", owner)
    assert url.startswith("http://127.0.0.1:")
    assert "/www.instagram.com/oauth/authorize?" in url
    assert len(store.load().pending) == 1  # the state survives between the two commands

    code, out, err = run("exchange", "--redirect-url", location)
    assert code == 0, err
    assert f"[instagram:{owner}]" in out
    assert emu.dataset.accounts[owner].username in out
    assert store.load().pending == {}
    assert f"instagram:{owner}" in store.load().connections

    code, _, err = run("exchange", "--redirect-url", location)  # the same redirect again: refused
    assert code == 1
    assert "matches no pending login" in err

    fb_location, _ = headless_login(run, "facebook")
    forged = fb_location.split("&state=")[0] + "&state=forged"
    code, _, err = run("exchange", "--redirect-url", forged)
    assert code == 1
    assert "refused" in err
    assert "facebook" not in " ".join(store.load().connections)

    assert_no_secrets("\n".join(run.transcript) + caplog.text, all_secrets(emu, store))


def test_browser_login_via_cli(setup: tuple[Run, dict[str, Any], FileStore], caplog: pytest.LogCaptureFixture) -> None:
    run, config, store = setup
    caplog.set_level(logging.DEBUG)
    callback = register_callback(run.emu)
    config["callback_url"] = callback
    run.config_path.write_text(json.dumps(config))
    browser = FakeBrowser(requests.Session())

    code, out, err = run("login", "--provider", "facebook", "--timeout", "20", browser=browser)
    assert code == 0, err
    assert browser.error is None
    assert browser.opened
    assert "If it does not open, visit:" in err
    assert "/www.facebook.com/v25.0/dialog/oauth?" in err
    user = run.emu.dataset.facebook_users[0]
    assert f"Connected {user.name} (facebook login)" in out
    assert f"facebook:{user.id}" in store.load().connections
    assert_no_secrets("\n".join(run.transcript) + caplog.text, all_secrets(run.emu, store))


def test_status_table(setup: tuple[Run, dict[str, Any], FileStore], caplog: pytest.LogCaptureFixture) -> None:
    run, config, store = setup
    caplog.set_level(logging.DEBUG)
    now = run.emu.now()

    def conn(provider: str, user_id: str, name: str, expires_days: float, **extra: Any) -> StoredConnection:
        return StoredConnection(
            provider=provider,  # type: ignore[arg-type]
            user_id=user_id,
            name=name,
            access_token=f"SBXSECRET{user_id}TOKENVALUE",
            api_url=config["graph_api_url"] if provider == "facebook" else config["instagram_api_url"],
            issued_at=now - dt.timedelta(days=2),
            expires_at=now + dt.timedelta(days=expires_days),
            **extra,
        )

    rows = [
        conn(
            "facebook",
            "101",
            "Alice Agency",
            50,
            data_access_expires_at=now + dt.timedelta(days=80),
            accounts=[LinkedAccount("17841400000000001", "alice.cooks", "p1"), LinkedAccount("17841400000000002")],
        ),
        conn(
            "instagram", "17841400000000003", "@bob.runs", 3, accounts=[LinkedAccount("17841400000000003", "bob.runs")]
        ),
        conn("facebook", "102", "Carol Studio", -1, data_access_expires_at=now + dt.timedelta(days=80)),
        conn(
            "facebook",
            "103",
            "Dan Media",
            40,
            status="reconnect_needed",
            last_error="Error validating access token: The user has not authorized application",
        ),
    ]

    def fill(data: StoreData) -> None:
        for row in rows:
            data.connections[row.key] = row

    store.update(fill)
    code, out, _ = run("status")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == [
        "Creator",
        "Provider",
        "Accounts",
        "Token",
        "expires",
        "Data",
        "access",
        "expires",
        "Status",
    ]
    by_creator = {line.split("  ")[0].strip(): line for line in lines[2:] if line.strip() and "Store:" not in line}
    alice = by_creator["Alice Agency"]
    assert "facebook" in alice
    assert "@alice.cooks, 17841400000000002" in alice
    assert alice.rstrip().endswith("Linked")
    assert (now + dt.timedelta(days=50)).strftime("%Y-%m-%d") in alice
    assert (now + dt.timedelta(days=80)).strftime("%Y-%m-%d") in alice
    bob = by_creator["@bob.runs"]
    assert "instagram" in bob
    assert "never" in bob
    assert "Expiring soon - token expires on" in bob
    assert "Reconnect needed - token expired on" in by_creator["Carol Studio"]
    assert "Reconnect needed - Error validating access token" in by_creator["Dan Media"]
    assert f"Store: {store.path}" in out

    code, out, _ = run("status", "--json")
    parsed = {r["creator"]: r for r in json.loads(out)}
    assert parsed["@bob.runs"]["status"] == "expiring_soon"
    assert parsed["Alice Agency"]["accounts"][0]["username"] == "alice.cooks"
    assert_no_secrets("\n".join(run.transcript) + caplog.text, [r.access_token for r in rows])


def test_status_of_an_empty_store_says_how_to_connect(setup: tuple[Run, dict[str, Any], FileStore]) -> None:
    run, _, _ = setup
    code, out, _ = run("status")
    assert code == 0
    assert "No creator is connected yet" in out
    assert "login" in out


def test_refresh_and_revoke(setup: tuple[Run, dict[str, Any], FileStore], caplog: pytest.LogCaptureFixture) -> None:
    run, config, store = setup
    caplog.set_level(logging.DEBUG)
    emu = run.emu
    owner = emu.dataset.instagram_users[0].account_id
    location, _ = headless_login(run, "instagram", owner)
    assert run("exchange", "--redirect-url", location)[0] == 0
    location, _ = headless_login(run, "facebook")
    assert run("exchange", "--redirect-url", location)[0] == 0
    before = {k: c.access_token for k, c in store.load().connections.items()}

    code, out, _ = run("refresh")
    assert code == 0
    assert out.count("not due") == 2
    code, out, _ = run("refresh", "--force", f"instagram:{owner}")
    assert code == 0
    assert "only once they are 24 hours old" in out

    emu.advance(50 * DAY)
    code, out, _ = run("refresh")
    assert code == 0, out
    assert out.count("renewed, token expires") == 2
    after = store.load().connections
    assert all(after[k].access_token != before[k] for k in before)

    fb = next(c for c in after.values() if c.provider == "facebook")
    code, out, _ = run("revoke", fb.user_id)
    assert code == 0
    assert "revoked at Facebook" in out
    assert "removed from" in out
    probe = requests.get(
        f"{config['graph_api_url']}/v25.0/me", headers={"Authorization": f"Bearer {fb.access_token}"}, timeout=10
    )
    assert probe.status_code == 400
    assert probe.json()["error"]["code"] == 190
    code, out, _ = run("revoke", f"@{emu.dataset.accounts[owner].username}")
    assert code == 0
    assert "Instagram has no API to revoke" in out
    assert store.load().connections == {}
    code, _, err = run("revoke", "nobody")
    assert code == 1
    assert "No stored connection matches" in err
    assert_no_secrets("\n".join(run.transcript) + caplog.text, all_secrets(emu, store) + list(before.values()))


def test_settings_come_from_env_over_config(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"client_id": "from-file", "sandbox": False, "page_size": 10}))
    environ = {
        "TAP_CREATORSOCIAL_CLIENT_ID": "from-env",
        "TAP_CREATORSOCIAL_SANDBOX": "true",
        "TAP_CREATORSOCIAL_OAUTH_SETTINGS_LOCATION": "memory://env",
        "TAP_CREATORSOCIAL_ACCOUNT_IDS": '["17841400000000001"]',
        "TAP_CREATORSOCIAL_PAGE_SIZE": "50",
        "UNRELATED": "x",
    }
    config = load_config([str(path)], environ)
    assert config == {
        "client_id": "from-env",
        "sandbox": True,
        "page_size": 50,
        "oauth_settings_location": "memory://env",
        "account_ids": ["17841400000000001"],
    }


def test_in_process_sandbox_explains_it_needs_no_login(tmp_path: Path) -> None:
    err = io.StringIO()
    code = main(
        ["login"],
        environ={"TAP_CREATORSOCIAL_SANDBOX": "true", "TAP_CREATORSOCIAL_OAUTH_SETTINGS_LOCATION": "memory://x"},
        err=err,
    )
    assert code == 1
    assert "tap-creatorsocial-sandbox serve" in err.getvalue()


def test_missing_app_credentials_fail_with_the_fix(tmp_path: Path) -> None:
    err = io.StringIO()
    code = main(["url"], environ={"TAP_CREATORSOCIAL_OAUTH_SETTINGS_LOCATION": str(tmp_path / "s.json")}, err=err)
    assert code == 1
    assert "client_id" in err.getvalue()
    assert "TAP_CREATORSOCIAL_CLIENT_SECRET" in err.getvalue()


def test_tap_reads_the_store_and_keeps_tokens_out_of_its_output(
    setup: tuple[Run, dict[str, Any], FileStore], capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    run, config, store = setup
    emu = run.emu
    owner = emu.dataset.instagram_users[0].account_id
    location, _ = headless_login(run, "instagram", owner)
    assert run("exchange", "--redirect-url", location)[0] == 0
    capsys.readouterr()
    caplog.set_level(logging.DEBUG)

    tap = TapCreatorSocial(config={**config, "account_ids": [owner]}, validate_config=True)
    assert [c.label for c in tap.connections()] == [f"@{emu.dataset.accounts[owner].username} [instagram:{owner}]"]
    assert tap.directory.account_ids() == [owner]
    tap.sync_all()
    captured = capsys.readouterr()
    assert '"type":"RECORD"' in captured.out.replace(" ", "")
    assert_no_secrets(captured.out + captured.err + caplog.text, all_secrets(emu, store))

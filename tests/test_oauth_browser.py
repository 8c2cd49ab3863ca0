"""`tap-creatorsocial-auth login` in a real headless Chromium: consent page → local callback → stored connection.

The login runs exactly as a person runs it (the CLI's `login`, its CallbackServer on a free localhost port); only
`open_browser` is injected, handing the consent URL to Chromium (Debian's `chromium`, driven by Playwright without
Playwright's own browser download). `SAVE_SCREENSHOTS=1` also saves the sandbox consent page to
docs/img/consent-page.png for the README.
"""

from __future__ import annotations

import io
import json
import os
import queue
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tap_creatorsocial.auth_cli import main
from tap_creatorsocial.oauth.store import FileStore, assess
from tap_creatorsocial.sandbox import GraphEmulator, create_emulator
from tap_creatorsocial.sandbox.server import serve_in_thread
from tests.test_auth_cli import all_secrets, assert_no_secrets
from tests.test_oauth_flows import register_callback

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "img" / "consent-page.png"
CHROMIUM_FLAGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",  # the sandbox and the callback are on this machine
]

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - the dev extra installs it
    sync_playwright = None  # type: ignore[assignment]

pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="headless browser login test needs Debian's chromium: apt-get install -y chromium (.ci/run does)",
    ),
    pytest.mark.skipif(sync_playwright is None, reason="needs the `playwright` package (pip install -e '.[dev]')"),
]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[GraphEmulator, dict[str, Any], Path]]:
    emu = create_emulator(accounts=4, media=1, stories=0)
    server, base = serve_in_thread(emu)
    config = {
        "sandbox": True,
        "graph_api_url": f"{base}/graph.facebook.com",
        "instagram_api_url": f"{base}/graph.instagram.com",
        "oauth_settings_location": str(tmp_path / "oauth.json"),
        "callback_url": register_callback(emu),  # a free localhost port, registered in the sandbox app
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    try:
        yield emu, config, path
    finally:
        server.stop()


@pytest.mark.parametrize("provider", ["facebook", "instagram"])
def test_login_in_headless_chromium(
    served: tuple[GraphEmulator, dict[str, Any], Path], provider: str, tmp_path: Path
) -> None:
    emu, config, config_path = served
    urls: queue.Queue[str] = queue.Queue()
    out, err = io.StringIO(), io.StringIO()
    result: dict[str, int] = {}

    def login() -> None:
        result["code"] = main(
            ["--config", str(config_path), "login", "--provider", provider, "--timeout", "45"],
            environ={},
            open_browser=urls.put,  # the browser part is Chromium's, below
            out=out,
            err=err,
        )

    cli = threading.Thread(target=login, daemon=True)
    cli.start()
    consent_url = urls.get(timeout=20)

    assert sync_playwright is not None
    with sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh --user-data-dir
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 900, "height": 420},
        )
        try:
            page = browser.new_page()
            page.goto(consent_url)
            brand = "Facebook" if provider == "facebook" else "Instagram"
            assert page.locator("h1").inner_text() == f"Log in with {brand}"
            assert "SANDBOX" in page.inner_text("body")
            if os.environ.get("SAVE_SCREENSHOTS") == "1" and provider == "facebook":
                SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOT), full_page=True)
            page.locator("button[value^='allow']").first.click()  # "Continue as …"
            page.wait_for_url(config["callback_url"] + "?**", timeout=20_000)
            assert "received the login" in page.inner_text("body")
        finally:
            browser.close()

    cli.join(timeout=30)
    assert result.get("code") == 0, err.getvalue()
    store = FileStore(Path(config["oauth_settings_location"]))
    [conn] = store.load().connections.values()
    assert conn.provider == provider
    assert assess(conn, emu.now()).status == "linked"
    assert conn.accounts
    if provider == "facebook":
        user = emu.dataset.facebook_users[0]
        assert conn.user_id == user.id
        assert {a.id for a in conn.accounts} == {p.ig_account_id for p in user.pages if p.ig_account_id}
    else:
        assert conn.user_id == emu.dataset.instagram_users[0].account_id  # the first "Continue as" button
    assert emu.tokens.lookup(conn.access_token) is not None
    assert f"Connected {conn.name} ({provider} login) [{conn.key}]" in out.getvalue()
    assert_no_secrets(out.getvalue() + err.getvalue(), all_secrets(emu, store))

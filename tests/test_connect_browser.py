"""The creator connect page in a real headless Chromium: admin invite → sandbox consent → Linked, and the refusals.

The sandbox is served over HTTP (its real consent pages) and the connect app on a free localhost port, each in a
thread; Debian's `chromium` is driven by Playwright (never Playwright's own browser download). The admin and the
creator use separate browser contexts (separate cookie jars), as two people would. `SAVE_SCREENSHOTS=1` also saves
docs/img/connect-page.png (creator page) and docs/img/connect-admin.png for the README.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server

from tap_creatorsocial.connect import ConnectSettings, create_app
from tap_creatorsocial.oauth.store import FileStore
from tap_creatorsocial.sandbox import GraphEmulator, create_emulator
from tap_creatorsocial.sandbox.dataset import APP_SECRET
from tap_creatorsocial.sandbox.server import serve_in_thread
from tests.test_auth_cli import all_secrets, assert_no_secrets
from tests.test_oauth_browser import CHROMIUM, CHROMIUM_FLAGS
from tests.test_oauth_flows import free_port

try:
    from playwright.sync_api import Page, sync_playwright
except ImportError:  # pragma: no cover - the dev extra installs it
    sync_playwright = None  # type: ignore[assignment]

IMG = Path(__file__).resolve().parents[1] / "docs" / "img"
ADMIN_SECRET = "browser-admin-secret-8c1f4e2a9b"
SAVE = os.environ.get("SAVE_SCREENSHOTS") == "1"

pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="headless browser test needs Debian's chromium: apt-get install -y chromium (.ci/run does)",
    ),
    pytest.mark.skipif(sync_playwright is None, reason="needs the `playwright` package (pip install -e '.[dev]')"),
]


@dataclass
class Served:
    emu: GraphEmulator
    sandbox_url: str
    public_url: str
    store: FileStore


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    emu = create_emulator(accounts=4, media=1, stories=0)
    sandbox, base = serve_in_thread(emu)
    port = free_port()
    public_url = f"http://localhost:{port}"
    emu.dataset.app.redirect_uris.append(f"{public_url}/callback")  # registered in the (sandbox) Meta app
    config = {
        "sandbox": True,
        "graph_api_url": f"{base}/graph.facebook.com",
        "instagram_api_url": f"{base}/graph.instagram.com",
        "oauth_settings_location": str(tmp_path / "oauth.json"),
    }
    store = FileStore(tmp_path / "oauth.json")
    settings = ConnectSettings(admin_secret=ADMIN_SECRET, public_url=public_url, organization="Acme Talent")
    app = create_app(config, settings, store=store, clock=emu.now)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(emu, base, public_url, store)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        sandbox.stop()


def create_invite(admin: Page, label: str) -> str:
    admin.fill("#label", label)
    admin.click("text=Create invite link")
    admin.wait_for_selector("#fresh-link")
    return admin.input_value("#fresh-link")


def row(admin: Page, key: str) -> str:
    return admin.locator(f"tr[data-connection='{key}']").inner_text()


def test_connect_journey_in_headless_chromium(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    assert sync_playwright is not None
    caplog.set_level("DEBUG")
    pages_seen: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            admin = browser.new_context(viewport={"width": 1200, "height": 760}).new_page()
            creator_context = browser.new_context(viewport={"width": 820, "height": 900})
            creator = creator_context.new_page()

            def seen(page: Page) -> None:
                pages_seen.append(page.content())  # what was rendered (a refused /callback URL keeps its code)

            # The admin signs in and creates an invite for one creator.
            admin.goto(f"{served.public_url}/admin")
            assert admin.url.endswith("/admin/login")
            admin.fill("#secret", ADMIN_SECRET)
            admin.click("button[type=submit]")
            admin.wait_for_url(f"{served.public_url}/admin")
            link = create_invite(admin, "Sandbox Creator Manager")
            assert link.startswith(f"{served.public_url}/connect?invite=")
            seen(admin)

            # The creator opens it: the explanation page, then Facebook's (sandbox) consent dialog.
            creator.goto(link)
            assert creator.url == f"{served.public_url}/connect"  # the token left the address bar
            assert creator.locator("h1").inner_text() == "Connect your Instagram account"
            assert "read-only" in creator.inner_text("body")
            seen(creator)
            if SAVE:
                IMG.mkdir(parents=True, exist_ok=True)
                creator.screenshot(path=str(IMG / "connect-page.png"), full_page=True)
            creator.click("text=Connect with Facebook")
            creator.wait_for_selector("h1:has-text('Log in with Facebook')")
            assert "SANDBOX" in creator.inner_text("body")
            creator.locator("button[value^='allow']").first.click()
            creator.wait_for_url(f"{served.public_url}/connect/done*")  # Instagram adds #_
            assert creator.locator("h1").inner_text().startswith("Connected: thank you, Sandbox Creator Manager")
            seen(creator)
            fb_user = served.emu.dataset.facebook_users[0]
            [fb] = served.store.load().connections.values()
            assert fb.key == f"facebook:{fb_user.id}"
            for account in fb.accounts:
                assert f"@{account.username}" in creator.inner_text("ul.accounts")

            # The admin list shows it Linked.
            admin.reload()
            assert "Linked" in row(admin, fb.key)
            assert "Used" in admin.locator("#invites").inner_text()

            # The same link again, a forged one: refused.
            answer = creator.goto(link)
            assert answer is not None
            assert answer.status == 410
            assert "already been used" in creator.inner_text("body")
            answer = creator.goto(link[:-4] + "AAAA")
            assert answer is not None
            assert answer.status == 404
            assert "not valid" in creator.inner_text("body")

            # A second creator (Instagram Login); a forged `state` coming back from the consent page is refused.
            ig_owner = served.emu.dataset.instagram_users[0].account_id
            second = create_invite(admin, "IG creator")
            creator_context.clear_cookies()
            creator.goto(second)
            creator.click("text=Connect with Instagram")
            creator.wait_for_selector("h1:has-text('Log in with Instagram')")
            creator.eval_on_selector("input[name=state]", "el => { el.value = el.value.slice(0, -4) + 'beef'; }")
            creator.locator(f"button[value='allow:{ig_owner}']").click()
            creator.wait_for_selector("h1:has-text('Login refused')")
            assert "stale or forged" in creator.inner_text("body")
            assert len(served.store.load().connections) == 1
            seen(creator)

            # The genuine consent from the same link still works.
            creator.goto(second)
            creator.click("text=Connect with Instagram")
            creator.wait_for_selector("h1:has-text('Log in with Instagram')")
            creator.locator(f"button[value='allow:{ig_owner}']").click()
            creator.wait_for_url(f"{served.public_url}/connect/done*")  # Instagram adds #_
            ig = served.store.load().connections[f"instagram:{ig_owner}"]
            assert ig.name in creator.inner_text("h1")

            # The creator removes the app on Instagram (sandbox: revoke the token); "Check all" finds it.
            revoked = requests.post(
                f"{served.sandbox_url}/__sandbox/tokens/revoke", data={"token": ig.access_token}, timeout=10
            )
            assert revoked.status_code == 200
            admin.reload()
            assert "Linked" in row(admin, ig.key)
            admin.click("text=Check all with Meta")
            admin.wait_for_selector("text=need reconnecting")
            assert "Reconnect needed" in row(admin, ig.key)
            assert "Linked" in row(admin, fb.key)
            seen(admin)
            if SAVE:
                admin.screenshot(path=str(IMG / "connect-admin.png"), full_page=True)

            # A reconnect link for it: only the Instagram button, and the row is Linked again afterwards.
            admin.locator(f"tr[data-connection='{ig.key}'] >> text=Reconnect link").click()
            admin.wait_for_selector("#fresh-link")
            reconnect = admin.input_value("#fresh-link")
            creator.goto(reconnect)
            assert creator.locator("h1").inner_text() == "Reconnect your Instagram account"
            assert creator.locator("text=Connect with Facebook").count() == 0
            creator.click("text=Connect with Instagram")
            creator.locator(f"button[value='allow:{ig_owner}']").click()
            creator.wait_for_url(f"{served.public_url}/connect/done*")  # Instagram adds #_
            assert creator.locator("h1").inner_text().startswith("Reconnected")
            admin.reload()
            assert "Linked" in row(admin, ig.key)
            seen(admin)
        finally:
            browser.close()

    secrets: list[Any] = [*all_secrets(served.emu, served.store), ADMIN_SECRET, APP_SECRET]
    assert_no_secrets("\n".join(pages_seen) + caplog.text, secrets)

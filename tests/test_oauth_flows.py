"""Both login paths, renewal and the run-time manager, end to end against the in-process sandbox."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tap_creatorsocial.directory import Connection
from tap_creatorsocial.errors import GraphAPIError
from tap_creatorsocial.oauth.flows import (
    CallbackServer,
    OAuthClient,
    OAuthFlowError,
    OAuthSettings,
    OAuthStateError,
    begin_pending_login,
    browser_login,
    new_state,
    parse_instagram_token_response,
    parse_redirect,
    redeem_pending_login,
    require_code,
    save_connection,
    sibling_url,
)
from tap_creatorsocial.oauth.manager import AuthSetupError, OAuthManager, usable_connection_count
from tap_creatorsocial.oauth.store import MemoryStore, OAuthStore, StoreData, StoredConnection, open_store
from tap_creatorsocial.sandbox import GraphEmulator, create_emulator, mount

_HIDDEN = re.compile(r"<input type='hidden' name='([^']+)' value='([^']*)'>")
_BUTTON = re.compile(r"<button name='decision' value='([^']+)'>")
DAY = 24 * 3600


# -- helpers shared with test_auth_cli -------------------------------------------------------------------------


def drive_consent(session: requests.Session, url: str, *, who: str | None = None, cancel: bool = False) -> str:
    """Act as the creator in the browser: open the dialog, submit its form, return the redirect it answers with."""
    page = session.get(url, timeout=10)
    assert page.status_code == 200, page.text
    hidden = {html.unescape(k): html.unescape(v) for k, v in _HIDDEN.findall(page.text)}
    choices = [html.unescape(v) for v in _BUTTON.findall(page.text)]
    decision = (
        "cancel"
        if cancel
        else next(c for c in choices if c.startswith("allow") and (who is None or c.endswith(f":{who}")))
    )
    answer = session.post(page.url, data={**hidden, "decision": decision}, allow_redirects=False, timeout=10)
    assert answer.status_code in (302, 303), answer.text
    return answer.headers["Location"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def register_callback(emu: GraphEmulator) -> str:
    """A free localhost callback URL, registered as a valid redirect URI of the sandbox app."""
    url = f"http://localhost:{free_port()}/callback"
    emu.dataset.app.redirect_uris.append(url)
    return url


class FakeBrowser:
    """`webbrowser.open` stand-in: in a thread, consents and then loads the redirect like a browser would."""

    def __init__(self, session: requests.Session, *, who: str | None = None, cancel: bool = False) -> None:
        self.session, self.who, self.cancel = session, who, cancel
        self.opened: list[str] = []
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def __call__(self, url: str) -> bool:
        self.opened.append(url)

        def act() -> None:
            try:
                location = drive_consent(self.session, url, who=self.who, cancel=self.cancel)
                requests.get(location.split("#")[0], timeout=10)
            except BaseException as exc:  # surfaced by the test
                self.error = exc

        self.thread = threading.Thread(target=act, daemon=True)
        self.thread.start()
        return True


# -- fixtures --------------------------------------------------------------------------------------------------


@pytest.fixture
def emu() -> GraphEmulator:
    return create_emulator(accounts=4, media=2, stories=0)


@pytest.fixture
def session(emu: GraphEmulator) -> requests.Session:
    s = requests.Session()
    mount(s, emu)
    return s


@pytest.fixture
def client(emu: GraphEmulator, session: requests.Session) -> OAuthClient:
    return OAuthClient(OAuthSettings.from_config({"sandbox": True}), session, clock=emu.now)


@pytest.fixture
def store() -> Iterator[OAuthStore]:
    MemoryStore.clear_all()
    yield open_store("memory://flows")
    MemoryStore.clear_all()


def login(client: OAuthClient, session: requests.Session, provider: str, who: str | None = None) -> StoredConnection:
    state = new_state()
    location = drive_consent(session, client.authorization_url(provider, state), who=who)  # type: ignore[arg-type]
    return client.complete_login(provider, require_code(parse_redirect(location), state))  # type: ignore[arg-type]


def ig_owner(emu: GraphEmulator) -> str:
    return emu.dataset.instagram_users[0].account_id


# -- Facebook Login ----------------------------------------------------------------------------------------------


def test_facebook_login_end_to_end(emu: GraphEmulator, session: requests.Session, client: OAuthClient) -> None:
    state = new_state()
    url = client.authorization_url("facebook", state)
    parts = urlsplit(url)
    assert parts.netloc == "www.facebook.com"
    assert parts.path == "/v25.0/dialog/oauth"
    location = drive_consent(session, url)
    redirect = parse_redirect(location)
    assert location.startswith("http://localhost:33333/callback?")
    assert redirect.state == state

    conn = client.complete_login("facebook", require_code(redirect, state))

    user = emu.dataset.facebook_users[0]
    now = emu.now()
    assert (conn.provider, conn.user_id, conn.name) == ("facebook", user.id, user.name)
    record = emu.tokens.lookup(conn.access_token)
    assert record is not None
    assert record.long_lived
    assert record.kind == "user"
    assert conn.expires_at is not None
    assert dt.timedelta(days=59) < conn.expires_at - now < dt.timedelta(days=61)
    assert conn.data_access_expires_at is not None
    assert dt.timedelta(days=89) < conn.data_access_expires_at - now <= dt.timedelta(days=90)
    assert set(conn.scopes) >= {"instagram_basic", "instagram_manage_insights", "pages_show_list"}
    linked = {p.ig_account_id for p in user.pages if p.ig_account_id}
    assert {a.id for a in conn.accounts} == linked
    assert all(a.username == emu.dataset.accounts[a.id].username for a in conn.accounts)
    assert {p.id for p in conn.pages} == {p.id for p in user.pages}  # incl. the page without an IG account
    page_tokens = [p.access_token for p in conn.pages]
    assert all(t and emu.tokens.lookup(t).kind == "page" for t in page_tokens)  # type: ignore[union-attr]
    # the stored token reads the API
    me = session.get(
        "https://graph.facebook.com/v25.0/me/accounts", headers={"Authorization": f"Bearer {conn.access_token}"}
    )
    assert me.status_code == 200


def test_facebook_code_is_single_use(session: requests.Session, client: OAuthClient) -> None:
    state = new_state()
    code = require_code(parse_redirect(drive_consent(session, client.authorization_url("facebook", state))), state)
    client.exchange_facebook_code(code)
    with pytest.raises(GraphAPIError) as exc_info:
        client.exchange_facebook_code(code)
    assert exc_info.value.code == 100
    assert code not in str(exc_info.value)


def test_facebook_code_needs_the_same_redirect_uri(session: requests.Session, client: OAuthClient) -> None:
    state = new_state()
    code = require_code(parse_redirect(drive_consent(session, client.authorization_url("facebook", state))), state)
    with pytest.raises(GraphAPIError, match="redirect_uri is identical"):
        client.exchange_facebook_code(code, redirect_uri="http://127.0.0.1:33333/callback")


def test_wrong_state_is_refused(session: requests.Session, client: OAuthClient) -> None:
    location = drive_consent(session, client.authorization_url("facebook", new_state()))
    with pytest.raises(OAuthStateError, match="refused"):
        require_code(parse_redirect(location), new_state())
    without_state = location.split("&state=")[0]
    with pytest.raises(OAuthStateError):
        require_code(parse_redirect(without_state), new_state())


def test_cancelled_consent_says_so(session: requests.Session, client: OAuthClient) -> None:
    state = new_state()
    location = drive_consent(session, client.authorization_url("instagram", state), cancel=True)
    with pytest.raises(OAuthFlowError, match="access_denied"):
        require_code(parse_redirect(location), state)


def test_facebook_renewal_re_exchanges_and_reads_expiry(
    emu: GraphEmulator, client: OAuthClient, session: requests.Session
) -> None:
    conn = login(client, session, "facebook")
    emu.advance(50 * DAY)
    renewed = client.refresh(conn)
    assert renewed.access_token != conn.access_token
    assert renewed.expires_at is not None
    assert renewed.expires_at - emu.now() > dt.timedelta(days=59)
    assert renewed.data_access_expires_at == conn.data_access_expires_at  # only a new login renews data access
    assert renewed.refreshed_at is not None
    assert renewed.accounts == conn.accounts


# -- Instagram Login --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", [None, "ig-flat-token"])
def test_instagram_login_both_response_shapes(scenario: str | None) -> None:
    emu = create_emulator(accounts=4, media=2, stories=0, scenario=scenario)
    session = requests.Session()
    mount(session, emu)
    client = OAuthClient(OAuthSettings.from_config({"sandbox": True}), session, clock=emu.now)
    owner = ig_owner(emu)

    state = new_state()
    url = client.authorization_url("instagram", state)
    assert urlsplit(url).netloc == "www.instagram.com"
    location = drive_consent(session, url, who=owner)
    assert location.endswith("#_")
    code = require_code(parse_redirect(location), state)
    assert not code.endswith("#_")
    short, scoped_id, permissions = client.exchange_instagram_code(code)
    assert "instagram_business_basic" in permissions
    assert scoped_id
    _token, expires_at = client.exchange_instagram_long_lived(short)
    assert expires_at is not None
    assert expires_at - emu.now() > dt.timedelta(days=59)

    # the whole flow, again with a fresh code
    conn = login(client, session, "instagram", who=owner)
    assert conn.provider == "instagram"
    assert conn.user_id == owner  # the account id from /me, not the IG-scoped id of the exchange
    assert conn.accounts[0].username == emu.dataset.accounts[owner].username
    assert conn.name == f"@{emu.dataset.accounts[owner].username}"
    assert emu.tokens.lookup(conn.access_token).long_lived  # type: ignore[union-attr]


def test_instagram_response_parser_accepts_both_documented_shapes() -> None:
    wrapped = {"data": [{"access_token": "A", "user_id": "42", "permissions": "a,b"}]}
    flat = {"access_token": "A", "user_id": 42, "permissions": ["a", "b"]}
    assert parse_instagram_token_response(wrapped) == ("A", "42", ["a", "b"])
    assert parse_instagram_token_response(flat) == ("A", "42", ["a", "b"])
    with pytest.raises(OAuthFlowError):
        parse_instagram_token_response({"data": []})


def test_instagram_code_is_single_use(emu: GraphEmulator, session: requests.Session, client: OAuthClient) -> None:
    state = new_state()
    location = drive_consent(session, client.authorization_url("instagram", state), who=ig_owner(emu))
    code = require_code(parse_redirect(location), state)
    client.exchange_instagram_code(code)
    with pytest.raises(GraphAPIError, match="already used"):
        client.exchange_instagram_code(code)


def test_instagram_refresh_refused_before_24h_then_accepted(
    emu: GraphEmulator, session: requests.Session, client: OAuthClient
) -> None:
    conn = login(client, session, "instagram", who=ig_owner(emu))
    with pytest.raises(GraphAPIError) as exc_info:  # Meta's own rule, seen directly
        client.refresh_instagram(conn.access_token)
    assert exc_info.value.code == 100
    assert "24 hours" in exc_info.value.message
    assert not client.can_refresh(conn)
    with pytest.raises(OAuthFlowError, match="24 hours"):  # and the client does not even ask
        client.refresh(conn)

    emu.advance(25 * 3600)
    assert client.can_refresh(conn)
    renewed = client.refresh(conn)
    assert renewed.access_token != conn.access_token
    assert renewed.issued_at == renewed.refreshed_at
    assert renewed.expires_at is not None
    assert renewed.expires_at - emu.now() > dt.timedelta(days=59)


# -- settings, redirects, pending logins -------------------------------------------------------------------------


def test_sibling_hosts_follow_the_configured_graph_url() -> None:
    assert sibling_url("https://graph.facebook.com", "graph.facebook.com", "www.facebook.com") == (
        "https://www.facebook.com"
    )
    assert sibling_url("http://127.0.0.1:8080/graph.instagram.com", "graph.instagram.com", "api.instagram.com") == (
        "http://127.0.0.1:8080/api.instagram.com"
    )
    assert sibling_url("https://proxy.example/graph", "graph.facebook.com", "www.facebook.com") == (
        "https://www.facebook.com"
    )


def test_missing_app_credentials_are_named() -> None:
    client = OAuthClient(OAuthSettings.from_config({}), requests.Session())
    with pytest.raises(OAuthFlowError, match=r"client_id.*client_secret"):
        client.authorization_url("facebook", "s")


def test_pending_login_is_single_use_and_expires(store: OAuthStore) -> None:
    settings = OAuthSettings.from_config({"sandbox": True})
    now = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    state = begin_pending_login(store, settings, "instagram", now)
    redirect = parse_redirect(f"http://localhost:33333/callback?code=abc&state={state}#_")

    with pytest.raises(OAuthStateError):
        redeem_pending_login(store, parse_redirect("http://localhost:33333/callback?code=abc&state=forged"), now)
    pending = redeem_pending_login(store, redirect, now)
    assert pending.provider == "instagram"
    assert pending.redirect_uri == settings.redirect_uri
    with pytest.raises(OAuthStateError, match="already used"):
        redeem_pending_login(store, redirect, now)

    late = begin_pending_login(store, settings, "facebook", now)
    with pytest.raises(OAuthStateError):
        redeem_pending_login(store, parse_redirect(f"http://x/cb?code=c&state={late}"), now + dt.timedelta(hours=1))
    assert store.load().pending == {}


def test_callback_server_ignores_a_foreign_state() -> None:
    port = free_port()
    state = new_state()
    with CallbackServer(f"http://localhost:{port}/callback", state) as server:
        results: dict[str, int] = {}

        def browser() -> None:
            results["forged"] = requests.get(
                f"http://127.0.0.1:{port}/callback?code=evil&state=forged", timeout=5
            ).status_code
            results["other"] = requests.get(f"http://127.0.0.1:{port}/favicon.ico", timeout=5).status_code
            results["real"] = requests.get(
                f"http://127.0.0.1:{port}/callback?code=good&state={state}", timeout=5
            ).status_code

        thread = threading.Thread(target=browser)
        thread.start()
        url = server.wait(10)
        thread.join()
    assert results == {"forged": 400, "other": 404, "real": 200}
    assert parse_redirect(url).code == "good"


def test_callback_url_must_be_local() -> None:
    with pytest.raises(OAuthFlowError, match="url"):
        CallbackServer("https://example.com/callback", "s")


# -- browser login and the run-time manager ---------------------------------------------------------------------


def manager_for(emu: GraphEmulator, session: requests.Session, store: OAuthStore, **config: object) -> OAuthManager:
    return OAuthManager(
        {"sandbox": True, **config},
        session,
        clock=emu.now,
        store=store,
        interactive=config.pop("interactive", False),  # type: ignore[arg-type]
    )


def test_browser_login_stores_the_connection(emu: GraphEmulator, session: requests.Session, store: OAuthStore) -> None:
    callback = register_callback(emu)
    client = OAuthClient(OAuthSettings.from_config({"sandbox": True, "callback_url": callback}), session, clock=emu.now)
    browser = FakeBrowser(session)
    conn = browser_login(client, store, "facebook", open_browser=browser, timeout=20)
    assert browser.error is None
    assert len(browser.opened) == 1
    assert "state=" in browser.opened[0]
    assert store.load().connections[conn.key].access_token == conn.access_token
    assert store.load().connections[conn.key].status == "linked"


def test_manager_gives_connections_and_keeps_tokens_out_of_labels(
    emu: GraphEmulator, session: requests.Session, client: OAuthClient, store: OAuthStore
) -> None:
    fb = save_connection(store, login(client, session, "facebook"), emu.now())
    ig = save_connection(store, login(client, session, "instagram", who=ig_owner(emu)), emu.now())
    manager = manager_for(emu, session, store)
    connections = manager.connections()
    assert sorted(connections, key=lambda c: c.provider) == [
        Connection("facebook", fb.access_token, label=f"{fb.name} [{fb.key}]"),
        Connection("instagram", ig.access_token, label=f"{ig.name} [{ig.key}]"),
    ]
    assert all(c.access_token not in c.label and c.access_token not in repr(c) for c in connections)
    assert manager.problems == []
    assert usable_connection_count({"sandbox": True, "oauth_settings_location": "memory://flows"}, emu.now()) == 2


def test_manager_renews_ahead_of_expiry_and_persists_at_once(
    emu: GraphEmulator, session: requests.Session, client: OAuthClient, store: OAuthStore
) -> None:
    ig = save_connection(store, login(client, session, "instagram", who=ig_owner(emu)), emu.now())
    emu.advance(10 * DAY)
    manager = manager_for(emu, session, store)
    assert [c.access_token for c in manager.connections()] == [ig.access_token]  # not due yet: untouched

    emu.advance(40 * DAY)  # 10 days left: inside the 14-day margin
    [connection] = manager_for(emu, session, store).connections()
    stored = store.load().connections[ig.key]
    assert connection.access_token == stored.access_token != ig.access_token
    assert stored.refreshed_at is not None
    assert stored.expires_at is not None
    assert stored.expires_at - emu.now() > dt.timedelta(days=59)
    assert emu.tokens.lookup(stored.access_token) is not None


def test_manager_marks_a_refused_renewal_reconnect_needed(
    emu: GraphEmulator, session: requests.Session, client: OAuthClient, store: OAuthStore
) -> None:
    ig = save_connection(store, login(client, session, "instagram", who=ig_owner(emu)), emu.now())
    fb = save_connection(store, login(client, session, "facebook"), emu.now())
    emu.tokens.revoke(ig.access_token, 460)  # the creator changed their password
    emu.advance(50 * DAY)

    manager = manager_for(emu, session, store)
    connections = manager.connections()
    assert [c.provider for c in connections] == ["facebook"]  # skipped, the other creator still runs
    stored = store.load().connections[ig.key]
    assert stored.status == "reconnect_needed"
    assert "refused to renew" in (stored.last_error or "")
    [problem] = manager.problems
    assert ig.key in problem.subject
    assert "tap-creatorsocial-auth" in problem.reason
    assert ig.access_token not in problem.reason

    with pytest.raises(AuthSetupError, match="on_auth_error"):
        manager_for(emu, session, store, on_auth_error="fail").connections()
    assert fb.key in store.load().connections


def test_mark_reconnect_needed_persists(
    emu: GraphEmulator, session: requests.Session, client: OAuthClient, store: OAuthStore
) -> None:
    fb = save_connection(store, login(client, session, "facebook"), emu.now())
    manager = manager_for(emu, session, store)
    [connection] = manager.connections()
    manager.mark_reconnect_needed(connection.label, f"Error validating access token {fb.access_token}")
    stored = store.load().connections[fb.key]
    assert stored.status == "reconnect_needed"
    assert fb.access_token not in (stored.last_error or "")


def test_no_usable_connection_without_terminal_fails_with_the_command(
    emu: GraphEmulator, session: requests.Session, store: OAuthStore
) -> None:
    with pytest.raises(AuthSetupError) as exc_info:
        manager_for(emu, session, store).connections()
    message = str(exc_info.value)
    assert "tap-creatorsocial-auth --config CONFIG.json login --provider facebook" in message
    assert "exchange --redirect-url" in message
    assert "memory://flows" in message

    with pytest.raises(AuthSetupError, match="REFRESH"):
        manager_for(emu, session, store, initiate_oauth="REFRESH", interactive=True).connections()


def test_no_connection_with_terminal_logs_in(emu: GraphEmulator, session: requests.Session, store: OAuthStore) -> None:
    callback = register_callback(emu)
    browser = FakeBrowser(session, who=ig_owner(emu))
    manager = OAuthManager(
        {"sandbox": True, "callback_url": callback, "auth_provider": "instagram"},
        session,
        clock=emu.now,
        store=store,
        interactive=True,
        open_browser=browser,
    )
    [connection] = manager.connections()
    assert connection.provider == "instagram"
    assert browser.opened
    assert browser.error is None
    assert list(store.load().connections) == [f"instagram:{ig_owner(emu)}"]


def test_connections_of_other_hosts_are_not_used(
    emu: GraphEmulator, session: requests.Session, client: OAuthClient, store: OAuthStore
) -> None:
    conn = login(client, session, "facebook")
    conn.api_url = "http://127.0.0.1:9/graph.facebook.com"  # issued by a served sandbox, not this host

    def mutate(data: StoreData) -> None:
        data.connections[conn.key] = conn

    store.update(mutate)
    assert not manager_for(emu, session, store).has_connections()


# -- the tap's settings check and a run without a login ---------------------------------------------------------


def test_credentials_check_accepts_a_usable_store(
    emu: GraphEmulator, session: requests.Session, client: OAuthClient, store: OAuthStore, tmp_path: Path
) -> None:
    from tap_creatorsocial.settings import config_errors

    base = {"oauth_settings_location": "memory://flows"}
    [error] = config_errors(base)  # empty store, no app credentials
    assert "memory://flows" in error
    assert "tap-creatorsocial-auth login" in error
    assert "TAP_CREATORSOCIAL_ACCESS_TOKEN" in error
    assert config_errors({**base, "client_id": "1", "client_secret": "s"}) == []  # the run can log someone in
    assert config_errors({**base, "client_id": "1", "client_secret": "s", "initiate_oauth": "REFRESH"})
    [off] = config_errors({**base, "initiate_oauth": "OFF"})
    assert "access_token" in off
    assert "initiate_oauth" in off

    conn = login(client, session, "facebook")
    conn.api_url = "https://graph.facebook.com"
    save_connection(store, conn, emu.now())
    assert config_errors({**base, "initiate_oauth": "REFRESH"}) == []

    broken = tmp_path / "oauth.json"
    broken.write_text("{not json")
    [corrupt] = config_errors({"oauth_settings_location": str(broken)})
    assert str(broken) in corrupt
    assert "Fix:" in corrupt


def test_tap_without_a_login_and_without_a_terminal_names_the_command(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {"client_id": "1", "client_secret": "app-secret-xyz", "oauth_settings_location": str(tmp_path / "s")}
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "tap_creatorsocial", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode != 0
    assert "tap-creatorsocial-auth --config CONFIG.json login --provider facebook" in result.stderr
    assert "exchange --redirect-url" in result.stderr
    assert "Traceback" not in result.stderr
    assert "app-secret-xyz" not in result.stderr + result.stdout
    assert not (tmp_path / "s").exists()  # nothing was written for a run that could not log in

"""The creator connect page through Flask's test client, against the in-process sandbox (its real consent pages).

Each test plays the admin (signed in with the admin secret) and the creator (a second client, so a second cookie
jar) the way their browsers would; the sandbox consent form is submitted with the same helper the CLI tests use.
Every rendered page, redirect and log line is scanned for tokens, codes and secrets.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tap_creatorsocial.auth_cli import main
from tap_creatorsocial.connect import ConnectSettings, ConnectSetupError, create_app, create_app_from_environ
from tap_creatorsocial.connect.app import _RequestLineFilter
from tap_creatorsocial.connect.invites import InviteSigner
from tap_creatorsocial.oauth.store import FileStore, assess
from tap_creatorsocial.sandbox import GraphEmulator, create_emulator, mount
from tap_creatorsocial.sandbox.dataset import APP_SECRET
from tests.test_auth_cli import all_secrets, assert_no_secrets
from tests.test_oauth_flows import drive_consent

ADMIN_SECRET = "admin-secret-for-tests-5d0c9b7e"
PUBLIC_URL = "http://localhost:33333"  # /callback is a registered redirect URI of the sandbox app
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_FRESH = re.compile(r'id="fresh-link" type="text" readonly value="([^"]+)"')


@dataclass
class Env:
    emu: GraphEmulator
    meta: requests.Session  # the creator's browser on Meta's side (consent dialogs)
    app: Flask
    store: FileStore
    seen: list[str] = field(default_factory=list)  # every response: status, headers, body

    def secrets(self) -> list[str]:
        return [*all_secrets(self.emu, self.store), ADMIN_SECRET, APP_SECRET]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    emu = create_emulator(accounts=4, media=1, stories=0)
    meta = requests.Session()
    mount(meta, emu)
    store = FileStore(tmp_path / "oauth.json")
    settings = ConnectSettings(admin_secret=ADMIN_SECRET, public_url=PUBLIC_URL, organization="Acme Talent")
    app = create_app({"sandbox": True}, settings, store=store, http=meta, clock=emu.now)
    result = Env(emu, meta, app, store)

    @app.after_request
    def record(response: Any) -> Any:
        result.seen.append(f"{response.status}\n{response.headers}\n{response.get_data(as_text=True)}")
        return response

    return result


@pytest.fixture(autouse=True)
def _all_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)


def csrf_of(page: TestResponse) -> str:
    found = _CSRF.search(page.get_data(as_text=True))
    assert found, page.get_data(as_text=True)
    return html.unescape(found.group(1))


def signed_in_admin(env: Env) -> FlaskClient:
    admin = env.app.test_client()
    token = csrf_of(admin.get("/admin/login"))
    answer = admin.post("/admin/login", data={"secret": ADMIN_SECRET, "csrf_token": token})
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith("/admin")
    return admin


def admin_page(admin: FlaskClient) -> str:
    page = admin.get("/admin")
    assert page.status_code == 200
    return page.get_data(as_text=True)


def create_invite(admin: FlaskClient, label: str) -> str:
    answer = admin.post("/admin/invites", data={"label": label, "csrf_token": csrf_of(admin.get("/admin"))})
    assert answer.status_code == 303
    page = admin.get(answer.headers["Location"]).get_data(as_text=True)
    found = _FRESH.search(page)
    assert found, page
    return html.unescape(found.group(1))


def reconnect_link(admin: FlaskClient, key: str) -> str:
    answer = admin.post("/admin/connections/reconnect", data={"key": key, "csrf_token": csrf_of(admin.get("/admin"))})
    assert answer.status_code == 303
    found = _FRESH.search(admin.get(answer.headers["Location"]).get_data(as_text=True))
    assert found
    return html.unescape(found.group(1))


def local(url: str) -> str:
    """The path and query the test client requests for an absolute URL of the app."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == PUBLIC_URL, url
    return urlunsplit(("", "", parts.path, parts.query, ""))


def open_link(creator: FlaskClient, link: str) -> TestResponse:
    """Open an invite link like a browser: follow the redirect that takes the token out of the address bar."""
    first = creator.get(local(link))
    if first.status_code != 303:
        return first
    assert first.headers["Location"] == "/connect"
    return creator.get("/connect")


def start_consent(creator: FlaskClient, page: TestResponse, provider: str) -> str:
    """Press "Connect with …": returns the consent dialog URL the app redirects to."""
    assert f"Connect with {provider.title()}" in page.get_data(as_text=True)
    answer = creator.post("/connect/start", data={"provider": provider, "csrf_token": csrf_of(page)})
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return answer.headers["Location"]


def consent(env: Env, creator: FlaskClient, link: str, provider: str, who: str | None = None) -> str:
    """Open the link, press the button, consent on the sandbox page: returns the callback URL Meta redirects to."""
    page = open_link(creator, link)
    assert page.status_code == 200, page.get_data(as_text=True)
    return drive_consent(env.meta, start_consent(creator, page, provider), who=who)


def finish(creator: FlaskClient, callback_url: str) -> TestResponse:
    answer = creator.get(local(callback_url.split("#")[0]))
    if answer.status_code == 303:
        assert answer.headers["Location"] == "/connect/done"
        return creator.get("/connect/done")
    return answer


def connect(env: Env, admin: FlaskClient, label: str, provider: str, who: str | None = None) -> TestResponse:
    creator = env.app.test_client()
    return finish(creator, consent(env, creator, create_invite(admin, label), provider, who))


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    return urlunsplit(parts._replace(query=urlencode({**query, **changes})))


def invites_in_store(env: Env) -> dict[str, dict[str, Any]]:
    return env.store.load().invites


def ig_owner(env: Env, index: int = 0) -> str:
    return env.emu.dataset.instagram_users[index].account_id


# -- the journey -------------------------------------------------------------------------------------------------


def test_facebook_journey_invite_consent_linked(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    admin = signed_in_admin(env)
    link = create_invite(admin, "Sandbox Creator")
    assert link.startswith(f"{PUBLIC_URL}/connect?invite=")

    creator = env.app.test_client()
    page = open_link(creator, link)
    text = page.get_data(as_text=True)
    assert "read-only" in text
    assert "Post, comment, reply, like or send messages as you" in text
    assert "Connect with Facebook" in text
    assert "Connect with Instagram" in text

    dialog = start_consent(creator, page, "facebook")
    parts = urlsplit(dialog)
    query = parse_qs(parts.query)
    assert parts.netloc == "www.facebook.com"
    assert parts.path.endswith("/dialog/oauth")
    assert query["redirect_uri"] == [f"{PUBLIC_URL}/callback"]
    invite_id = next(iter(invites_in_store(env)))
    assert query["state"][0].startswith(invite_id + ".")  # the state names its invite …
    assert invites_in_store(env)[invite_id]["consent_state"] != query["state"][0]  # … and the store keeps a hash

    done = finish(creator, drive_consent(env.meta, dialog))
    body = done.get_data(as_text=True)
    assert done.status_code == 200, body
    user = env.emu.dataset.facebook_users[0]
    assert f"Connected: thank you, {user.name}" in html.unescape(body)
    linked = [p for p in user.pages if p.ig_account_id]
    assert "Business integrations" in body  # how to revoke

    [conn] = env.store.load().connections.values()
    for account in conn.accounts:  # the result page names every linked account
        assert f"<li>@{account.username}</li>" in body
    assert conn.key == f"facebook:{user.id}"
    assert assess(conn, env.emu.now()).status == "linked"
    assert {a.id for a in conn.accounts} == {p.ig_account_id for p in linked}
    assert env.emu.tokens.lookup(conn.access_token) is not None
    invite = invites_in_store(env)[invite_id]
    assert invite["used_at"]
    assert invite["result"] == conn.key
    assert invite["consent_state"] is None

    listing = admin_page(admin)
    assert f'data-connection="{conn.key}"' in listing
    assert "status-linked" in listing
    assert ">Linked<" in listing
    assert ">Used<" in listing

    assert_no_secrets("\n".join(env.seen) + caplog.text, env.secrets())


def test_instagram_journey(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    admin = signed_in_admin(env)
    done = connect(env, admin, "IG creator", "instagram", who=ig_owner(env))
    body = done.get_data(as_text=True)
    assert done.status_code == 200, body
    [conn] = env.store.load().connections.values()
    assert conn.key == f"instagram:{ig_owner(env)}"
    assert conn.name in body
    assert "Apps and websites" in body
    assert ">Linked<" in admin_page(admin)
    assert_no_secrets("\n".join(env.seen) + caplog.text, env.secrets())


def test_cancelled_consent_connects_nothing_and_keeps_the_link(env: Env) -> None:
    admin = signed_in_admin(env)
    link = create_invite(admin, "Shy creator")
    creator = env.app.test_client()
    page = open_link(creator, link)
    cancelled = drive_consent(env.meta, start_consent(creator, page, "facebook"), cancel=True)
    answer = finish(creator, cancelled)
    assert answer.status_code == 200
    assert "Nothing was connected" in answer.get_data(as_text=True)
    assert not env.store.load().connections
    assert finish(creator, consent(env, creator, link, "facebook")).status_code == 200  # the link still works
    assert len(env.store.load().connections) == 1


# -- refusals ----------------------------------------------------------------------------------------------------


def test_forged_invites_are_refused(env: Env) -> None:
    admin = signed_in_admin(env)
    link = create_invite(admin, "Real")
    token = parse_qs(urlsplit(link).query)["invite"][0]
    invite_id = next(iter(invites_in_store(env)))
    creator = env.app.test_client()
    forged = [
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),  # altered signature
        InviteSigner(b"another key", dt.timedelta(days=7)).sign(invite_id),  # signed with another secret
        InviteSigner(ConnectSettings(admin_secret=ADMIN_SECRET).derived_key("invites"), dt.timedelta(days=7)).sign(
            "made-up-id"
        ),  # well signed, but no such invite
        "garbage",
    ]
    for bad in forged:
        answer = creator.get("/connect?" + urlencode({"invite": bad}))
        assert answer.status_code == 404, bad
        assert "This link is not valid" in answer.get_data(as_text=True)
    assert creator.get("/connect").status_code == 400  # no invite in this browser
    answer = creator.post("/connect/start", data={"provider": "facebook"})
    assert answer.status_code == 400  # no CSRF token, no invite
    assert not env.store.load().connections


def test_expired_and_withdrawn_invites_are_refused(env: Env) -> None:
    admin = signed_in_admin(env)
    old = create_invite(admin, "Late")
    withdrawn = create_invite(admin, "Withdrawn")
    withdrawn_id = next(i for i, v in invites_in_store(env).items() if v["label"] == "Withdrawn")
    answer = admin.post(
        "/admin/invites/cancel", data={"invite": withdrawn_id, "csrf_token": csrf_of(admin.get("/admin"))}
    )
    assert answer.status_code == 303
    creator = env.app.test_client()
    refused = open_link(creator, withdrawn)
    assert refused.status_code == 410
    assert "withdrawn" in refused.get_data(as_text=True)

    creator = env.app.test_client()
    page = open_link(creator, old)
    assert page.status_code == 200
    env.emu.advance(8 * 24 * 3600)  # past the 7-day lifetime
    assert creator.post("/connect/start", data={"provider": "facebook", "csrf_token": csrf_of(page)}).status_code == 410
    refused = env.app.test_client().get(local(old))
    assert refused.status_code == 410
    assert "expired" in refused.get_data(as_text=True)


def test_a_used_invite_and_a_replayed_callback_are_refused(env: Env) -> None:
    admin = signed_in_admin(env)
    link = create_invite(admin, "Once")
    creator = env.app.test_client()
    callback = consent(env, creator, link, "instagram", who=ig_owner(env))
    cookie = creator.get_cookie("creatorsocial_connect")
    assert cookie is not None
    assert finish(creator, callback).status_code == 200
    [conn] = env.store.load().connections.values()
    token = conn.access_token

    again = env.app.test_client().get(local(link))
    assert again.status_code == 410
    assert "already been used" in again.get_data(as_text=True)
    assert creator.get(local(callback)).status_code == 400  # the state was consumed with the login

    # Even a replayed session cookie (Flask sessions live in the browser) cannot reuse the consumed state.
    replay = env.app.test_client()
    replay.set_cookie("creatorsocial_connect", cookie.value, domain=cookie.domain)
    answer = replay.get(local(callback))
    assert answer.status_code == 410
    assert "already been used" in answer.get_data(as_text=True)
    [after] = env.store.load().connections.values()
    assert after.access_token == token


def test_a_wrong_state_is_refused_before_the_code_is_redeemed(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    admin = signed_in_admin(env)
    link = create_invite(admin, "Target")
    creator = env.app.test_client()
    callback = consent(env, creator, link, "facebook")
    state = parse_qs(urlsplit(callback).query)["state"][0]
    invite_id = state.split(".")[0]

    for wrong in (state[:-3] + "xyz", f"{invite_id}.forged", ""):
        answer = creator.get(local(with_query(callback, state=wrong)))
        assert answer.status_code == 400, wrong
        assert "refused" in answer.get_data(as_text=True)
    no_state = creator.get(local(with_query(callback.split("&state=")[0])))
    assert no_state.status_code == 400
    assert not env.store.load().connections
    assert "state` does not match" in caplog.text

    # The genuine redirect still completes: the refusals redeemed nothing.
    assert finish(creator, callback).status_code == 200
    assert len(env.store.load().connections) == 1


def test_a_state_from_another_browser_or_invite_is_refused(env: Env) -> None:
    admin = signed_in_admin(env)
    alice, mallory = env.app.test_client(), env.app.test_client()
    alice_cb = consent(env, alice, create_invite(admin, "Alice"), "instagram", who=ig_owner(env, 0))
    mallory_cb = consent(env, mallory, create_invite(admin, "Mallory"), "instagram", who=ig_owner(env, 1))
    assert alice.get(local(mallory_cb)).status_code == 400  # Mallory's login pushed into Alice's browser
    assert env.app.test_client().get(local(alice_cb)).status_code == 400  # a browser that started nothing
    assert not env.store.load().connections
    assert finish(alice, alice_cb).status_code == 200
    assert finish(mallory, mallory_cb).status_code == 200
    assert {c.user_id for c in env.store.load().connections.values()} == {ig_owner(env, 0), ig_owner(env, 1)}


def test_admin_pages_need_the_secret(env: Env) -> None:
    anon = env.app.test_client()
    answer = anon.get("/admin")
    assert answer.status_code == 303
    assert answer.headers["Location"].endswith("/admin/login")
    token = csrf_of(anon.get("/admin/login"))
    for path, data in [
        ("/admin/invites", {"label": "x"}),
        ("/admin/connections/reconnect", {"key": "facebook:1"}),
        ("/admin/connections/check", {}),
        ("/admin/connections/revoke", {"key": "facebook:1"}),
        ("/admin/invites/cancel", {"invite": "x"}),
    ]:
        assert anon.post(path, data={**data, "csrf_token": token}).status_code == 403, path
    wrong = anon.post("/admin/login", data={"secret": ADMIN_SECRET[:-1], "csrf_token": token})
    assert wrong.status_code == 401
    assert anon.get("/admin").status_code == 303
    for _ in range(5):
        anon.post("/admin/login", data={"secret": "nope", "csrf_token": token})
    blocked = anon.post("/admin/login", data={"secret": ADMIN_SECRET, "csrf_token": token})
    assert blocked.status_code == 429  # guessing is throttled, even with the right secret
    assert not invites_in_store(env)


def test_admin_forms_need_a_csrf_token(env: Env) -> None:
    admin = signed_in_admin(env)
    assert admin.post("/admin/invites", data={"label": "No token"}).status_code == 400
    other = signed_in_admin(env)
    foreign = csrf_of(other.get("/admin"))
    answer = admin.post("/admin/invites", data={"label": "Foreign token", "csrf_token": foreign})
    assert answer.status_code == 400
    assert "Form expired" in answer.get_data(as_text=True)
    assert not invites_in_store(env)
    login = env.app.test_client().post("/admin/login", data={"secret": ADMIN_SECRET})
    assert login.status_code == 400  # the sign-in form too (no login CSRF)


def test_logout_ends_the_admin_session(env: Env) -> None:
    admin = signed_in_admin(env)
    assert admin.post("/admin/logout", data={"csrf_token": csrf_of(admin.get("/admin"))}).status_code == 303
    assert admin.get("/admin").status_code == 303


# -- health, reconnect, revoke -------------------------------------------------------------------------------------


def test_revoked_at_meta_shows_reconnect_needed_then_a_reconnect_link_restores_it(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    admin = signed_in_admin(env)
    assert connect(env, admin, "Creator", "instagram", who=ig_owner(env, 0)).status_code == 200
    [conn] = env.store.load().connections.values()

    env.emu.tokens.revoke(conn.access_token)  # the creator removed the app on Instagram
    assert ">Linked<" in admin_page(admin)  # nothing has told us yet
    answer = admin.post("/admin/connections/check", data={"csrf_token": csrf_of(admin.get("/admin"))})
    assert answer.status_code == 303
    listing = html.unescape(admin.get(answer.headers["Location"]).get_data(as_text=True))
    assert "Reconnect needed" in listing
    assert "1 need reconnecting" in listing
    assert "Meta rejected the token" in listing
    assert env.store.load().connections[conn.key].status == "reconnect_needed"

    link = reconnect_link(admin, conn.key)
    creator = env.app.test_client()
    page = open_link(creator, link)
    text = page.get_data(as_text=True)
    assert "Reconnect your Instagram account" in text
    assert "Connect with Instagram" in text
    assert "Connect with Facebook" not in text

    # Someone else logging in with the reconnect link changes nothing.
    wrong = finish(creator, drive_consent(env.meta, start_consent(creator, page, "instagram"), who=ig_owner(env, 1)))
    assert wrong.status_code == 409
    assert "Different account" in wrong.get_data(as_text=True)
    assert set(env.store.load().connections) == {conn.key}

    right = finish(creator, consent(env, creator, link, "instagram", who=ig_owner(env, 0)))
    assert right.status_code == 200
    assert "Reconnected" in right.get_data(as_text=True)
    renewed = env.store.load().connections[conn.key]
    assert renewed.status == "linked"
    assert renewed.access_token != conn.access_token
    assert renewed.created_at == conn.created_at
    assert ">Linked<" in admin_page(admin)
    assert_no_secrets("\n".join(env.seen) + caplog.text, env.secrets())


def test_facebook_deauthorization_is_found_by_debug_token(env: Env) -> None:
    admin = signed_in_admin(env)
    assert connect(env, admin, "FB", "facebook").status_code == 200
    [conn] = env.store.load().connections.values()
    env.emu.tokens.deauthorize_user(conn.user_id)  # the creator removed the app in Facebook's settings
    admin.post("/admin/connections/check", data={"key": conn.key, "csrf_token": csrf_of(admin.get("/admin"))})
    stored = env.store.load().connections[conn.key]
    assert stored.status == "reconnect_needed"
    assert "Meta reports the token invalid" in (stored.last_error or "")
    assert "Reconnect needed" in admin_page(admin)


def test_admin_revoke_deauthorizes_at_facebook_and_forgets(env: Env) -> None:
    admin = signed_in_admin(env)
    assert connect(env, admin, "FB", "facebook").status_code == 200
    [conn] = env.store.load().connections.values()
    answer = admin.post("/admin/connections/revoke", data={"key": conn.key, "csrf_token": csrf_of(admin.get("/admin"))})
    assert answer.status_code == 303
    assert not env.store.load().connections
    assert "app permissions revoked at Facebook" in html.unescape(admin_page(admin))
    assert env.emu.tokens.debug(conn.access_token, env.emu.now())["is_valid"] is False


# -- plumbing ----------------------------------------------------------------------------------------------------


def test_security_headers(env: Env) -> None:
    page = env.app.test_client().get("/admin/login")
    headers = page.headers
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Frame-Options"] == "DENY"
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "form-action 'self' https://www.facebook.com https://www.instagram.com" in csp
    cookie = page.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_https_settings_and_proxy(tmp_path: Path) -> None:
    settings = ConnectSettings(admin_secret=ADMIN_SECRET, public_url="https://connect.example.com", proxy_hops=1)
    app = create_app(
        {"sandbox": True, "oauth_settings_location": f"memory://{tmp_path}"}, settings, http=requests.Session()
    )
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["PREFERRED_URL_SCHEME"] == "https"
    client = app.test_client()
    page = client.get("/admin/login", headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "connect.example.com"})
    assert "Secure" in page.headers["Set-Cookie"]
    # Behind the proxy, Flask-WTF's HTTPS referrer check sees the proxied host and scheme.
    answer = client.post(
        "/admin/login",
        data={"secret": ADMIN_SECRET, "csrf_token": csrf_of(page)},
        headers={
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "connect.example.com",
            "Referer": "https://connect.example.com/admin/login",
        },
    )
    assert answer.status_code == 303
    assert settings.redirect_uri == "https://connect.example.com/callback"


def test_settings_validation_and_environment() -> None:
    with pytest.raises(ConnectSetupError, match="TAP_CREATORSOCIAL_CONNECT_ADMIN_SECRET"):
        ConnectSettings.from_config({}, {})
    with pytest.raises(ConnectSetupError, match="not an http"):
        ConnectSettings(admin_secret=ADMIN_SECRET, public_url="ftp://x")
    env = {
        "TAP_CREATORSOCIAL_CONNECT_ADMIN_SECRET": ADMIN_SECRET,
        "TAP_CREATORSOCIAL_CONNECT_PUBLIC_URL": "https://c.example.com/",
        "TAP_CREATORSOCIAL_CONNECT_INVITE_DAYS": "2.5",
    }
    settings = ConnectSettings.from_config({"connect_organization": "Acme"}, env, overrides={"connect_invite_days": 3})
    assert settings.public_url == "https://c.example.com"
    assert settings.organization == "Acme"
    assert settings.invite_lifetime == dt.timedelta(days=3)
    assert ADMIN_SECRET not in repr(settings)
    assert settings.derived_key("invites") != settings.derived_key("session")


def test_serve_refuses_without_an_admin_secret_and_names_the_fix(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "sandbox": True,
                "graph_api_url": "http://127.0.0.1:9/graph.facebook.com",
                "instagram_api_url": "http://127.0.0.1:9/graph.instagram.com",
                "oauth_settings_location": str(tmp_path / "oauth.json"),
            }
        )
    )
    err = io.StringIO()
    code = main(
        ["--config", str(config), "serve"], environ={"TAP_CREATORSOCIAL_CONNECT_ADMIN_SECRET": "tiny-s3cr3t"}, err=err
    )
    assert code == 1
    assert "TAP_CREATORSOCIAL_CONNECT_ADMIN_SECRET" in err.getvalue()
    assert "tiny-s3cr3t" not in err.getvalue()


def test_request_lines_are_logged_without_codes_or_invite_tokens() -> None:
    record = logging.LogRecord(
        "werkzeug",
        logging.INFO,
        __file__,
        1,
        '%s - - "%s" %s',
        ("127.0.0.1", "GET /callback?code=AQDx&state=s.t HTTP/1.1", 303),
        None,
    )
    assert _RequestLineFilter().filter(record)
    message = record.getMessage()
    assert "AQDx" not in message
    assert "s.t" not in message
    assert "GET /callback?… HTTP/1.1" in message


def test_wsgi_entry_point_reads_the_environment(tmp_path: Path) -> None:
    """What gunicorn/waitress load: config file + TAP_CREATORSOCIAL_* variables, no CLI flags."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"sandbox": True, "oauth_settings_location": str(tmp_path / "oauth.json")}))
    app = create_app_from_environ(
        {
            "TAP_CREATORSOCIAL_CONFIG_FILE": str(config),
            "TAP_CREATORSOCIAL_CONNECT_ADMIN_SECRET": ADMIN_SECRET,
            "TAP_CREATORSOCIAL_CONNECT_PUBLIC_URL": "https://connect.example.com",
            "TAP_CREATORSOCIAL_CONNECT_PROXY_HOPS": "1",
        }
    )
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.extensions["creatorsocial_connect"]["store"].location == str(tmp_path / "oauth.json")
    assert app.test_client().get("/healthz").get_data(as_text=True) == "ok"


def test_invites_survive_writes_by_the_tap_and_cli(env: Env) -> None:
    """The store keeps the `invites` section verbatim, so a tap run renewing a token never drops open invites."""
    admin = signed_in_admin(env)
    create_invite(admin, "Pending")
    before = env.store.load().invites

    def tap_side_write(data: Any) -> None:  # what a renewal or `revoke` does: touch connections only
        data.connections.pop("facebook:nobody", None)

    env.store.update(tap_side_write)
    assert env.store.load().invites == before
    assert json.loads(Path(env.store.location).read_text())["invites"] == before


def test_an_unreadable_store_is_a_503_without_details(env: Env) -> None:
    admin = signed_in_admin(env)
    Path(env.store.location).write_text("{not json")
    answer = admin.get("/admin")
    assert answer.status_code == 503
    assert "oauth.json" not in answer.get_data(as_text=True)

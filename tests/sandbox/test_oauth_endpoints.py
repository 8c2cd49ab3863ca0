"""OAuth dialogs and token endpoints of both login paths (reference §2)."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from .conftest import FB, IG, Sandbox

FB_DIALOG = "https://www.facebook.com/v25.0/dialog/oauth"
IG_DIALOG = "https://www.instagram.com/oauth/authorize"
IG_CODE = "https://api.instagram.com/oauth/access_token"
FB_SCOPES = "instagram_basic,instagram_manage_insights,pages_show_list,pages_read_engagement"
IG_SCOPES = "instagram_business_basic,instagram_business_manage_insights"


def _dialog_params(sb: Sandbox, scope: str, **extra: str) -> dict[str, str]:
    app = sb.dataset.app
    return {
        "client_id": app.id,
        "redirect_uri": app.redirect_uris[0],
        "state": "st-42",
        "scope": scope,
        "response_type": "code",
        **extra,
    }


def consent(sb: Sandbox, dialog: str, scope: str, decision: str = "allow", **extra: str) -> str:
    """GET the consent page, then submit it as the page's form would; returns the redirect Location."""
    params = _dialog_params(sb, scope, **extra)
    page = sb.http.get(dialog, params=params)
    assert page.status_code == 200
    assert "text/html" in page.headers["Content-Type"]
    buttons = re.findall(r"name='decision' value='([^']+)'", page.text)
    assert "cancel" in buttons
    choice = next(b for b in buttons if b.startswith("allow")) if decision == "allow" else decision
    resp = sb.http.post(page.url, data={**params, "decision": choice}, allow_redirects=False)
    assert resp.status_code == 302
    return resp.headers["Location"]


def fb_code(sb: Sandbox) -> str:
    loc = consent(sb, FB_DIALOG, FB_SCOPES)
    return parse_qs(urlsplit(loc).query)["code"][0]


def exchange_fb(sb: Sandbox, code: str, **over: str) -> requests.Response:
    app = sb.dataset.app
    params = {"client_id": app.id, "client_secret": app.secret, "redirect_uri": app.redirect_uris[0], "code": code}
    params.update(over)
    return sb.http.get(f"{FB}/oauth/access_token", params=params)


# ---------------------------------------------------------------------------------------------------- Facebook


def test_fb_dialog_lists_scopes_and_redirects_with_code_and_state(sb: Sandbox) -> None:
    page = sb.http.get(FB_DIALOG, params=_dialog_params(sb, FB_SCOPES))
    assert "SANDBOX" in page.text
    assert "Continue as Sandbox Creator Manager" in page.text
    for scope in FB_SCOPES.split(","):
        assert scope in page.text
    loc = consent(sb, FB_DIALOG, FB_SCOPES)
    parts = urlsplit(loc)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == sb.dataset.app.redirect_uris[0]
    q = parse_qs(parts.query)
    assert q["state"] == ["st-42"]
    assert q["code"][0]
    assert not parts.fragment


def test_fb_dialog_cancel(sb: Sandbox) -> None:
    loc = consent(sb, FB_DIALOG, FB_SCOPES, decision="cancel")
    q = parse_qs(urlsplit(loc).query)
    assert q == {
        "error_reason": ["user_denied"],
        "error": ["access_denied"],
        "error_description": ["Permissions error"],
        "state": ["st-42"],
    }


@pytest.mark.parametrize(
    ("override", "title"),
    [
        ({"redirect_uri": "https://evil.example/cb"}, "URL Blocked"),
        ({"client_id": "999"}, "Invalid App ID"),
        ({"scope": "instagram_basic,not_a_scope"}, "Invalid Scopes"),
    ],
)
def test_fb_dialog_rejects_bad_requests(sb: Sandbox, override: dict[str, str], title: str) -> None:
    r = sb.http.get(FB_DIALOG, params={**_dialog_params(sb, FB_SCOPES), **override})
    assert r.status_code == 400
    assert title in r.text


def test_fb_code_exchange_single_use(sb: Sandbox) -> None:
    code = fb_code(sb)
    r = exchange_fb(sb, code)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert 3600 <= body["expires_in"] <= 7200
    me = sb.http.get(f"{FB}/me", params={"access_token": body["access_token"]})
    assert me.json()["id"] == sb.dataset.facebook_users[0].id
    again = exchange_fb(sb, code).json()["error"]
    assert (again["code"], again["error_subcode"]) == (100, 36009)


def test_fb_code_exchange_errors(sb: Sandbox) -> None:
    code = fb_code(sb)
    e = exchange_fb(sb, code, redirect_uri=sb.dataset.app.redirect_uris[1]).json()["error"]
    assert e["code"] == 100
    assert "redirect_uri is identical" in e["message"]
    e = exchange_fb(sb, "SBXCFBnotacode").json()["error"]
    assert e["code"] == 100
    e = exchange_fb(sb, fb_code(sb), client_secret="wrong").json()["error"]
    assert e["message"] == "Error validating client secret."
    code = fb_code(sb)
    sb.clock.advance(hours=2)
    e = exchange_fb(sb, code).json()["error"]
    assert e["error_subcode"] == 36007


def test_fb_exchange_token_long_lived(sb: Sandbox) -> None:
    short = exchange_fb(sb, fb_code(sb)).json()["access_token"]
    app = sb.dataset.app
    r = sb.http.get(
        f"{FB}/oauth/access_token",
        params={
            "grant_type": "fb_exchange_token",
            "client_id": app.id,
            "client_secret": app.secret,
            "fb_exchange_token": short,
        },
    )
    assert r.status_code == 200
    body = r.json()
    assert body["expires_in"] == 5183944
    assert body["token_type"] == "bearer"
    assert body["access_token"] != short
    sb.clock.advance(hours=3)  # the short-lived one is dead, the long-lived one is not
    assert sb.http.get(f"{FB}/me", params={"access_token": short}).json()["error"]["error_subcode"] == 463
    assert sb.http.get(f"{FB}/me", params={"access_token": body["access_token"]}).status_code == 200


def _debug(sb: Sandbox, token: str, inspector: str | None = None) -> requests.Response:
    app = sb.dataset.app
    return sb.http.get(
        f"{FB}/debug_token", params={"input_token": token, "access_token": inspector or f"{app.id}|{app.secret}"}
    )


def test_debug_token_shapes(sb: Sandbox) -> None:
    data = _debug(sb, sb.fb_token).json()["data"]
    assert data["is_valid"] is True
    assert data["type"] == "USER"
    assert data["app_id"] == sb.dataset.app.id
    assert data["user_id"] == sb.dataset.facebook_users[0].id
    assert data["expires_at"] > data["issued_at"] > 0
    assert data["data_access_expires_at"] > 0
    assert "instagram_basic" in data["scopes"]
    assert any("target_ids" in g for g in data["granular_scopes"])
    page = sb.get(f"{FB}/me/accounts").json()["data"][0]
    pdata = _debug(sb, page["access_token"]).json()["data"]
    assert pdata["type"] == "PAGE"
    assert pdata["expires_at"] == 0
    assert pdata["profile_id"] == page["id"]
    sb.emu.tokens.revoke(sb.fb_token, 460)
    bad = _debug(sb, sb.fb_token).json()["data"]
    assert bad["is_valid"] is False
    assert bad["error"]["code"] == 190
    assert bad["error"]["subcode"] == 460
    garbage = _debug(sb, "nope").json()["data"]
    assert garbage["is_valid"] is False
    # the inspecting token must be the app token or a developer's token
    e = _debug(sb, sb.fb_token, inspector="sandbox-app-id|wrong").json()["error"]
    assert e["code"] == 190
    assert sb.http.get(f"{FB}/debug_token", params={"input_token": sb.fb_token}).json()["error"]["code"] == 104


def test_permissions_get_and_delete_kills_user_and_page_tokens(sb: Sandbox) -> None:
    perms = sb.get(f"{FB}/me/permissions").json()["data"]
    assert {"permission": "instagram_basic", "status": "granted"} in perms
    page_token = sb.get(f"{FB}/me/accounts").json()["data"][0]["access_token"]
    r = sb.http.delete(f"{FB}/me/permissions", params={"access_token": sb.fb_token})
    assert r.status_code == 200
    assert r.json() == {"success": True}
    for token in (sb.fb_token, page_token):
        e = sb.http.get(f"{FB}/me", params={"access_token": token}).json()["error"]
        assert (e["code"], e["error_subcode"]) == (190, 458)


def test_delete_single_permission(sb: Sandbox) -> None:
    r = sb.http.delete(f"{FB}/me/permissions/instagram_manage_insights", params={"access_token": sb.fb_token})
    assert r.json() == {"success": True}
    perms = sb.get(f"{FB}/me/permissions").json()["data"]
    assert {"permission": "instagram_manage_insights", "status": "declined"} in perms


# ---------------------------------------------------------------------------------------------------- Instagram


def ig_code(sb: Sandbox) -> str:
    loc = consent(sb, IG_DIALOG, IG_SCOPES)
    assert loc.endswith("#_")
    return parse_qs(urlsplit(loc).query)["code"][0]


def exchange_ig(sb: Sandbox, code: str, **over: str) -> requests.Response:
    app = sb.dataset.app
    form = {
        "client_id": app.id,
        "client_secret": app.secret,
        "grant_type": "authorization_code",
        "redirect_uri": app.redirect_uris[0],
        "code": code,
        **over,
    }
    return sb.http.post(IG_CODE, data=form)


def test_ig_dialog_redirect_has_trailing_fragment(sb: Sandbox) -> None:
    loc = consent(sb, IG_DIALOG, IG_SCOPES)
    parts = urlsplit(loc)
    assert parts.fragment == "_"
    assert parse_qs(parts.query)["state"] == ["st-42"]
    cancel = parse_qs(urlsplit(consent(sb, IG_DIALOG, IG_SCOPES, decision="cancel")).query)
    assert cancel["error"] == ["access_denied"]
    assert cancel["error_reason"] == ["user_denied"]
    r = sb.http.get(IG_DIALOG, params=_dialog_params(sb, "business_basic"))  # pre-2025 scope name
    assert r.status_code == 400
    assert "Invalid Scopes" in r.text


def test_ig_code_exchange_wrapped_shape_and_single_use(sb: Sandbox) -> None:
    code = ig_code(sb)
    r = exchange_ig(sb, code)
    assert r.status_code == 200, r.text
    (item,) = r.json()["data"]
    assert set(item) == {"access_token", "user_id", "permissions"}
    assert item["permissions"] == IG_SCOPES
    owner = sb.ig_owner(0)
    assert item["user_id"] == sb.dataset.accounts[owner].ig_scoped_user_id
    me = sb.http.get(f"{IG}/me", params={"access_token": item["access_token"], "fields": "user_id"}).json()
    assert me["user_id"] == owner
    again = exchange_ig(sb, code)
    assert again.status_code == 400
    assert again.json() == {
        "error_type": "OAuthException",
        "code": 400,
        "error_message": "Matching code was not found or was already used",
    }
    assert exchange_ig(sb, ig_code(sb), redirect_uri=sb.dataset.app.redirect_uris[1]).status_code == 400


def test_ig_code_exchange_flat_shape(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox("ig-flat-token")
    body = exchange_ig(sb, ig_code(sb)).json()
    assert set(body) == {"access_token", "user_id", "permissions"}
    assert isinstance(body["user_id"], int)
    assert body["permissions"] == IG_SCOPES.split(",")


def test_ig_exchange_and_refresh(sb: Sandbox) -> None:
    short = exchange_ig(sb, ig_code(sb)).json()["data"][0]["access_token"]
    app = sb.dataset.app
    r = sb.http.get(
        "https://graph.instagram.com/access_token",
        params={"grant_type": "ig_exchange_token", "client_secret": app.secret, "access_token": short},
    )
    assert r.status_code == 200, r.text
    long_lived = r.json()
    assert long_lived["expires_in"] == 5183944
    assert long_lived["token_type"] == "bearer"
    bad = sb.http.get(
        "https://graph.instagram.com/access_token",
        params={"grant_type": "ig_exchange_token", "client_secret": "x", "access_token": short},
    )
    assert bad.status_code == 400

    def refresh(token: str) -> requests.Response:
        return sb.http.get(
            f"{IG}/refresh_access_token", params={"grant_type": "ig_refresh_token", "access_token": token}
        )

    too_young = refresh(long_lived["access_token"])
    assert too_young.status_code == 400
    assert "24 hours" in too_young.json()["error"]["message"]
    sb.clock.advance(hours=25)
    ok = refresh(long_lived["access_token"])
    assert ok.status_code == 200
    assert ok.json()["expires_in"] == 5183944
    assert ok.json()["access_token"] != long_lived["access_token"]
    sb.clock.advance(days=61)
    expired = refresh(ok.json()["access_token"])
    assert expired.json()["error"]["error_subcode"] == 463


def test_demo_ig_token_is_refreshable(sb: Sandbox) -> None:
    r = sb.http.get(
        f"{IG}/refresh_access_token", params={"grant_type": "ig_refresh_token", "access_token": sb.ig_token()}
    )
    assert r.status_code == 200


def test_new_login_renews_data_access(sb: Sandbox) -> None:
    sb.emu.tokens.expire_data_access(sb.fb_token, sb.clock())
    assert sb.get(f"{FB}/me").json()["error"]["error_subcode"] == 493
    assert exchange_fb(sb, fb_code(sb)).status_code == 200
    assert sb.get(f"{FB}/me").status_code == 200
    stats = sb.emu.stats()["by_endpoint"]
    assert stats["GET /oauth/access_token"] == 1

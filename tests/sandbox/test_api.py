"""GraphEmulator behaviour through the requests transport: routing, auth, fields, paging, ids=, batch, faults."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tap_creatorsocial.sandbox import DatasetSpec, Scenario, generate
from tap_creatorsocial.sandbox.api import GraphEmulator
from tap_creatorsocial.sandbox.fields import parse_fields, to_text
from tap_creatorsocial.sandbox.rules import DEFAULT_VERSION

from .conftest import FB, IG, NOW, Sandbox


def err(resp: requests.Response) -> dict:
    body = resp.json()
    assert "error" in body, body
    return body["error"]


def walk(sb: Sandbox, url: str, **params: str) -> tuple[list[dict], list[dict]]:
    """Follow paging.next; returns (all items, all page bodies)."""
    pages = []
    items: list[dict] = []
    resp = sb.get(url, **params)
    while True:
        assert resp.status_code == 200, resp.text
        body = resp.json()
        pages.append(body)
        items += body["data"]
        nxt = body.get("paging", {}).get("next")
        if not nxt:
            return items, pages
        resp = sb.http.get(nxt)


# ---------------------------------------------------------------------------------------------------- fields parser


def test_fields_parser_nesting_and_modifiers() -> None:
    specs = parse_fields(
        "id,caption,children{id,media_type,media_url},insights.metric(reach,saved).period(lifetime),"
        "comments.limit(5){id,text,replies{id}},username.as(handle)"
    )
    assert specs is not None
    names = [s.name for s in specs]
    assert names == ["id", "caption", "children", "insights", "comments", "username"]
    assert [c.name for c in specs[2].children or []] == ["id", "media_type", "media_url"]
    assert specs[3].modifier_list("metric") == ["reach", "saved"]
    assert specs[3].modifiers["period"] == "lifetime"
    assert specs[4].modifiers["limit"] == "5"
    assert specs[4].children is not None
    assert specs[4].children[2].children is not None
    assert specs[5].key == "handle"
    assert parse_fields(to_text(specs)) == specs


@pytest.mark.parametrize("bad", ["id,{", "id,,name", "children{id", "id}", "insights.metric(reach", "a.b"])
def test_fields_parser_syntax_errors(bad: str) -> None:
    from tap_creatorsocial.sandbox.errors import GraphError

    with pytest.raises(GraphError) as info:
        parse_fields(bad)
    assert info.value.code == 100


# ---------------------------------------------------------------------------------------------------- versions


def test_version_header_and_unversioned_default(sb: Sandbox) -> None:
    r = sb.get(f"{FB}/me")
    assert r.status_code == 200
    assert r.headers["facebook-api-version"] == "v25.0"
    r = sb.get("https://graph.facebook.com/v23.0/me")
    assert r.headers["facebook-api-version"] == "v23.0"
    r = sb.get("https://graph.facebook.com/me")
    assert r.status_code == 200
    assert r.headers["facebook-api-version"] == f"v{DEFAULT_VERSION}.0"


def test_unknown_version_is_unknown_path(sb: Sandbox) -> None:
    r = sb.get("https://graph.facebook.com/v99.0/me")
    assert r.status_code == 400
    e = err(r)
    assert e["code"] == 2500
    assert e["message"] == "Unknown path components: /me"


def test_retired_version_served_by_oldest_available(sb: Sandbox) -> None:
    r = sb.get("https://graph.facebook.com/v17.0/me")
    assert r.status_code == 200
    assert int(r.headers["facebook-api-version"][1:3]) > 17


# ---------------------------------------------------------------------------------------------------- tokens


def test_missing_token_errors(sb: Sandbox) -> None:
    acct = sb.fb_accounts()[0].id
    r = sb.http.get(f"{FB}/{acct}")
    assert r.status_code == 400
    assert err(r)["code"] == 104
    assert err(r)["message"] == "An access token is required to request this resource."
    assert "WWW-Authenticate" in r.headers
    r = sb.http.get(f"{FB}/me")
    assert err(r)["code"] == 2500


def test_bearer_and_oauth_header_tokens(sb: Sandbox) -> None:
    for scheme in ("Bearer", "OAuth"):
        r = sb.http.get(f"{FB}/me", headers={"Authorization": f"{scheme} {sb.fb_token}"})
        assert r.status_code == 200, r.text
        assert r.json()["id"] == sb.dataset.facebook_users[0].id


def test_expired_token_463(sb: Sandbox) -> None:
    sb.emu.tokens.expire(sb.fb_token, sb.clock())
    r = sb.get(f"{FB}/me")
    assert r.status_code == 400
    e = err(r)
    assert (e["code"], e["error_subcode"]) == (190, 463)
    assert e["message"].startswith("Error validating access token: Session has expired on ")
    assert "The current time is" in e["message"]
    assert "invalid_token" in r.headers["WWW-Authenticate"]


def test_long_lived_token_expires_with_clock(sb: Sandbox) -> None:
    sb.clock.advance(days=61)
    e = err(sb.get(f"{FB}/me"))
    assert (e["code"], e.get("error_subcode")) == (190, 463)


def test_revoked_and_data_access_tokens(sb: Sandbox) -> None:
    token = sb.ig_token(0)
    sb.emu.tokens.revoke(token, 460)
    e = err(sb.http.get(f"{IG}/me", params={"access_token": token}))
    assert (e["code"], e["error_subcode"]) == (190, 460)
    sb.emu.tokens.expire_data_access(sb.fb_token, sb.clock())
    e = err(sb.get(f"{FB}/me"))
    assert (e["code"], e["error_subcode"]) == (190, 493)


def test_token_on_wrong_host_cannot_be_parsed(sb: Sandbox) -> None:
    e = err(sb.http.get(f"{FB}/me", params={"access_token": sb.ig_token()}))
    assert e["code"] == 190
    assert "error_subcode" not in e
    assert "Cannot parse access token" in e["message"]
    e = err(sb.http.get(f"{IG}/me", params={"access_token": sb.fb_token}))
    assert e["code"] == 190
    assert "Cannot parse" in e["message"]
    e = err(sb.http.get(f"{FB}/me", params={"access_token": "garbage"}))
    assert e["code"] == 190


def test_tokens_look_nothing_like_meta_tokens(sb: Sandbox) -> None:
    for conn in sb.emu.connections():
        assert conn["access_token"].startswith("SBX")
        assert not conn["access_token"].startswith(("EAA", "IGQ", "IGAA"))


# ---------------------------------------------------------------------------------------------------- appsecret_proof


def _proof(secret: str, token: str, t: int | None = None) -> dict[str, str]:
    if t is None:
        return {"appsecret_proof": hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()}
    msg = f"{token}|{t}".encode()
    return {"appsecret_proof": hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest(), "appsecret_time": str(t)}


def test_appsecret_proof_optional_but_checked_when_sent(sb: Sandbox) -> None:
    secret, token = sb.dataset.app.secret, sb.fb_token
    now = int(sb.clock().timestamp())
    assert sb.get(f"{FB}/me").status_code == 200
    assert sb.get(f"{FB}/me", **_proof(secret, token)).status_code == 200
    assert sb.get(f"{FB}/me", **_proof(secret, token, now - 60)).status_code == 200
    stale = err(sb.get(f"{FB}/me", **_proof(secret, token, now - 301)))
    assert stale["message"] == "Invalid appsecret_proof provided in the API argument"
    wrong = err(sb.get(f"{FB}/me", **_proof("not-the-secret", token)))
    assert (wrong["code"], wrong["type"]) == (100, "GraphMethodException")


def test_appsecret_proof_required(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox("appsecret-proof")
    e = err(sb.get(f"{FB}/me"))
    assert e["message"] == "API calls from the server require an appsecret_proof argument"
    assert e["type"] == "GraphMethodException"
    assert e["code"] == 100
    assert sb.get(f"{FB}/me", **_proof(sb.dataset.app.secret, sb.fb_token)).status_code == 200
    t = int(sb.clock().timestamp())
    r = sb.http.get(
        f"{IG}/me", params={"access_token": sb.ig_token(), **_proof(sb.dataset.app.secret, sb.ig_token(), t)}
    )
    assert r.status_code == 200


# ---------------------------------------------------------------------------------------------------- discovery


def test_me_accounts_default_fields_and_ig_link(sb: Sandbox) -> None:
    body = sb.get(f"{FB}/me/accounts").json()
    page = body["data"][0]
    assert set(page) == {"access_token", "category", "category_list", "name", "id", "tasks"}
    assert page["access_token"].startswith("SBXFBP")
    body = sb.get(f"{FB}/me/accounts", fields="id,name,access_token,instagram_business_account").json()
    linked = [p for p in body["data"] if "instagram_business_account" in p]
    unlinked = [p for p in body["data"] if "instagram_business_account" not in p]
    assert {p["instagram_business_account"]["id"] for p in linked} == {a.id for a in sb.fb_accounts()}
    assert len(unlinked) == 1
    assert "cursors" in body["paging"]
    page_id = linked[0]["id"]
    r = sb.get(f"{FB}/{page_id}", fields="instagram_business_account")
    assert r.json() == {"instagram_business_account": linked[0]["instagram_business_account"], "id": page_id}
    # the page token works for the page's IG account
    ig_id = linked[0]["instagram_business_account"]["id"]
    r = sb.http.get(f"{FB}/{ig_id}", params={"access_token": linked[0]["access_token"], "fields": "username"})
    assert r.status_code == 200
    assert "username" in r.json()


def test_ig_login_me_and_isolation(sb: Sandbox) -> None:
    token, owner = sb.ig_token(0), sb.ig_owner(0)
    r = sb.http.get(f"{IG}/me", params={"access_token": token, "fields": "user_id,username,account_type"})
    assert r.status_code == 200
    assert r.json()["user_id"] == owner
    assert set(r.json()) == {"user_id", "username", "account_type", "id"}
    r = sb.http.get(f"{IG}/me/media", params={"access_token": token})
    assert r.status_code == 200
    assert len(r.json()["data"]) == 25
    other = sb.ig_owner(1)
    e = err(sb.http.get(f"{IG}/{other}", params={"access_token": token}))
    assert e["type"] == "IGApiException"  # graph.instagram.com flavour of non-token errors
    assert (e["code"], e["error_subcode"]) == (100, 33)
    other_media = sb.dataset.accounts[other].media[0].id
    e = err(sb.http.get(f"{IG}/{other_media}", params={"access_token": token}))
    assert (e["code"], e["error_subcode"]) == (100, 33)
    # FB-linked accounts are not readable from the FB user's token on the IG host, nor IG accounts from FB
    e = err(sb.get(f"{FB}/{owner}"))
    assert e["error_subcode"] == 33


def test_missing_scope_is_permission_error(sb: Sandbox) -> None:
    sb.emu.tokens.revoke_scope(sb.dataset.facebook_users[0].id, "instagram_manage_insights")
    acct = sb.fb_accounts()[0]
    e = err(sb.get(f"{FB}/{acct.media[0].id}/insights", metric="reach"))
    assert e["code"] == 200
    assert "instagram_manage_insights" in e["message"]


# ---------------------------------------------------------------------------------------------------- fields


def test_field_selection_exact_keys(sb: Sandbox) -> None:
    acct = sb.fb_accounts()[0]
    r = sb.get(f"{FB}/{acct.id}", fields="id,username,followers_count,username.as(handle)")
    assert r.json() == {
        "id": acct.id,
        "username": acct.username,
        "followers_count": acct.followers_count,
        "handle": acct.username,
    }
    assert sb.get(f"{FB}/{acct.id}").json() == {"id": acct.id}


def test_unknown_field_and_syntax_error(sb: Sandbox) -> None:
    acct = sb.fb_accounts()[0]
    e = err(sb.get(f"{FB}/{acct.media[0].id}", fields="id,xyz"))
    assert e["code"] == 100
    assert e["message"] == "(#100) Tried accessing nonexisting field (xyz) on node type (IGMedia)"
    e = err(sb.get(f"{FB}/{acct.id}", fields="id,media{id"))
    assert e["code"] == 100
    assert "Syntax error" in e["message"]
    e = err(sb.get(f"{FB}/{acct.id}/nonsense"))
    assert e["code"] == 100


def test_nested_expansion(sb: Sandbox) -> None:
    acct = sb.fb_accounts()[0]
    fields = "id,media.limit(3){id,media_type,children{id,media_type},comments.limit(2){id,text,replies{id}}}"
    body = sb.get(f"{FB}/{acct.id}", fields=fields).json()
    media = body["media"]
    assert len(media["data"]) == 3
    assert media["paging"]["next"].startswith(f"{FB}/{acct.id}/media?")
    for item, src in zip(media["data"], acct.media[:3], strict=True):
        assert item["id"] == src.id
        assert ("children" in item) == (src.media_type == "CAROUSEL_ALBUM")
        if "comments" in item:
            assert len(item["comments"]["data"]) <= 2
            for c in item["comments"]["data"]:
                assert set(c) <= {"id", "text", "replies"}
                assert "id" in c
    album = next(m for m in acct.media if m.media_type == "CAROUSEL_ALBUM")
    body = sb.get(f"{FB}/{album.id}", fields="children{id,media_type,permalink}").json()
    assert [c["id"] for c in body["children"]["data"]] == [c.id for c in album.children]
    assert all("permalink" not in c for c in body["children"]["data"])


def test_like_count_hidden_only_indirectly(sb: Sandbox) -> None:
    acct, hidden = next((a, m) for a in sb.fb_accounts() for m in a.media[:25] if m.like_count_hidden)
    direct = sb.get(f"{FB}/{hidden.id}", fields="id,like_count").json()
    assert direct["like_count"] == hidden.like_count
    listing = sb.get(f"{FB}/{acct.id}/media", fields="id,like_count", limit="25").json()
    row = next(m for m in listing["data"] if m["id"] == hidden.id)
    assert "like_count" not in row
    shown = next(m for m in listing["data"] if m["id"] != hidden.id)
    assert "like_count" in shown


# ---------------------------------------------------------------------------------------------------- paging


def test_media_paging_walk_complete_and_links_on_base(sb: Sandbox) -> None:
    for acct in sb.fb_accounts():
        items, pages = walk(sb, f"{FB}/{acct.id}/media", fields="id,timestamp", limit="7")
        assert [i["id"] for i in items] == [m.id for m in acct.media]
        stamps = [i["timestamp"] for i in items]
        assert stamps == sorted(stamps, reverse=True)
        nxt = pages[0]["paging"]["next"]
        q = parse_qs(urlsplit(nxt).query)
        assert nxt.startswith(f"{FB}/{acct.id}/media?")
        assert q["fields"] == ["id,timestamp"]
        assert q["limit"] == ["7"]
        empties = [p for p in pages if not p["data"]]
        assert bool(empties) == sb.emu.has_empty_page(acct.id)
        for p in empties:
            assert "next" in p["paging"]
        assert "previous" in pages[-1]["paging"]
    assert any(sb.emu.has_empty_page(a.id) for a in sb.fb_accounts())


def test_media_excludes_stories_and_stories_are_live_only(sb: Sandbox) -> None:
    acct = sb.fb_accounts()[0]
    media_ids = {i["id"] for i in walk(sb, f"{FB}/{acct.id}/media", limit="100")[0]}
    story_ids = {s.id for s in acct.stories}
    assert not media_ids & story_ids
    got = sb.get(f"{FB}/{acct.id}/stories", fields="id,media_product_type").json()["data"]
    live = {s.id for s in acct.stories if NOW - s.timestamp < dt.timedelta(hours=24)}
    assert {s["id"] for s in got} == live
    assert live != story_ids
    assert all(s["media_product_type"] == "STORY" for s in got)
    sb.clock.advance(hours=30)
    assert sb.get(f"{FB}/{acct.id}/stories").json()["data"] == []


def test_limit_capped_at_100(make_sandbox: Callable[..., Sandbox]) -> None:
    ds = generate(DatasetSpec(seed=3, accounts=1, media=130, stories=1, days=3), now=NOW)
    sb = make_sandbox(dataset=ds)
    acct = sb.fb_accounts()[0]
    body = sb.get(f"{FB}/{acct.id}/media", limit="500").json()
    assert len(body["data"]) == 100
    assert "next" in body["paging"]
    assert len(sb.get(f"{FB}/{acct.id}/media").json()["data"]) == 25
    e = err(sb.get(f"{FB}/{acct.id}/media", limit="ten"))
    assert e["code"] == 100


def test_since_until_on_media(sb: Sandbox) -> None:
    acct = sb.fb_accounts()[0]
    lo, hi = acct.media[20].timestamp, acct.media[5].timestamp
    items, _ = walk(
        sb,
        f"{FB}/{acct.id}/media",
        fields="id",
        since=str(int(lo.timestamp())),
        until=str(int(hi.timestamp())),
        limit="4",
    )
    expected = [m.id for m in acct.media if lo <= m.timestamp < hi]
    assert [i["id"] for i in items] == expected
    assert len(expected) >= 10


def test_tags_paging_has_cursors_but_no_links(sb: Sandbox) -> None:
    acct = sb.fb_accounts()[0]
    body = sb.get(f"{FB}/{acct.id}/tags", fields="id,username", limit="1").json()
    assert len(body["data"]) == 1
    assert set(body["paging"]) == {"cursors"}
    after = body["paging"]["cursors"]["after"]
    body2 = sb.get(f"{FB}/{acct.id}/tags", fields="id", limit="1", after=after).json()
    assert body2["data"][0]["id"] == acct.tags[1].id
    assert "owner" not in sb.get(f"{FB}/{acct.id}/tags", fields="id,owner").json()["data"][0]


def test_comments_max_50_reverse_chrono_top_level(make_sandbox: Callable[..., Sandbox]) -> None:
    ds = generate(DatasetSpec(seed=5, accounts=1, media=6, stories=1, comments=90, days=3), now=NOW)
    sb = make_sandbox(dataset=ds)
    acct = sb.fb_accounts()[0]
    media = max(acct.media, key=lambda m: len(m.comments))
    top = [c for c in media.comments if c.parent_id is None]
    assert len(top) > 50
    body = sb.get(f"{FB}/{media.id}/comments", limit="100", fields="id,timestamp,parent_id").json()
    assert len(body["data"]) == 50
    assert "next" in body["paging"]
    assert "cursors" in body["paging"]
    items, _ = walk(sb, f"{FB}/{media.id}/comments", limit="100", fields="id,timestamp")
    assert len(items) == len(top)
    stamps = [c["timestamp"] for c in items]
    assert stamps == sorted(stamps, reverse=True)
    with_replies = next(c for c in top if c.replies)
    r = sb.get(f"{FB}/{with_replies.id}/replies", fields="id,parent_id").json()
    assert {x["id"] for x in r["data"]} == {x.id for x in with_replies.replies}
    assert all(x["parent_id"] == with_replies.id for x in r["data"])


# ---------------------------------------------------------------------------------------------------- insights routing


def test_media_insights_routing(sb: Sandbox) -> None:
    acct = sb.fb_accounts()[0]
    m = next(x for x in acct.media if x.media_product_type == "FEED" and not x.pre_conversion and "reach" in x.insights)
    r = sb.get(f"{FB}/{m.id}/insights", metric="reach")
    assert r.status_code == 200, r.text
    assert r.json()["data"][0]["name"] == "reach"
    assert r.json()["data"][0]["values"] == [{"value": m.insights["reach"]}]
    e = err(sb.get(f"{FB}/{m.id}/insights", metric="reach,bogus_metric"))
    assert e["code"] == 100
    assert "metric[1]" in e["message"]


def test_nested_insights_error_fails_whole_request(sb: Sandbox) -> None:
    acct = sb.fb_accounts()[0]
    r = sb.get(f"{FB}/{acct.id}/media", fields="id,insights.metric(bogus_metric)", limit="3")
    assert r.status_code == 400
    assert err(r)["code"] == 100
    good = next(
        m for m in acct.media if m.media_product_type == "FEED" and not m.pre_conversion and "reach" in m.insights
    )
    ok = sb.get(f"{FB}/{good.id}", fields="id,insights.metric(reach)")
    assert ok.status_code == 200
    assert ok.json()["insights"]["data"][0]["values"] == [{"value": good.insights["reach"]}]
    child = next(c for m in acct.media for c in m.children)  # album children have no insights → whole request fails
    bad = sb.get(f"{FB}/{child.id}", fields="id,media_type,insights.metric(reach)")
    assert bad.status_code == 400
    assert "id" not in bad.json()


def test_user_insights_routing(sb: Sandbox) -> None:
    acct = sb.fb_accounts()[0]
    since = int((NOW - dt.timedelta(days=5)).timestamp())
    r = sb.get(f"{FB}/{acct.id}/insights", metric="reach", period="day", since=str(since), until=str(since + 86400 * 3))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["data"][0]["name"] == "reach"
    assert body["paging"]["next"].startswith(f"{FB}/{acct.id}/insights?")
    e = err(sb.get(f"{FB}/{acct.id}/insights", metric="reach"))
    assert e["code"] == 100  # period is required


# ---------------------------------------------------------------------------------------------------- ids= and batch


def test_ids_lookup_success_and_whole_failure(sb: Sandbox) -> None:
    acct = sb.fb_accounts()[0]
    a, b = acct.media[0].id, acct.media[1].id
    sb.emu.reset_stats()
    r = sb.get(f"{FB}/", ids=f"{a},{b}", fields="id,media_type")
    assert r.status_code == 200
    assert set(r.json()) == {a, b}
    assert r.json()[a]["id"] == a
    assert sb.emu.stats()["api_calls"] == 2
    assert sb.emu.stats()["http_requests"] == 1
    foreign = sb.ig_accounts()[0].media[0].id
    r = sb.get(f"{FB}/", ids=f"{a},{foreign}", fields="id")
    assert r.status_code == 400
    assert err(r)["error_subcode"] == 33


def _batch(sb: Sandbox, items: list[dict], **extra: str) -> requests.Response:
    return sb.http.post(f"{FB}/", data={"access_token": sb.fb_token, "batch": json.dumps(items), **extra})


def test_batch_counts_and_items(sb: Sandbox) -> None:
    acct = sb.fb_accounts()[0]
    items = [{"method": "GET", "relative_url": f"{m.id}?fields=id,media_type"} for m in acct.media[:9]]
    items.append({"method": "GET", "relative_url": f"v{DEFAULT_VERSION}.0/{acct.id}?fields=username"})
    sb.emu.reset_stats()
    r = _batch(sb, items)
    assert r.status_code == 200
    out = r.json()
    assert len(out) == 10
    assert all(i["code"] == 200 for i in out)
    assert json.loads(out[0]["body"])["id"] == acct.media[0].id
    assert json.loads(out[9]["body"]) == {"username": acct.username, "id": acct.id}
    assert {"name": "facebook-api-version", "value": f"v{DEFAULT_VERSION}.0"} in out[0]["headers"]
    stats = sb.emu.stats()
    assert (stats["http_requests"], stats["api_calls"]) == (1, 10)


def test_batch_per_item_errors_and_include_headers(sb: Sandbox) -> None:
    acct = sb.fb_accounts()[0]
    items = [
        {"method": "GET", "relative_url": f"{acct.media[0].id}?fields=id"},
        {"method": "GET", "relative_url": "1234567?fields=id"},
        {"method": "GET", "relative_url": f"{acct.media[0].id}?fields=nope"},
    ]
    r = _batch(sb, items, include_headers="false")
    assert r.status_code == 200
    out = r.json()
    assert [i["code"] for i in out] == [200, 400, 400]
    assert all("headers" not in i for i in out)
    assert json.loads(out[1]["body"])["error"]["error_subcode"] == 33
    assert json.loads(out[2]["body"])["error"]["code"] == 100


def test_batch_limit_51(sb: Sandbox) -> None:
    acct = sb.fb_accounts()[0]
    r = _batch(sb, [{"method": "GET", "relative_url": acct.id}] * 51)
    assert r.status_code == 400
    e = err(r)
    assert e["type"] == "GraphBatchException"
    assert "Maximum batch size is 50" in e["message"]
    assert _batch(sb, [{"method": "GET", "relative_url": acct.id}] * 50).status_code == 200


# ---------------------------------------------------------------------------------------------------- stats & usage


def test_usage_headers_on_every_response(sb: Sandbox) -> None:
    acct = sb.fb_accounts()[0]
    for resp in (sb.get(f"{FB}/{acct.id}"), sb.get(f"{FB}/{acct.id}", fields="nope"), sb.http.get(f"{FB}/{acct.id}")):
        app = json.loads(resp.headers["X-App-Usage"])
        assert set(app) == {"call_count", "total_time", "total_cputime"}
        buc = json.loads(resp.headers["X-Business-Use-Case-Usage"])
        assert isinstance(buc, dict)
    buc = json.loads(sb.get(f"{FB}/{acct.id}").headers["X-Business-Use-Case-Usage"])
    entry = buc[acct.id][0]
    assert entry["type"] == "instagram"
    assert entry["estimated_time_to_regain_access"] == 0
    assert entry["call_count"] < 50


def test_stats_by_endpoint_and_reset(sb: Sandbox) -> None:
    acct = sb.fb_accounts()[0]
    sb.get(f"{FB}/{acct.id}/media")
    sb.get(f"{FB}/{acct.id}/media")
    sb.get(f"{FB}/{acct.media[0].id}")
    stats = sb.http.get("https://graph.facebook.com/__stats").json()
    assert stats["by_endpoint"]["GET /{ig-user-id}/media"] == 2
    assert stats["by_endpoint"]["GET /{media-id}"] == 1
    assert stats["api_calls"] == 3
    assert sb.http.post("https://graph.facebook.com/__stats/reset").json() == {"success": True}
    assert sb.emu.stats()["api_calls"] == 0


def test_sandbox_endpoints(sb: Sandbox) -> None:
    conns = sb.http.get("https://graph.instagram.com/__sandbox/connections").json()
    assert {c["provider"] for c in conns} == {"facebook", "instagram"}
    token = conns[0]["access_token"]
    r = sb.http.post("https://graph.facebook.com/__sandbox/tokens/revoke", data={"token": token, "subcode": "467"})
    assert r.json() == {"success": True}
    assert err(sb.get(f"{FB}/me"))["error_subcode"] == 467
    assert sb.http.post("https://graph.facebook.com/__sandbox/tokens/expire", data={"token": "x"}).status_code == 404
    truth = sb.http.get("https://graph.facebook.com/__truth", params={"version": "25"})
    assert truth.status_code == 200
    assert isinstance(truth.json(), dict)
    assert truth.json()
    before = sb.emu.now()
    sb.http.post("https://graph.facebook.com/__sandbox/clock/advance", params={"seconds": "3600"})
    assert sb.emu.now() - before == dt.timedelta(hours=1)
    assert sb.emu.stats()["http_requests"] == 1  # sandbox endpoints are not counted


# ---------------------------------------------------------------------------------------------------- scenarios


def _hammer(sb: Sandbox, n: int) -> list[requests.Response]:
    acct = sb.fb_accounts()[0]
    return [sb.get(f"{FB}/{acct.id}", fields="id") for _ in range(n)]


def test_default_scenario_has_no_faults(sb: Sandbox) -> None:
    assert all(r.status_code == 200 for r in _hammer(sb, 60))


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80002])
def test_throttle_presets(make_sandbox: Callable[..., Sandbox], code: int) -> None:
    sb = make_sandbox(f"throttle-{code}")
    acct = sb.fb_accounts()[0]
    rs = _hammer(sb, 20)
    assert all(r.status_code == 200 for r in rs)
    r = sb.get(f"{FB}/{acct.id}", fields="id")
    assert r.status_code == 400
    e = err(r)
    assert e["code"] == code
    assert e["is_transient"] is True
    buc = json.loads(r.headers["X-Business-Use-Case-Usage"])
    assert buc[acct.id][0]["estimated_time_to_regain_access"] >= 1
    if code == 80002:
        assert buc[acct.id][0]["call_count"] == 100
    else:
        assert json.loads(r.headers["X-App-Usage"])["call_count"] == 100
    statuses = [x.status_code for x in _hammer(sb, 3)]
    assert statuses[:2] == [400, 400]
    assert statuses[2] == 200


def test_throttle_recovers_with_clock(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox(Scenario(throttle_code=80002, throttle_after=2, throttle_minutes=10))
    assert [r.status_code for r in _hammer(sb, 4)] == [200, 200, 400, 400]
    sb.clock.advance(minutes=11)
    assert _hammer(sb, 1)[0].status_code == 200


def test_usage_95_preset(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox("usage-95")
    r = _hammer(sb, 1)[0]
    assert r.status_code == 200
    assert json.loads(r.headers["X-App-Usage"])["call_count"] == 95
    buc = json.loads(r.headers["X-Business-Use-Case-Usage"])
    assert next(iter(buc.values()))[0]["call_count"] == 95


def test_transient_preset(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox("transient-10pct")
    rs = _hammer(sb, 300)
    bad = [r for r in rs if r.status_code != 200]
    assert 10 <= len(bad) <= 60
    for r in bad:
        e = err(r)
        assert e["code"] in (1, 2)
        assert r.status_code >= 500 or e.get("is_transient") is True
    assert any(r.status_code >= 500 for r in bad)


def test_token_dies_preset(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox("token-dies")
    rs = _hammer(sb, 20)
    codes = [r.status_code for r in rs]
    assert codes[:15] == [200] * 15
    assert all(c == 400 for c in codes[15:])
    e = err(rs[-1])
    assert (e["code"], e["error_subcode"]) == (190, 460)


def test_token_dies_for_one_account_only(make_sandbox: Callable[..., Sandbox]) -> None:
    sb0 = make_sandbox()
    target = sb0.ig_owner(0)
    sb = make_sandbox(Scenario(token_dies_after=1, token_dies_for=target))
    _hammer(sb, 2)
    assert err(sb.http.get(f"{IG}/me", params={"access_token": sb.ig_token(0)}))["error_subcode"] == 460
    assert sb.http.get(f"{IG}/me", params={"access_token": sb.ig_token(1)}).status_code == 200
    assert sb.get(f"{FB}/me").status_code == 200


def test_slow_preset(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox("slow")
    t0 = time.monotonic()
    _hammer(sb, 2)
    assert time.monotonic() - t0 >= 0.5


def test_truncated_preset(make_sandbox: Callable[..., Sandbox]) -> None:
    sb = make_sandbox("truncated")
    rs = _hammer(sb, 100)
    broken = 0
    for r in rs:
        assert r.status_code == 200
        try:
            r.json()
        except ValueError:
            broken += 1
    assert 2 <= broken <= 30


def test_every_preset_constructs(make_sandbox: Callable[..., Sandbox]) -> None:
    for name in Scenario.names():
        assert Scenario.named(name).name == name
    with pytest.raises(KeyError):
        Scenario.named("nope")


def test_emulator_is_thread_safe(sb: Sandbox) -> None:
    from concurrent.futures import ThreadPoolExecutor

    acct = sb.fb_accounts()[0]
    sb.emu.reset_stats()
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: sb.get(f"{FB}/{acct.id}/media", limit="5").status_code, range(80)))
    assert codes == [200] * 80
    assert sb.emu.stats()["api_calls"] == 80


def test_handle_direct_api(base_dataset: object) -> None:
    emu = GraphEmulator(base_dataset)  # type: ignore[arg-type]
    token = emu.connections()[0]["access_token"]
    resp = emu.handle("GET", f"{FB}/me?access_token={token}", {})
    assert resp.status == 200
    assert resp.json()["id"] == emu.dataset.facebook_users[0].id
    assert emu.handle("GET", "https://example.com/", {}).status == 404


def test_transport_responses_are_real_requests_responses(sb: Sandbox) -> None:
    ok = sb.get(f"{FB}/me")
    assert ok.reason == "OK"
    assert ok.url.startswith(f"{FB}/me?")
    assert ok.request is not None
    assert ok.request.method == "GET"
    bad = sb.http.get(f"{FB}/me")
    with pytest.raises(requests.HTTPError):
        bad.raise_for_status()
    streamed = sb.http.get(f"{FB}/me", params={"access_token": sb.fb_token}, stream=True)
    assert json.loads(b"".join(streamed.iter_content(7)))["id"] == sb.dataset.facebook_users[0].id


def test_demo_tokens_stable_across_emulators(base_dataset: object, sb: Sandbox) -> None:
    other = GraphEmulator(sb.dataset)
    assert other.connections() == sb.emu.connections()
    fresh = GraphEmulator(generate(DatasetSpec(seed=7, accounts=4, media=40, stories=3), now=NOW))
    assert fresh.connections() == sb.emu.connections()
    page = sb.get(f"{FB}/me/accounts").json()["data"][0]["access_token"]
    other_page = other.handle("GET", f"{FB}/me/accounts?access_token={sb.fb_token}", {}).json()["data"][0]
    assert other_page["access_token"] == page

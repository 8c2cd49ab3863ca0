"""Meta's rules as the sandbox enforces them: versions, node omissions, media and user insights, errors, scopes."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import pickle
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tap_creatorsocial.sandbox import errors, rules
from tap_creatorsocial.sandbox.dataset import DatasetSpec, generate
from tap_creatorsocial.sandbox.errors import GraphError
from tap_creatorsocial.sandbox.model import Account, Dataset, Media
from tap_creatorsocial.sandbox.truth import build_truth

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
FB = rules.FB_HOST
IG = rules.IG_HOST
BASE = "https://graph.facebook.com/v25.0/X/insights"
CUTOFF = dt.datetime(2024, 7, 1, 23, 59, 59, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def ds() -> Dataset:
    return generate(DatasetSpec(), now=NOW)


def _media(ds: Dataset, pred: Callable[[Media], bool]) -> Media:
    for a in ds.accounts.values():
        for m in [*a.media, *a.stories]:
            if pred(m):
                return m
    raise AssertionError("no media matches")


def _feed(m: Media) -> bool:
    return m.media_product_type == "FEED" and not m.pre_conversion and m.media_type == "IMAGE"


def _big(ds: Dataset) -> Account:
    return next(a for a in ds.accounts.values() if a.followers_count >= 100 and a.login == "facebook")


def _small(ds: Dataset) -> Account:
    return next(a for a in ds.accounts.values() if a.followers_count < 100)


def _err(fn: Callable[[], Any]) -> GraphError:
    with pytest.raises(GraphError) as info:
        fn()
    return info.value


def _mi(version: int, media: Media, metrics: list[str], breakdown: str | None = None, host: str = FB) -> Any:
    return rules.media_insights(version, host, media, metrics, breakdown, None, NOW)


def _mi_err(version: int, media: Media, metrics: list[str], breakdown: str | None = None) -> GraphError:
    return _err(lambda: _mi(version, media, metrics, breakdown))


def _ui(account: Account, **params: str) -> dict[str, Any]:
    return rules.user_insights(25, FB, account, params, NOW, BASE)


def _uiv(account: Account, version: int, **params: str) -> dict[str, Any]:
    return rules.user_insights(version, FB, account, params, NOW, BASE)


def _window(days_back_start: int, days_back_end: int) -> dict[str, str]:
    """since/until at UTC midnights, ``days_back`` days before NOW's date."""
    midnight = NOW.replace(hour=0)
    return {
        "since": str(int((midnight - dt.timedelta(days=days_back_start)).timestamp())),
        "until": str(int((midnight - dt.timedelta(days=days_back_end)).timestamp())),
    }


# --- versions ---------------------------------------------------------------------------------------------------


def test_parse_version() -> None:
    assert rules.parse_version("v25.0", NOW) == 25
    assert rules.parse_version("v26.0", NOW) == 26
    assert rules.parse_version("v99.0", NOW) is None
    assert rules.parse_version("latest", NOW) is None
    assert rules.parse_version("v25.1", NOW) is None
    # retired versions are served by the oldest available one (§0): at NOW v18-v20 are gone
    assert rules.parse_version("v18.0", NOW) == 21
    assert rules.parse_version("v2.12", NOW) == 21
    assert rules.parse_version("v19.0", dt.datetime(2026, 3, 1, tzinfo=dt.UTC)) == 19
    assert rules.DEFAULT_VERSION == 25
    assert rules.KNOWN_VERSIONS[0] == 18
    assert rules.KNOWN_VERSIONS[-1] == 26
    assert len(rules.KNOWN_VERSIONS) == 9


# --- nodes ------------------------------------------------------------------------------------------------------


def test_media_node_like_count_hidden_only_when_indirect(ds: Dataset) -> None:
    m = _media(ds, lambda m: m.like_count_hidden and m.parent_id is None and m.media_product_type == "FEED")
    assert rules.media_node(m, FB, indirect=False)["like_count"] == m.like_count
    assert "like_count" not in rules.media_node(m, FB, indirect=True)
    visible = _media(ds, lambda m: not m.like_count_hidden and m.media_product_type == "FEED")
    assert rules.media_node(visible, FB, indirect=True)["like_count"] == visible.like_count


def test_media_node_omissions(ds: Dataset) -> None:
    withheld = _media(ds, lambda m: m.media_url is None and m.media_product_type != "STORY")
    assert "media_url" not in rules.media_node(withheld, FB, indirect=False)
    image = _media(ds, lambda m: m.media_type == "IMAGE" and m.media_url is not None and m.media_product_type == "FEED")
    node = rules.media_node(image, FB, indirect=False)
    assert "thumbnail_url" not in node
    assert node["media_url"] == image.media_url
    assert node["owner"] == {"id": image.account_id}
    assert node["timestamp"] == image.timestamp.strftime("%Y-%m-%dT%H:%M:%S+0000")
    assert node["timestamp"].endswith("+0000")
    video = _media(ds, lambda m: m.media_type == "VIDEO" and m.media_product_type == "REELS")
    vnode = rules.media_node(video, FB, indirect=False)
    assert vnode["thumbnail_url"] == video.thumbnail_url
    assert vnode["is_shared_to_feed"] == video.is_shared_to_feed
    assert "is_shared_to_feed" not in node
    album = _media(ds, lambda m: m.media_type == "CAROUSEL_ALBUM")
    child = rules.media_node(album.children[0], FB, indirect=True)
    for absent in ("caption", "permalink", "comments_count", "like_count"):
        assert absent not in child
    assert set(child) >= {"id", "media_type", "timestamp"}
    tagged = next(a.tags[0] for a in ds.accounts.values())
    tnode = rules.media_node(tagged, FB, indirect=True)
    assert "owner" not in tnode
    assert tnode["username"] == tagged.username


def test_fb_only_media_counters_absent_on_instagram_host(ds: Dataset) -> None:
    m = _media(ds, _feed)
    fb = rules.media_node(m, FB, indirect=False)
    assert fb["total_like_count"] == m.insights["total_likes"]
    assert fb.get("saved_count") == m.insights.get("saved")
    ig = rules.media_node(m, IG, indirect=False)
    assert not set(ig) & {"saved_count", "total_like_count", "shares_count"}
    assert set(ig) <= rules.MEDIA_FIELDS_IG
    assert set(rules.media_node(m, FB, indirect=False)) <= rules.MEDIA_FIELDS_FB


def test_user_node_per_host(ds: Dataset) -> None:
    a = next(iter(ds.accounts.values()))
    fb = rules.user_node(a, FB)
    ig = rules.user_node(a, IG)
    assert "user_id" not in fb
    assert "account_type" not in fb
    assert ig["user_id"] == a.id
    assert ig["account_type"] in ("BUSINESS", "MEDIA_CREATOR")
    assert fb["media_count"] == a.media_count
    assert set(fb) <= rules.USER_FIELDS_FB
    assert set(ig) <= rules.USER_FIELDS_IG
    assert rules.node_type_name("media") == "IGMedia"
    assert rules.node_type_name("user") == "IGUser"
    assert rules.node_type_name("comment") == "IGComment"
    assert rules.node_type_name("page") == "Page"


def test_comment_and_page_nodes(ds: Dataset) -> None:
    m = _media(ds, lambda m: any(c.replies for c in m.comments))
    top = next(c for c in m.comments if c.replies)
    node = rules.comment_node(top, m)
    assert "parent_id" not in node
    assert node["from"] == {"id": top.from_id, "username": top.username}
    assert node["media"] == {"id": m.id, "media_product_type": m.media_product_type}
    reply = rules.comment_node(top.replies[0])
    assert reply["parent_id"] == top.id
    (user,) = ds.facebook_users
    pages = [rules.page_node(p) for p in user.pages]
    assert any("instagram_business_account" not in p for p in pages)
    linked = [p for p in pages if "instagram_business_account" in p]
    assert {p["instagram_business_account"]["id"] for p in linked} == {
        a.id for a in ds.accounts.values() if a.login == "facebook"
    }


def test_video_title_is_a_deprecated_field() -> None:
    e = _err(lambda: rules.check_media_field("video_title", 25))
    assert e.code == 12
    assert "video_title" in e.message
    rules.check_media_field("caption", 25)  # no error


# --- media insights ---------------------------------------------------------------------------------------------


def test_views_rejected_on_v21_with_exact_text_and_accepted_from_v22(ds: Dataset) -> None:
    m = _media(ds, _feed)
    e = _err(lambda: _mi(21, m, ["views"]))
    assert e.status == 400
    assert e.code == 100
    assert e.message == "(#100) The Media Insights API does not support the views metric for this media product type."
    for v in (22, 23, 24, 25, 26):
        (item,) = _mi(v, m, ["views"])
        assert item["values"] == [{"value": m.insights["views"]}]


def test_impressions_only_on_v21_for_media_up_to_2024_07_01(ds: Dataset) -> None:
    old = _media(ds, lambda m: _feed(m) and m.timestamp <= CUTOFF)
    new = _media(ds, lambda m: _feed(m) and m.timestamp > CUTOFF)
    (item,) = _mi(21, old, ["impressions"])
    assert item["values"][0]["value"] == old.insights["impressions"]
    assert _err(lambda: _mi(21, new, ["impressions"])).message.startswith(
        "(#100) The Media Insights API does not support the impressions metric"
    )
    assert _err(lambda: _mi(22, old, ["impressions"])).code == 100


def test_mixed_valid_and_invalid_metrics_fail_whole_naming_all_offenders(ds: Dataset) -> None:
    m = _media(ds, _feed)
    e = _err(lambda: _mi(21, m, ["reach", "views", "saved", "replies", "likes"]))
    assert e.message == (
        "(#100) The Media Insights API does not support the views, replies metric for this media product type."
    )


def test_product_type_tables(ds: Dataset) -> None:
    reel = _media(ds, lambda m: m.media_product_type == "REELS" and not m.pre_conversion)
    feed = _media(ds, _feed)
    story = _media(
        ds, lambda m: m.media_product_type == "STORY" and m.viewers >= 5 and NOW - m.timestamp < dt.timedelta(hours=24)
    )
    # Removed for all versions on 2025-04-21 (§4a timeline): even v21 refuses them now.
    for removed in ("plays", "clips_replays_count", "ig_reels_aggregated_all_plays_count"):
        assert _err(lambda removed=removed: _mi(21, reel, [removed])).message == (
            f"(#100) The Media Insights API does not support the {removed} metric for this media product type."
        )
    assert _err(lambda: _mi(22, reel, ["plays"])).code == 100
    assert [i["name"] for i in _mi(25, reel, ["ig_reels_avg_watch_time", "reels_skip_rate", "likes"])] == [
        "ig_reels_avg_watch_time",
        "reels_skip_rate",
        "likes",
    ]
    for bad in ("profile_visits", "follows", "replies", "navigation", "impressions"):
        assert _mi_err(25, reel, [bad]).message.startswith(
            f"(#100) The Media Insights API does not support the {bad} metric"
        )
    for bad in ("replies", "navigation", "ig_reels_avg_watch_time"):
        assert _mi_err(25, feed, [bad]).code == 100
    for bad in ("likes", "comments", "saved"):
        assert _mi_err(25, story, [bad]).code == 100
    names = [i["name"] for i in _mi(25, story, ["reach", "replies", "navigation", "shares", "total_interactions"])]
    assert names == ["reach", "replies", "navigation", "shares", "total_interactions"]
    video_feed = _media(
        ds, lambda m: m.media_type == "VIDEO" and m.media_product_type == "FEED" and not m.pre_conversion
    )
    # video_views: deprecated in v21 and removed for all versions on 2025-01-08 (§4a timeline)
    assert _err(lambda: _mi(21, video_feed, ["video_views"])).code == 100
    assert _err(lambda: _mi(20, video_feed, ["video_views"])).code == 100
    before_removal = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    served = rules.media_insights(20, FB, video_feed, ["video_views"], None, None, before_removal)
    assert served[0]["values"] == [{"value": video_feed.insights["video_views"]}]


def test_unknown_and_fully_retired_metric_names(ds: Dataset) -> None:
    m = _media(ds, _feed)
    e = _err(lambda: _mi(25, m, ["reach", "carousel_album_impressions"]))
    assert e.message.startswith("(#100) metric[1] must be one of the following values: ")
    allowed = e.message.split(": ", 1)[1].split(", ")
    assert "views" in allowed
    assert "impressions" in allowed  # still an accepted name, rejected per product/version instead
    assert "carousel_album_impressions" not in allowed
    assert _err(lambda: _mi(25, m, ["xyz"])).message.startswith("(#100) metric[0] must be one of")
    assert _err(lambda: _mi(25, m, ["engagement"])).message.startswith("(#100) metric[0] must be one of")
    assert _err(lambda: _mi(25, m, [])).message == "(#100) The parameter metric is required"


def test_fb_only_metrics_rejected_on_instagram_host(ds: Dataset) -> None:
    m = _media(ds, _feed)
    assert _mi(25, m, ["total_likes"], host=FB)[0]["values"][0]["value"] == m.insights["total_likes"]
    e = _err(lambda: _mi(25, m, ["total_likes"], host=IG))
    assert e.message == (
        "(#100) The Media Insights API does not support the total_likes metric for this media product type."
    )


def test_crossposted_metrics_need_a_facebook_share(ds: Dataset) -> None:
    shared = _media(ds, lambda m: m.media_product_type == "REELS" and m.shared_to_facebook and not m.pre_conversion)
    not_shared = _media(
        ds, lambda m: m.media_product_type == "REELS" and not m.shared_to_facebook and not m.pre_conversion
    )
    assert _mi(25, shared, ["crossposted_views"])[0]["values"][0]["value"] == shared.insights["crossposted_views"]
    assert _err(lambda: _mi(25, not_shared, ["crossposted_views"])).code == 100
    assert _err(lambda: _mi(25, not_shared, ["facebook_views"])).code == 100


def test_breakdown_rules(ds: Dataset) -> None:
    m = _media(ds, lambda m: _feed(m) and "profile_activity" in m.insights)
    (item,) = _mi(25, m, ["profile_activity"], "action_type")
    assert item["total_value"]["value"] == m.insights["profile_activity"]
    (bd,) = item["total_value"]["breakdowns"]
    assert bd["dimension_keys"] == ["action_type"]
    assert sum(r["value"] for r in bd["results"]) == item["values"][0]["value"]
    assert item["id"] == f"{m.id}/insights/profile_activity/lifetime"
    assert list(item) == ["name", "period", "values", "title", "description", "total_value", "id"]
    for metrics, breakdown in (
        (["reach"], "action_type"),
        (["profile_activity", "reach"], "action_type"),
        (["profile_activity"], "story_navigation_action_type"),
    ):
        e = _mi_err(25, m, metrics, breakdown)
        assert (e.code, e.status, e.message) == (1, 500, "An unknown error has occurred.")
    story = _media(
        ds,
        lambda m: (
            m.media_product_type == "STORY"
            and m.viewers >= 5
            and NOW - m.timestamp < dt.timedelta(hours=24)
            and "navigation" in m.insights
        ),
    )
    (nav,) = _mi(25, story, ["navigation"], "story_navigation_action_type")
    results = nav["total_value"]["breakdowns"][0]["results"]
    assert {r["dimension_values"][0] for r in results} <= {"tap_forward", "tap_back", "tap_exit", "swipe_forward"}
    assert sum(r["value"] for r in results) == nav["values"][0]["value"]
    plain = _mi(25, m, ["reach"])[0]
    assert list(plain) == ["name", "period", "values", "title", "description", "id"]
    assert plain["period"] == "lifetime"


def test_story_24h_and_viewer_floor(ds: Dataset) -> None:
    expired = _media(ds, lambda m: m.media_product_type == "STORY" and NOW - m.timestamp > dt.timedelta(hours=24))
    e = _err(lambda: _mi(25, expired, ["reach"]))
    assert e.code == 10
    few = _media(
        ds, lambda m: m.media_product_type == "STORY" and m.viewers < 5 and NOW - m.timestamp < dt.timedelta(hours=24)
    )
    e = _err(lambda: _mi(25, few, ["reach"]))
    assert (e.code, e.message) == (10, "(#10) Not enough viewers for the media to show insights")


def test_pre_conversion_children_and_ads(ds: Dataset) -> None:
    pre = _media(ds, lambda m: m.pre_conversion)
    body = _err(lambda: _mi(25, pre, ["reach"])).body()["error"]
    assert body["code"] == 100
    assert body["error_subcode"] == 2108006
    assert body["message"] == "Invalid parameter"
    assert body["error_user_title"] == "Media posted before business account conversion"
    assert body["is_transient"] is False
    assert body["error_data"] == {"blame_field_specs": [[""]]}
    album = _media(ds, lambda m: m.media_type == "CAROUSEL_ALBUM" and not m.pre_conversion)
    child_err = _err(lambda: _mi(25, album.children[0], ["reach"]))
    assert (child_err.code, child_err.subcode, child_err.type) == (100, 33, "GraphMethodException")
    assert _mi(25, album, ["reach"])[0]["values"][0]["value"] == album.insights["reach"]
    ad = _media(ds, lambda m: m.media_product_type == "AD" and not m.pre_conversion)
    assert _err(lambda: _mi(25, ad, ["reach"])).message.startswith("(#100) The Media Insights API does not support")


def test_metric_without_data_is_left_out_not_zeroed(ds: Dataset) -> None:
    m = _media(ds, lambda m: _feed(m) and "follows" not in m.insights)
    items = _mi(25, m, ["reach", "follows"])
    assert [i["name"] for i in items] == ["reach"]
    nodata = dataclasses.replace(m, insights={})
    assert _mi(25, nodata, ["reach"]) == []


# --- user insights ----------------------------------------------------------------------------------------------


def test_user_insights_required_params(ds: Dataset) -> None:
    a = _big(ds)
    assert _err(lambda: _ui(a, metric="reach")).message == "(#100) The parameter period is required"
    assert _err(lambda: _ui(a, period="day")).message == "(#100) The parameter metric is required"
    assert _err(lambda: _ui(a, metric="reach", period="hour")).message.startswith(
        "(#100) period must be one of the following values: day"
    )


def test_metric_type_rules_with_exact_messages(ds: Dataset) -> None:
    a = _big(ds)
    e = _err(lambda: _ui(a, metric="reach,views,likes", period="day"))
    assert e.message == (
        "(#100) The following metrics (views, likes) should be specified with parameter metric_type=total_value"
    )
    e = _err(lambda: _ui(a, metric="follower_count", period="day", metric_type="total_value"))
    assert (
        e.message == "(#100) The following metric (follower_count) is incompatible with the metric type (total_value)"
    )
    assert _ui(a, metric="reach", period="day")["data"][0]["values"]
    assert "total_value" in _ui(a, metric="reach", period="day", metric_type="total_value")["data"][0]


def test_period_must_fit_every_metric(ds: Dataset) -> None:
    a = _big(ds)
    assert _err(lambda: _ui(a, metric="views", period="lifetime", metric_type="total_value")).code == 100
    assert _err(lambda: _ui(a, metric="reach,accounts_engaged", period="week", metric_type="total_value")).code == 100
    ok = _ui(a, metric="reach", period="week", **_window(10, 3))
    assert len(ok["data"][0]["values"]) == 7


def test_impressions_rules(ds: Dataset) -> None:
    a = _big(ds)
    e = _err(lambda: _uiv(a, 22, metric="impressions", period="day"))
    assert e.message == (
        "(#100) Starting from version 22 and above, the impressions metric is no longer supported for the queried "
        "user. Please refer to the documentation at "
        "https://developers.facebook.com/docs/instagram-api/reference/ig-user/insights for a list of supported metrics."
    )
    # removed for all versions on 2025-04-21 (§4b timeline): v21 refuses it too now, and served it before
    assert _err(lambda: _uiv(a, 21, metric="impressions", period="day")).message == e.message
    before = dt.datetime(2025, 4, 1, tzinfo=dt.UTC)
    served = rules.user_insights(21, FB, a, {"metric": "impressions", "period": "day"}, before, BASE)
    assert served["data"] == []  # accepted (the dataset holds no days that far back)
    assert _err(lambda: _uiv(a, 21, metric="views", period="day", metric_type="total_value")).message.startswith(
        "(#100) metric[0] must be one of"
    )


def test_time_series_shape_end_times_and_paging(ds: Dataset) -> None:
    a = _big(ds)
    params = {"metric": "reach", "period": "day", "access_token": "tok", **_window(10, 3)}
    body = rules.user_insights(25, FB, a, params, NOW, BASE)
    (item,) = body["data"]
    assert list(item) == ["name", "period", "values", "title", "description", "id"]
    assert item["id"] == f"{a.id}/insights/reach/day"
    by_day = {d.date: d.values["reach"] for d in a.daily_insights}
    assert len(item["values"]) == 7
    for v in item["values"]:
        assert v["end_time"].endswith("T08:00:00+0000")  # Pacific midnight in November (PST)
        day = dt.date.fromisoformat(v["end_time"][:10]) - dt.timedelta(days=1)
        assert v["value"] == by_day[day]
    since, until = int(params["since"]), int(params["until"])
    nxt = parse_qs(urlsplit(body["paging"]["next"]).query)
    prev = parse_qs(urlsplit(body["paging"]["previous"]).query)
    assert body["paging"]["next"].startswith(BASE + "?")
    assert (int(nxt["since"][0]), int(nxt["until"][0])) == (until, 2 * until - since)
    assert (int(prev["since"][0]), int(prev["until"][0])) == (2 * since - until, since)
    assert nxt["metric"] == ["reach"]
    assert nxt["access_token"] == ["tok"]
    beyond_retention = _window(150, 148)  # older than the 90 days of stored data → empty, not zeros
    assert _ui(a, metric="reach", period="day", **beyond_retention)["data"] == []


def test_summer_end_time_is_07_utc() -> None:
    d = generate(DatasetSpec(accounts=1, media=3, stories=1), now=dt.datetime(2026, 7, 10, 12, tzinfo=dt.UTC))
    a = next(iter(d.accounts.values()))
    body = rules.user_insights(25, FB, a, {"metric": "reach", "period": "day"}, d.now, BASE)
    (v,) = body["data"][0]["values"]
    assert v["end_time"] == "2026-07-10T07:00:00+0000"


def test_default_window_is_last_24h(ds: Dataset) -> None:
    a = _big(ds)
    (item,) = _ui(a, metric="reach", period="day")["data"]
    assert len(item["values"]) == 1
    assert item["values"][0]["value"] == a.daily_insights[-1].values["reach"]


def test_thirty_day_window_limit(ds: Dataset) -> None:
    a = _big(ds)
    e = _err(lambda: _ui(a, metric="reach", period="day", **_window(31, 0)))
    assert e.message == "(#100) There cannot be more than 30 days (2592000 s) between since and until"
    assert len(_ui(a, metric="reach", period="day", **_window(30, 0))["data"][0]["values"]) == 30


def test_total_value_sums_and_breakdowns(ds: Dataset) -> None:
    a = _big(ds)
    body = _ui(a, metric="reach,likes", period="day", metric_type="total_value", breakdown="media_product_type",
               **_window(10, 3))  # fmt: skip
    # end_time in (since, until]: buckets ending 08:00 UTC on Nov 13..19, i.e. Pacific days Nov 12..18
    days = [d for d in a.daily_insights if dt.date(2026, 11, 12) <= d.date <= dt.date(2026, 11, 18)]
    assert len(days) == 7
    for item in body["data"]:
        name = item["name"]
        assert item["total_value"]["value"] == sum(d.values[name] for d in days)
        (bd,) = item["total_value"]["breakdowns"]
        assert bd["dimension_keys"] == ["media_product_type"]
        assert sum(r["value"] for r in bd["results"]) == item["total_value"]["value"]
    assert (
        _err(
            lambda: _ui(a, metric="reach,likes", period="day", metric_type="total_value", breakdown="follow_type")
        ).code
        == 100
    )
    assert _err(lambda: _ui(a, metric="reach", period="day", breakdown="follow_type")).code == 100  # time_series
    no_bd = _ui(a, metric="accounts_engaged", period="day", metric_type="total_value")["data"][0]
    assert no_bd["total_value"] == {"value": a.daily_insights[-1].values["accounts_engaged"]}


def test_follower_count_only_last_30_days(ds: Dataset) -> None:
    a = _big(ds)
    assert _ui(a, metric="follower_count", period="day", **_window(45, 35))["data"] == []
    assert _ui(a, metric="reach", period="day", **_window(45, 35))["data"][0]["values"]
    recent = _ui(a, metric="follower_count", period="day", **_window(10, 0))["data"][0]["values"]
    assert len(recent) == 10


def test_small_accounts_get_nothing_for_follower_metrics(ds: Dataset) -> None:
    a = _small(ds)
    for metric in ("follower_count", "online_followers"):
        period = "lifetime" if metric == "online_followers" else "day"
        assert _ui(a, metric=metric, period=period)["data"] == []
    assert _ui(a, metric="follows_and_unfollows", period="day", metric_type="total_value")["data"] == []
    for metric in ("follower_demographics", "engaged_audience_demographics"):
        demo = _ui(a, metric=metric, period="lifetime", metric_type="total_value", timeframe="this_month",
                   breakdown="country")  # fmt: skip
        assert demo == {"data": []}
    assert _ui(a, metric="reach", period="day")["data"]


def test_demographics_rules(ds: Dataset) -> None:
    a = _big(ds)
    base = {"metric": "follower_demographics", "period": "lifetime", "metric_type": "total_value"}
    assert _err(lambda: _ui(a, **base, breakdown="country")).code == 100  # no timeframe
    assert _err(lambda: _ui(a, **base, breakdown="country", timeframe="last_30_days")).message == (
        "(#100) timeframe must be one of the following values: this_month, this_week"
    )
    assert _err(lambda: _ui(a, **base, timeframe="this_week")).code == 100  # no breakdown
    assert (
        _err(lambda: _ui(a, **{**base, "metric_type": "time_series"}, timeframe="this_week", breakdown="age")).code
        == 100
    )
    body = _ui(a, **base, timeframe="this_month", breakdown="country")
    assert "paging" not in body
    (item,) = body["data"]
    assert item["id"] == f"{a.id}/insights/follower_demographics/lifetime"
    tv = item["total_value"]
    assert "value" not in tv
    (bd,) = tv["breakdowns"]
    assert bd["dimension_keys"] == ["timeframe", "country"]
    assert len(bd["results"]) == 45 < len(a.demographics["follower_demographics"]["this_month"]["country"])
    assert all(r["dimension_values"][0] == "THIS_MONTH" for r in bd["results"])
    values = [r["value"] for r in bd["results"]]
    assert values == sorted(values, reverse=True)
    pair = _ui(a, **base, timeframe="this_week", breakdown="age,gender")["data"][0]["total_value"]["breakdowns"][0]
    assert pair["dimension_keys"] == ["timeframe", "age", "gender"]
    assert all(len(r["dimension_values"]) == 3 and r["dimension_values"][2] in "FMU" for r in pair["results"])


def test_online_followers_shape(ds: Dataset) -> None:
    a = _big(ds)
    (item,) = _ui(a, metric="online_followers", period="lifetime")["data"]
    (v,) = item["values"]
    assert list(v["value"]) == [str(h) for h in range(24)]
    assert v["value"] == a.online_followers[max(a.online_followers)]


def test_unknown_user_metric(ds: Dataset) -> None:
    a = _big(ds)
    e = _err(lambda: _ui(a, metric="reach,audience_city", period="day"))
    assert e.message.startswith("(#100) metric[1] must be one of the following values: reach, views")


# --- permissions and errors -------------------------------------------------------------------------------------


def test_missing_scope() -> None:
    assert rules.missing_scope(FB, "media_insights", {"instagram_basic"}) == "instagram_manage_insights"
    assert rules.missing_scope(FB, "media_insights", {"instagram_basic", "instagram_manage_insights"}) is None
    assert rules.missing_scope(IG, "comments", ["instagram_business_basic"]) == "instagram_business_manage_comments"
    assert rules.missing_scope(FB, "accounts", set()) == "pages_show_list"
    assert rules.missing_scope(IG, "user_insights", ["instagram_basic"]) == "instagram_business_basic"


def test_error_bodies_and_headers() -> None:
    e = errors.throttled(80002)
    body = e.body()["error"]
    assert body["code"] == 80002
    assert body["error_subcode"] == 2446079
    assert body["is_transient"] is True
    assert body["message"].startswith("(#80002) There have been too many calls to this Instagram account.")
    assert body["fbtrace_id"]
    assert e.status == 400
    assert e.www_authenticate().startswith('OAuth "Facebook Platform" "invalid_request" "(#80002)')
    tok = errors.token_expired(
        dt.datetime(2014, 2, 7, 17, 54, tzinfo=dt.UTC), dt.datetime(2014, 2, 8, 16, 58, 14, tzinfo=dt.UTC)
    )
    assert tok.message == (
        "Error validating access token: Session has expired on Friday, 07-Feb-14 09:54:00 PST. "
        "The current time is Saturday, 08-Feb-14 08:58:14 PST."
    )
    assert (tok.code, tok.subcode) == (190, 463)
    assert tok.www_authenticate().startswith('OAuth "Facebook Platform" "invalid_token"')
    assert errors.service_error().status == 500
    assert errors.service_error().body()["error"]["is_transient"] is True
    assert "is_transient" not in errors.unknown_field("IGMedia", "xyz").body()["error"]
    assert errors.unknown_field("IGMedia", "xyz").message == (
        "(#100) Tried accessing nonexisting field (xyz) on node type (IGMedia)"
    )
    assert errors.unsupported_get("1").for_host(IG).type == "IGApiException"
    assert errors.cannot_parse_token().for_host(IG).type == "OAuthException"
    assert errors.unsupported_get("1").for_host(FB).type == "GraphMethodException"
    assert errors.missing_permission("instagram_manage_insights").message == (
        "(#200) Requires instagram_manage_insights permission"
    )
    assert errors.batch_too_large().type == "GraphBatchException"
    for code in (4, 17, 32, 613):
        assert errors.throttled(code).message.startswith(f"(#{code}) ")
    for sub in (458, 460, 467, 492, 493):
        assert errors.token_invalid(sub).subcode == sub
    clone = copy.copy(errors.pre_conversion())
    assert clone.body()["error"]["error_subcode"] == 2108006
    assert pickle.loads(pickle.dumps(errors.throttled(4))).code == 4


# --- truth ------------------------------------------------------------------------------------------------------


def test_truth_agrees_with_rules(ds: Dataset) -> None:
    truth = build_truth(ds, 25)
    assert truth["counts"]["accounts"] == len(ds.accounts)
    assert truth["counts"]["media"] == sum(len(a.media) for a in ds.accounts.values())
    live = sum(1 for a in ds.accounts.values() for s in a.stories if NOW - s.timestamp < dt.timedelta(hours=24))
    assert truth["counts"]["stories"] == live
    pre = [m.id for a in ds.accounts.values() for m in a.media if m.pre_conversion]
    assert all(truth["skipped"][mid].startswith("100/2108006") for mid in pre)
    by_id = {m.id: m for a in ds.accounts.values() for m in [*a.media, *a.stories]}
    for mid, values in truth["media_insights"].items():
        media = by_id[mid]
        host = FB if ds.accounts[media.account_id].login == "facebook" else IG
        items = rules.media_insights(25, host, media, list(values), None, None, NOW)
        assert {i["name"]: i["values"][0]["value"] for i in items} == values
        assert "views" in values or "reach" in values
        assert "impressions" not in values
    small = _small(ds)
    assert truth["demographics"][small.id] == {}
    assert truth["online_followers"][small.id] == {}
    assert all("follower_count" not in v for v in truth["account_insights"][small.id].values())
    v21 = build_truth(ds, 21)
    assert any("impressions" in v for v in v21["media_insights"].values())
    assert not any("views" in v for v in v21["media_insights"].values())

"""The metric catalog against facts transcribed from reference/graph-api.md (§0, §4a, §4b, §8).

The expectations below are written from the reference, not from the catalog's data, so a wrong catalog fails here.
The sandbox is never imported: it models Meta, the catalog models the tap.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from tap_creatorsocial.catalog import (
    ALL_ACCOUNT_BREAKDOWNS,
    ALL_ACCOUNT_METRIC_NAMES,
    ALL_AUDIENCE_METRIC_NAMES,
    ALL_MEDIA_METRIC_NAMES,
    DEFAULT_API_VERSION,
    MAX_METRICS_PER_CALL,
    SUPPORTED_VERSIONS,
    MediaMetric,
    MetricRequest,
    account_insight_requests,
    audience_requests,
    catalog_markdown,
    insight_requests,
    media_metrics_for,
    parse_api_version,
    serving_version,
    unavailable_account_metrics,
    unused_account_breakdowns,
)

# ---- facts from the reference, transcribed independently -----------------------------------------------------------

# §0: versions page
VERSIONS = list(range(18, 27))
CURRENT = [v for v in VERSIONS if v >= 22]  # views era; impressions/plays/video_views gone

# §4a current table (2026-09): metric -> product types
DOC_MEDIA_TABLE = {
    "views": {"FEED", "REELS", "STORY"},
    "reach": {"FEED", "REELS", "STORY"},
    "likes": {"FEED", "REELS"},
    "comments": {"FEED", "REELS"},
    "saved": {"FEED", "REELS"},
    "shares": {"FEED", "REELS", "STORY"},
    "total_interactions": {"FEED", "REELS", "STORY"},
    "follows": {"FEED", "STORY"},
    "profile_visits": {"FEED", "STORY"},
    "profile_activity": {"FEED", "STORY"},
    "replies": {"STORY"},
    "navigation": {"STORY"},
    "ig_reels_avg_watch_time": {"REELS"},
    "ig_reels_video_view_total_time": {"REELS"},
    "reels_skip_rate": {"REELS"},
    "reposts": {"FEED", "REELS", "STORY"},
    "crossposted_views": {"REELS"},
    "facebook_views": {"FEED", "REELS", "STORY"},
    "link_clicks": {"STORY"},
    "total_likes": {"FEED", "REELS"},
    "total_comments": {"FEED", "REELS"},
    "total_views": {"FEED", "REELS", "STORY"},
}
FACEBOOK_ONLY = {"total_likes", "total_comments", "total_views", "link_clicks"}
NEEDS_FB_SHARE = {"crossposted_views", "facebook_views"}
RETIRED_V22 = {"impressions", "plays", "clips_replays_count", "ig_reels_aggregated_all_plays_count"}
RETIRED_EVERYWHERE = {  # removed for all versions on dates long past
    "carousel_album_impressions",
    "carousel_album_reach",
    "carousel_album_engagement",
    "carousel_album_saved",
    "carousel_album_video_views",
    "taps_forward",
    "taps_back",
    "exits",
    "engagement",
    "video_views",
    "plays",
    "clips_replays_count",
    "ig_reels_aggregated_all_plays_count",
}
BREAKDOWNS = {"profile_activity": "action_type", "navigation": "story_navigation_action_type"}

MEDIA_KINDS = [
    ("FEED", "IMAGE"),
    ("FEED", "VIDEO"),
    ("FEED", "CAROUSEL_ALBUM"),
    ("REELS", "VIDEO"),
    ("STORY", "IMAGE"),
    ("STORY", "VIDEO"),
]
OLD = datetime(2024, 6, 1, tzinfo=UTC)  # before the 2024-07-01 impressions cut-off
NEW = datetime(2025, 3, 1, tzinfo=UTC)
CREATED = [OLD, NEW, None]
LOGINS = ["facebook", "instagram"]

# §4b current user-insights table
DOC_ACCOUNT_BREAKDOWNS = {
    "reach": {"media_product_type", "follow_type"},
    "views": {"follow_type", "media_product_type"},
    "accounts_engaged": set(),
    "total_interactions": {"media_product_type"},
    "likes": {"media_product_type"},
    "comments": {"media_product_type"},
    "shares": {"media_product_type"},
    "saves": {"media_product_type"},
    "replies": set(),
    "reposts": set(),
    "profile_links_taps": {"contact_button_type"},
    "follows_and_unfollows": {"follow_type"},
}
TIME_SERIES_ONLY = {"follower_count"}
ALSO_TIME_SERIES = {"reach"}  # "total_value, time_series" in the §4b table
RETIRED_ACCOUNT = {
    "impressions",
    "profile_views",
    "website_clicks",
    "email_contacts",
    "get_direction_clicks",
    "phone_call_clicks",
    "text_message_clicks",
}


def _names(product: str, media: str, version: int, login: str, created: datetime | None = None) -> set[str]:
    return {r.metric for r in media_metrics_for(product, media, version, login, created)}


MediaCase = tuple[int, str, str, str, datetime | None]


def _all_media_calls(
    include_non_default: bool = False,
) -> Iterator[tuple[MediaCase, list[tuple[list[str], str | None]]]]:
    for version, (product, media), login, created in itertools.product(VERSIONS, MEDIA_KINDS, LOGINS, CREATED):
        calls = insight_requests(product, media, version, login, created, include_non_default=include_non_default)
        yield (version, product, media, login, created), calls


# ---- versions -------------------------------------------------------------------------------------------------------


def test_supported_versions_and_default() -> None:
    assert list(SUPPORTED_VERSIONS) == VERSIONS
    assert DEFAULT_API_VERSION == "v25.0"
    assert parse_api_version(DEFAULT_API_VERSION) == 25


@pytest.mark.parametrize("text", ["v25.0", "25", "25.0", " V25.0 ", "v25"])
def test_parse_api_version_accepts_spellings(text: str) -> None:
    assert parse_api_version(text) == 25


@pytest.mark.parametrize("text", ["", "latest", "v25.1", "v17.0", "27", "v2.5", "25.0.0", "-25"])
def test_parse_api_version_errors_name_setting_values_and_fix(text: str) -> None:
    with pytest.raises(ValueError, match="api_version") as err:
        parse_api_version(text)
    message = str(err.value)
    assert "v18.0" in message
    assert "v26.0" in message
    assert "Fix" in message
    assert DEFAULT_API_VERSION in message


def test_expired_version_is_served_by_oldest_usable() -> None:
    # §0: v18 available until 2026-01-26, v19 until 2026-05-21
    assert serving_version(18, date(2026, 1, 26)) == 18
    assert serving_version(18, date(2026, 2, 1)) == 19
    assert serving_version(18, date(2026, 6, 1)) == 20
    assert serving_version(25, date(2026, 6, 1)) == 25


# ---- media insights -------------------------------------------------------------------------------------------------


def test_v21_feed_image_impressions_only_for_old_media_and_no_views() -> None:
    for login in LOGINS:
        assert "views" not in _names("FEED", "IMAGE", 21, login, OLD)
        assert "impressions" in _names("FEED", "IMAGE", 21, login, OLD)
        assert "impressions" in _names("FEED", "IMAGE", 21, login, datetime(2024, 7, 1, 23, 0, tzinfo=UTC))
        assert "impressions" not in _names("FEED", "IMAGE", 21, login, datetime(2024, 7, 2, tzinfo=UTC))
        assert "impressions" not in _names("FEED", "IMAGE", 21, login, NEW)
        assert "impressions" not in _names("FEED", "IMAGE", 21, login, None)  # unknown age: don't risk the call


def test_impressions_cutoff_uses_utc_date() -> None:
    # 2024-07-01 20:00 in UTC-8 is 2024-07-02 04:00 UTC: after the cut-off
    late = datetime(2024, 7, 1, 20, 0, tzinfo=timezone(timedelta(hours=-8)))
    assert "impressions" not in _names("FEED", "IMAGE", 21, "facebook", late)
    assert "impressions" in _names("FEED", "IMAGE", 21, "facebook", datetime(2024, 7, 1, 12, 0))  # naive = UTC


def test_impressions_never_on_reels() -> None:
    for version in VERSIONS:
        assert "impressions" not in _names("REELS", "VIDEO", version, "facebook", OLD)


@pytest.mark.parametrize("version", CURRENT)
def test_v22_plus_never_requests_retired_metrics(version: int) -> None:
    for (product, media), login, created in itertools.product(MEDIA_KINDS, LOGINS, CREATED):
        names = _names(product, media, version, login, created)
        assert not names & (RETIRED_V22 | RETIRED_EVERYWHERE | {"video_views"}), (product, media, login)
        assert "views" in names


def test_metrics_removed_on_all_versions_are_never_requested() -> None:
    for _, calls in _all_media_calls(include_non_default=True):
        requested = {m for metrics, _ in calls for m in metrics}
        assert not requested & RETIRED_EVERYWHERE


@pytest.mark.parametrize("version", VERSIONS)
def test_reels_metrics(version: int) -> None:
    names = _names("REELS", "VIDEO", version, "instagram")
    assert {"ig_reels_avg_watch_time", "ig_reels_video_view_total_time", "reels_skip_rate"} <= names
    assert {"reach", "likes", "comments", "saved", "shares"} <= names
    assert not names & {"follows", "profile_visits", "profile_activity", "replies", "navigation", "impressions"}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("media", ["IMAGE", "VIDEO"])
def test_story_navigation_is_its_own_call_with_breakdown(version: int, media: str) -> None:
    calls = insight_requests("STORY", media, version, "instagram")
    assert (["navigation"], "story_navigation_action_type") in calls
    plain = [m for metrics, bd in calls if bd is None for m in metrics]
    assert "replies" in plain
    assert "reach" in plain
    assert "navigation" not in plain
    assert not set(plain) & {"likes", "comments", "saved", "taps_forward", "taps_back", "exits"}


@pytest.mark.parametrize("product", ["FEED", "STORY"])
def test_profile_activity_is_its_own_call_with_action_type(product: str) -> None:
    media = "IMAGE"
    for version in VERSIONS:
        calls = insight_requests(product, media, version, "facebook", NEW)
        assert (["profile_activity"], "action_type") in calls
        assert all("profile_activity" not in metrics for metrics, bd in calls if bd is None)


def test_profile_activity_only_for_media_after_2017_10_26() -> None:
    assert "profile_activity" not in _names("FEED", "IMAGE", 25, "facebook", datetime(2017, 10, 1, tzinfo=UTC))
    assert "profile_activity" in _names("FEED", "IMAGE", 25, "facebook", datetime(2017, 11, 1, tzinfo=UTC))


def test_breakdowns_only_on_their_metrics_and_one_breakdown_per_call() -> None:
    for key, calls in _all_media_calls():
        for metrics, breakdown in calls:
            if breakdown is None:
                assert not set(metrics) & set(BREAKDOWNS), key
            else:
                assert all(BREAKDOWNS.get(m) == breakdown for m in metrics), key


def test_every_call_within_limit_and_no_metric_twice() -> None:
    assert MAX_METRICS_PER_CALL >= 1
    for key, calls in _all_media_calls(include_non_default=True):
        flat = [m for metrics, _ in calls for m in metrics]
        assert len(flat) == len(set(flat)), key
        assert all(1 <= len(metrics) <= MAX_METRICS_PER_CALL for metrics, _ in calls), key


def test_requests_match_doc_table_on_current_versions() -> None:
    for (version, product, _media, _login, _created), calls in _all_media_calls(include_non_default=True):
        if version < 22:
            continue
        for metrics, _ in calls:
            for metric in metrics:
                assert product in DOC_MEDIA_TABLE[metric], (metric, product, version)


def test_instagram_login_never_gets_facebook_only_metrics() -> None:
    for (_v, _p, _m, login, _c), calls in _all_media_calls(include_non_default=True):
        requested = {m for metrics, _ in calls for m in metrics}
        if login == "instagram":
            assert not requested & FACEBOOK_ONLY


def test_facebook_login_gets_facebook_only_metrics_where_they_apply() -> None:
    assert {"total_likes", "total_comments"} <= _names("FEED", "IMAGE", 25, "facebook")
    assert "total_views" in _names("REELS", "VIDEO", 25, "facebook")
    assert "total_views" in _names("STORY", "VIDEO", 25, "facebook")
    assert "total_views" not in _names("FEED", "IMAGE", 25, "facebook")  # video media only
    assert "link_clicks" in _names("STORY", "IMAGE", 25, "facebook")
    assert "link_clicks" not in _names("FEED", "IMAGE", 25, "facebook")


def test_facebook_share_metrics_off_by_default_and_isolated_when_asked() -> None:
    for _, calls in _all_media_calls():
        assert not {m for metrics, _ in calls for m in metrics} & NEEDS_FB_SHARE
    calls = insight_requests("REELS", "VIDEO", 25, "facebook", include_non_default=True)
    for name in NEEDS_FB_SHARE:
        assert ([name], None) in calls  # an error for an unshared reel must not take other metrics down


def test_without_breakdowns_every_object_is_one_call_with_the_same_metrics() -> None:
    for version, (product, media), login, created in itertools.product(VERSIONS, MEDIA_KINDS, LOGINS, CREATED):
        with_breakdowns = insight_requests(product, media, version, login, created)
        lean = insight_requests(product, media, version, login, created, breakdowns=False)
        assert len(lean) == 1, (version, product, media)
        assert lean[0][1] is None
        assert sorted(lean[0][0]) == sorted(m for metrics, _ in with_breakdowns for m in metrics)
    story = insight_requests("STORY", "IMAGE", 25, "instagram", breakdowns=False)[0][0]
    assert {"navigation", "profile_activity"} <= set(story)
    # Facebook-share metrics still go alone when asked for: a refusal must not take the totals down
    calls = insight_requests("REELS", "VIDEO", 25, "facebook", breakdowns=False, include_non_default=True)
    assert sorted(calls[1:]) == [(["crossposted_views"], None), (["facebook_views"], None)]


def test_ad_and_carousel_children_have_no_insights() -> None:
    for version, login in itertools.product(VERSIONS, LOGINS):
        assert insight_requests("AD", "VIDEO", version, login) == []
        assert insight_requests("AD", "IMAGE", version, login, include_non_default=True) == []
        assert insight_requests("FEED", "IMAGE", version, login, carousel_child=True) == []


def test_inputs_are_case_insensitive_and_bad_login_or_version_raises() -> None:
    assert media_metrics_for("feed", "image", 25, "Facebook") == media_metrics_for("FEED", "IMAGE", 25, "facebook")
    with pytest.raises(ValueError, match="login"):
        media_metrics_for("FEED", "IMAGE", 25, "twitter")
    with pytest.raises(ValueError, match="api_version"):
        media_metrics_for("FEED", "IMAGE", 30, "facebook")


def test_media_metrics_for_orders_plain_before_breakdowns() -> None:
    reqs = media_metrics_for("STORY", "IMAGE", 25, "facebook")
    assert all(isinstance(r, MetricRequest) for r in reqs)
    kinds = [r.breakdown is not None for r in reqs]
    assert kinds == sorted(kinds)
    assert MetricRequest("navigation", "story_navigation_action_type") in reqs


def test_all_media_metric_names_keep_every_column() -> None:
    assert len(ALL_MEDIA_METRIC_NAMES) == len(set(ALL_MEDIA_METRIC_NAMES))
    assert set(DOC_MEDIA_TABLE) | RETIRED_EVERYWHERE | RETIRED_V22 <= set(ALL_MEDIA_METRIC_NAMES)
    for _, calls in _all_media_calls(include_non_default=True):
        assert {m for metrics, _ in calls for m in metrics} <= set(ALL_MEDIA_METRIC_NAMES)


def test_records_are_frozen() -> None:
    record = MediaMetric("x", frozenset({"FEED"}), "d")
    with pytest.raises(AttributeError):
        record.name = "y"  # type: ignore[misc]


# ---- account insights -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_account_calls_respect_metric_type_rules(version: int) -> None:
    calls = account_insight_requests(version)
    seen: set[str] = set()
    for metrics, metric_type, breakdown in calls:
        assert 1 <= len(metrics) <= MAX_METRICS_PER_CALL
        assert metric_type in {"total_value", "time_series"}
        if metric_type == "time_series":
            assert breakdown is None
            assert set(metrics) <= TIME_SERIES_ONLY | {"reach"}
        else:
            assert not set(metrics) & TIME_SERIES_ONLY  # follower_count refuses total_value
            assert set(metrics) <= set(DOC_ACCOUNT_BREAKDOWNS)
            if breakdown is not None:
                assert all(breakdown in DOC_ACCOUNT_BREAKDOWNS[m] for m in metrics), (metrics, breakdown)
        seen |= set(metrics)
    assert not seen & RETIRED_ACCOUNT
    assert "follower_count" in seen
    assert (["follower_count"], "time_series", None) in calls
    assert ("views" in seen) == (version >= 22)


def test_account_calls_shape_v25() -> None:
    calls = account_insight_requests(25)
    plain = [c for c in calls if c[1] == "total_value" and c[2] is None]
    assert len(plain) == 1
    assert set(plain[0][0]) == set(DOC_ACCOUNT_BREAKDOWNS)
    by_breakdown = {bd: set(metrics) for metrics, mt, bd in calls if bd is not None}
    with_mpt = {m for m, b in DOC_ACCOUNT_BREAKDOWNS.items() if "media_product_type" in b}
    assert by_breakdown["media_product_type"] == with_mpt
    assert by_breakdown["follow_type"] == {"reach", "views", "follows_and_unfollows"}
    assert by_breakdown["contact_button_type"] == {"profile_links_taps"}


def test_small_accounts_skip_follower_gated_metrics() -> None:
    names = {m for metrics, _, _ in account_insight_requests(25, followers_count=50) for m in metrics}
    assert "follower_count" not in names
    assert "follows_and_unfollows" not in names
    assert "reach" in names


def test_only_time_series_metrics_skip_the_daily_call() -> None:
    # reach and follower_count both have a time series: no one-day total_value call at all
    assert account_insight_requests(25, metrics=["follower_count", "reach"], breakdowns=[]) == [
        (["reach", "follower_count"], "time_series", None)
    ]
    # a total_value-only metric makes the one-day call; reach joins it, follower_count cannot (§4b)
    assert account_insight_requests(25, metrics=["reach", "likes", "follower_count"], breakdowns=[]) == [
        (["reach", "likes"], "total_value", None),
        (["follower_count"], "time_series", None),
    ]
    for names in itertools.chain.from_iterable(
        itertools.combinations(DOC_ACCOUNT_BREAKDOWNS.keys() | TIME_SERIES_ONLY, n) for n in (1, 2)
    ):
        calls = account_insight_requests(25, metrics=names)
        daily = any(mt == "total_value" and bd is None for _, mt, bd in calls)
        assert daily == bool(set(names) - TIME_SERIES_ONLY - ALSO_TIME_SERIES), names
        for metrics, metric_type, breakdown in calls:
            assert set(metrics) <= set(names)
            if metric_type == "time_series":
                assert breakdown is None
                assert set(metrics) <= TIME_SERIES_ONLY | ALSO_TIME_SERIES
            elif breakdown is not None:
                assert all(breakdown in DOC_ACCOUNT_BREAKDOWNS[m] for m in metrics)


def test_breakdown_selection() -> None:
    assert set(ALL_ACCOUNT_BREAKDOWNS) == {"media_product_type", "follow_type", "contact_button_type"}
    none = account_insight_requests(25, breakdowns=[])
    assert [bd for _, _, bd in none] == [None, None]  # the daily total_value call and follower_count's series
    only = account_insight_requests(25, breakdowns=["follow_type"])
    assert {bd: set(m) for m, _, bd in only if bd} == {"follow_type": {"reach", "views", "follows_and_unfollows"}}
    assert account_insight_requests(25, breakdowns=None) == account_insight_requests(25)
    # a breakdown no selected metric supports makes no call (the stream warns)
    assert account_insight_requests(25, metrics=["likes"], breakdowns=["contact_button_type"]) == [
        (["likes"], "total_value", None)
    ]
    assert unused_account_breakdowns(25, ["likes"], ["contact_button_type", "media_product_type"]) == [
        "contact_button_type"
    ]
    with pytest.raises(ValueError, match="age"):
        account_insight_requests(25, breakdowns=["age"])


def test_metric_selection_skips_what_the_version_lacks() -> None:
    assert account_insight_requests(21, metrics=["views", "reach"], breakdowns=[]) == [(["reach"], "time_series", None)]
    assert unavailable_account_metrics(["views", "reach", "impressions"], 21) == ["views", "impressions"]
    assert unavailable_account_metrics(["views", "reach"], 25) == []
    assert account_insight_requests(25, metrics=["impressions"]) == []  # removed on all versions
    with pytest.raises(ValueError, match="nope"):
        account_insight_requests(25, metrics=["reach", "nope"])


def test_all_account_metric_names_include_retired() -> None:
    assert set(DOC_ACCOUNT_BREAKDOWNS) | TIME_SERIES_ONLY | RETIRED_ACCOUNT <= set(ALL_ACCOUNT_METRIC_NAMES)


# ---- audience -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_demographics_only_this_week_and_this_month(version: int) -> None:
    requests = audience_requests(version)
    demo = [r for r in requests if r.metric in {"follower_demographics", "engaged_audience_demographics"}]
    assert {r.timeframe for r in demo} == {"this_week", "this_month"}
    assert all(r.period == "lifetime" and r.metric_type == "total_value" for r in demo)
    for metric in ("follower_demographics", "engaged_audience_demographics"):
        combos = {(r.breakdown, r.timeframe) for r in demo if r.metric == metric}
        assert combos == set(itertools.product(["age", "gender", "country", "city"], ["this_week", "this_month"]))


def test_online_followers_is_flagged_uncertain() -> None:
    online = [r for r in audience_requests(25) if r.metric == "online_followers"]
    assert len(online) == 1
    assert online[0].uncertain
    assert online[0].period == "lifetime"
    assert online[0].timeframe is None
    assert not [r for r in audience_requests(25, include_uncertain=False) if r.metric == "online_followers"]
    assert {"follower_demographics", "engaged_audience_demographics", "online_followers"} <= set(
        ALL_AUDIENCE_METRIC_NAMES
    )


def test_small_account_gets_no_follower_demographics() -> None:
    metrics = {r.metric for r in audience_requests(25, followers_count=99)}
    assert "follower_demographics" not in metrics
    assert "online_followers" not in metrics


# ---- docs and independence ------------------------------------------------------------------------------------------


def test_catalog_markdown_mentions_every_metric() -> None:
    text = catalog_markdown()
    for name in (*ALL_MEDIA_METRIC_NAMES, *ALL_ACCOUNT_METRIC_NAMES, *ALL_AUDIENCE_METRIC_NAMES):
        assert f"`{name}`" in text


def test_catalog_never_imports_the_sandbox() -> None:
    package = Path(__file__).resolve().parents[1] / "tap_creatorsocial" / "catalog"
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                assert "sandbox" not in (node.module or ""), path
            elif isinstance(node, ast.Import):
                assert all("sandbox" not in alias.name for alias in node.names), path

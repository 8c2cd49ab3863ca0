"""The sandbox dataset generator: deterministic, sized as asked, every quirk planted, values internally consistent."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest

from tap_creatorsocial.sandbox.dataset import (
    ACTION_TYPES,
    NAVIGATION_TYPES,
    DatasetSpec,
    generate,
)
from tap_creatorsocial.sandbox.model import Dataset, Media

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
PACIFIC = ZoneInfo("America/Los_Angeles")


@pytest.fixture(scope="module")
def ds() -> Dataset:
    return generate(DatasetSpec(), now=NOW)


def _all_media(ds: Dataset) -> list[Media]:
    return [m for a in ds.accounts.values() for m in a.media]


def test_same_seed_and_now_give_identical_datasets() -> None:
    assert generate(DatasetSpec(seed=3), now=NOW) == generate(DatasetSpec(seed=3), now=NOW)


def test_different_seed_gives_different_data() -> None:
    a = generate(DatasetSpec(seed=1), now=NOW)
    b = generate(DatasetSpec(seed=2), now=NOW)
    assert list(a.accounts) != list(b.accounts)
    assert [m.id for m in _all_media(a)] != [m.id for m in _all_media(b)]


def test_adding_accounts_keeps_existing_ones_unchanged() -> None:
    small = generate(DatasetSpec(accounts=2), now=NOW)
    big = generate(DatasetSpec(accounts=5), now=NOW)
    for acct_id, acct in small.accounts.items():
        assert big.accounts[acct_id] == acct


def test_default_now_is_floored_to_the_hour() -> None:
    d = generate(DatasetSpec(accounts=1, media=2, stories=0, days=2))
    assert d.now.minute == d.now.second == d.now.microsecond == 0
    assert d.now.tzinfo is not None


def test_sizes_are_honoured() -> None:
    spec = DatasetSpec(accounts=6, media=25, stories=4, days=45)
    d = generate(spec, now=NOW)
    assert len(d.accounts) == 6
    for a in d.accounts.values():
        assert len(a.media) == 25
        live = [s for s in a.stories if NOW - s.timestamp < dt.timedelta(hours=24)]
        expired = [s for s in a.stories if NOW - s.timestamp >= dt.timedelta(hours=24)]
        assert len(live) == 4
        assert expired, "some expired stories must exist to test the 24 h rule"
        assert len(a.daily_insights) == 45
        assert all(s.media_product_type == "STORY" for s in a.stories)
        assert all(m.media_product_type != "STORY" for m in a.media)


def test_login_kinds_pages_and_users(ds: Dataset) -> None:
    logins = [a.login for a in ds.accounts.values()]
    assert "facebook" in logins
    assert "instagram" in logins
    fb_accounts = {a.id for a in ds.accounts.values() if a.login == "facebook"}
    (fb_user,) = ds.facebook_users
    linked = {p.ig_account_id for p in fb_user.pages if p.ig_account_id}
    assert linked == fb_accounts
    assert any(p.ig_account_id is None for p in fb_user.pages), "a Page without IG account is needed"
    assert {a.page_id for a in ds.accounts.values() if a.login == "facebook"} <= {p.id for p in fb_user.pages}
    assert {u.account_id for u in ds.instagram_users} == {a.id for a in ds.accounts.values() if a.login == "instagram"}
    assert "instagram_manage_insights" in fb_user.scopes
    assert "pages_show_list" in fb_user.scopes
    assert all("instagram_business_manage_insights" in u.scopes for u in ds.instagram_users)
    assert all(
        a.ig_scoped_user_id and a.ig_scoped_user_id != a.id for a in ds.accounts.values() if a.login == "instagram"
    )
    assert ds.app.redirect_uris == ["http://localhost:33333/callback", "http://127.0.0.1:33333/callback"]
    assert ds.app.require_appsecret_proof is False
    assert ds.demo_tokens == []


def test_ids_look_real(ds: Dataset) -> None:
    (fb_user,) = ds.facebook_users
    for a in ds.accounts.values():
        assert re.fullmatch(r"17841\d{12}", a.id)
        for m in [*a.media, *a.stories, *a.tags, *(c for p in a.media for c in p.children)]:
            assert re.fullmatch(r"1[78]\d{15,16}", m.id), m.id
        for m in a.media:
            for c in m.comments:
                assert re.fullmatch(r"1[78]\d{15,16}", c.id)
    for p in fb_user.pages:
        assert re.fullmatch(r"\d{15}", p.id)
    all_ids = [m.id for m in _all_media(ds)] + [c.id for m in _all_media(ds) for c in m.comments]
    assert len(all_ids) == len(set(all_ids))


def test_media_kinds_and_order(ds: Dataset) -> None:
    media = _all_media(ds)
    assert {m.media_type for m in media} == {"IMAGE", "VIDEO", "CAROUSEL_ALBUM"}
    assert {m.media_product_type for m in media} == {"FEED", "REELS", "AD"}
    assert all(m.media_type == "VIDEO" for m in media if m.media_product_type == "REELS")
    for a in ds.accounts.values():
        ts = [m.timestamp for m in a.media]
        assert ts == sorted(ts, reverse=True)
    for m in media:
        if m.media_type == "CAROUSEL_ALBUM":
            assert 2 <= len(m.children) <= 5
            for c in m.children:
                assert c.caption is None
                assert c.permalink is None
                assert c.parent_id == m.id
                assert c.media_type in ("IMAGE", "VIDEO")
        else:
            assert m.children == []
    oldest = min(m.timestamp for m in media)
    assert oldest < dt.datetime(2024, 7, 1, tzinfo=dt.UTC)
    assert NOW - oldest > dt.timedelta(days=600)


def test_every_quirk_is_present_at_default_rate(ds: Dataset) -> None:
    media = _all_media(ds)
    accounts = list(ds.accounts.values())
    assert any(m.like_count_hidden for m in media)
    assert any(m.media_url is None for m in media)
    assert any(m.pre_conversion for m in media)
    assert all(m.timestamp < a.converted_at for a in accounts for m in a.media if m.pre_conversion)
    assert all(m.timestamp > a.converted_at for a in accounts for m in a.media if not m.pre_conversion)
    impressions_eligible = [
        m for m in media if m.timestamp <= dt.datetime(2024, 7, 1, tzinfo=dt.UTC) and not m.pre_conversion
    ]
    assert impressions_eligible, "need old, non-pre-conversion media for the v21 impressions rule"
    reels = [m for m in media if m.media_product_type == "REELS"]
    assert {m.shared_to_facebook for m in reels} == {True, False}
    live = [s for a in accounts for s in a.stories if NOW - s.timestamp < dt.timedelta(hours=24)]
    assert any(s.viewers < 5 for s in live)
    assert any(s.viewers >= 5 for s in live)
    comments = [c for m in media for c in m.comments]
    replies = [r for c in comments for r in c.replies]
    assert replies
    assert all(r.parent_id == c.id for c in comments for r in c.replies)
    assert all(r.replies == [] for r in replies), "only one nesting level"
    assert any(c.hidden for c in comments)
    assert all(a.tags for a in accounts)
    assert all(t.tagged_by and t.tagged_by != a.id for a in accounts for t in a.tags)
    assert any(t.like_count_hidden for a in accounts for t in a.tags)
    assert any(a.media_count != len(a.media) for a in accounts)
    assert all(abs(a.media_count - len(a.media)) <= 3 for a in accounts)
    assert any(a.followers_count < 100 for a in accounts)
    assert any(a.followers_count >= 100 for a in accounts)
    # a metric "without data" (absent, not 0) somewhere
    assert any(
        "follows" not in m.insights or "shares" not in m.insights for m in media if m.media_product_type == "FEED"
    )


def test_comment_counts_and_order(ds: Dataset) -> None:
    for m in _all_media(ds):
        assert m.comments_count == sum(1 + len(c.replies) for c in m.comments)
        ts = [c.timestamp for c in m.comments]
        assert ts == sorted(ts, reverse=True)
        assert all(m.timestamp < c.timestamp <= NOW for c in m.comments)
        if not m.is_comment_enabled:
            assert m.comments == []


def test_media_insights_are_consistent(ds: Dataset) -> None:
    for m in _all_media(ds):
        ins = m.insights
        if m.media_product_type in ("FEED", "REELS") and {"saved", "shares"} <= ins.keys():
            assert ins["total_interactions"] == ins["likes"] + ins["comments"] + ins["saved"] + ins["shares"]
            assert ins["likes"] == m.like_count
            assert ins["comments"] == m.comments_count
        assert ins["views"] >= ins["reach"]
        if "profile_activity" in ins:
            parts = m.insight_breakdowns["profile_activity"]
            assert set(parts) <= set(ACTION_TYPES)
            assert sum(parts.values()) == ins["profile_activity"]
        if m.media_product_type == "REELS":
            assert ins["ig_reels_aggregated_all_plays_count"] == ins["plays"] + ins["clips_replays_count"]
            assert ("crossposted_views" in ins) == m.shared_to_facebook
        # retired metrics still carry values so version rules can be exercised
        assert "impressions" in ins
        if m.media_type == "VIDEO" and m.media_product_type == "FEED":
            assert "video_views" in ins


def test_story_navigation_breakdown_sums(ds: Dataset) -> None:
    for a in ds.accounts.values():
        for s in a.stories:
            if "navigation" in s.insights:
                parts = s.insight_breakdowns["navigation"]
                assert set(parts) <= set(NAVIGATION_TYPES)
                assert sum(parts.values()) == s.insights["navigation"]
            assert s.insights["reach"] == s.viewers


def test_daily_insights_cover_days_ending_yesterday_with_consistent_breakdowns(ds: Dataset) -> None:
    yesterday = NOW.astimezone(PACIFIC).date() - dt.timedelta(days=1)
    metrics = {
        "reach", "views", "accounts_engaged", "total_interactions", "likes", "comments", "shares", "saves",
        "replies", "reposts", "profile_links_taps", "follows_and_unfollows", "follower_count", "impressions",
        "profile_views", "website_clicks",
    }  # fmt: skip
    for a in ds.accounts.values():
        days = [d.date for d in a.daily_insights]
        assert days[-1] == yesterday
        assert days == [yesterday - dt.timedelta(days=90 - 1 - i) for i in range(90)]
        for d in a.daily_insights:
            assert set(d.values) == metrics
            v = d.values
            assert v["total_interactions"] == v["likes"] + v["comments"] + v["shares"] + v["saves"] + v["replies"]
            assert v["accounts_engaged"] <= v["reach"]
            for metric, per_breakdown in d.breakdowns.items():
                for breakdown, parts in per_breakdown.items():
                    assert sum(parts.values()) == v[metric], (metric, breakdown)
            assert d.breakdowns["follows_and_unfollows"]["follow_type"].get("FOLLOWER", 0) == v["follower_count"]


def test_demographics_and_online_followers(ds: Dataset) -> None:
    yesterday = NOW.astimezone(PACIFIC).date() - dt.timedelta(days=1)
    for a in ds.accounts.values():
        assert set(a.demographics) == {"follower_demographics", "engaged_audience_demographics"}
        for per_tf in a.demographics.values():
            assert {"this_week", "this_month", "last_30_days", "prev_month"} <= set(per_tf)
            for tables in per_tf.values():
                joint = tables["age,gender"]
                assert sum(tables["age"].values()) == sum(joint.values()) == sum(tables["gender"].values())
                assert sum(tables["country"].values()) == sum(joint.values())
                assert len(tables["country"]) > 45 or sum(joint.values()) < 200
        assert sorted(a.online_followers) == [yesterday - dt.timedelta(days=29 - i) for i in range(30)]
        for hours in a.online_followers.values():
            assert list(hours) == [str(h) for h in range(24)]
            assert all(0 <= n <= a.followers_count * 1.2 for n in hours.values())
    small = [a for a in ds.accounts.values() if a.followers_count < 100]
    assert all(a.engagements_90d < 100 for a in small)


def test_benchmark_size_generates() -> None:
    """Speed smoke at the benchmark size (10 accounts x 300 media x 5 stories); no timing assert."""
    accounts, media, stories = 10, 300, 5
    d = generate(DatasetSpec(accounts=accounts, media=media, stories=stories), now=NOW)
    assert len(d.accounts) == accounts
    assert sum(len(a.media) for a in d.accounts.values()) == accounts * media
    assert all(
        sum(NOW - s.timestamp < dt.timedelta(hours=24) for s in a.stories) == stories for a in d.accounts.values()
    )


def test_quirk_rate_zero_plants_no_object_quirks() -> None:
    d = generate(DatasetSpec(quirk_rate=0.0), now=NOW)
    media = _all_media(d)
    assert not any(m.pre_conversion or m.like_count_hidden or m.media_url is None for m in media)
    assert not any(c.hidden for m in media for c in m.comments)
    live = [s for a in d.accounts.values() for s in a.stories if NOW - s.timestamp < dt.timedelta(hours=24)]
    assert all(s.viewers >= 5 for s in live)

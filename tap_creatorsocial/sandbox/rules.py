"""Meta's Instagram Graph API rules, as data tables plus the functions that apply them.

Everything the emulator must refuse or omit lives here, so that `api.py` (HTTP mechanics) and `truth.py` (the expected
dataset) can never disagree: node field lists per login host and their omission rules (§3), media-insight validity per
product type / version / media (§4a), user-insight rules (§4b), API versions (§0) and permissions (§1, §3, §4).
Section numbers refer to /work/shared/reference/graph-api.md.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

from . import errors
from .dataset import day_end_utc
from .errors import GraphError
from .model import Account, Comment, DailyInsights, Media, Page

UTC = dt.UTC
FB_HOST = "graph.facebook.com"
IG_HOST = "graph.instagram.com"

# ---------------------------------------------------------------------------------------------------------------
# Versions (§0)
# ---------------------------------------------------------------------------------------------------------------

KNOWN_VERSIONS: tuple[int, ...] = tuple(range(18, 27))
DEFAULT_VERSION = 25
# version -> last day it is served (None = no end date announced)                                           §0 VERS
VERSION_AVAILABLE_UNTIL: dict[int, dt.date | None] = {
    18: dt.date(2026, 1, 26),
    19: dt.date(2026, 5, 21),
    20: dt.date(2026, 9, 24),
    21: dt.date(2027, 1, 21),
    22: dt.date(2027, 5, 20),
    23: dt.date(2027, 10, 8),
    24: dt.date(2028, 2, 18),
    25: dt.date(2028, 7, 29),
    26: None,
}
_VERSION_RE = re.compile(r"v(\d{1,2})\.(\d{1,2})")


def oldest_available_version(now: dt.datetime | None = None) -> int:
    """Oldest version still served at ``now``: expired versions are defaulted to it (§0)."""
    today = (now or dt.datetime.now(UTC)).astimezone(UTC).date()
    for v in KNOWN_VERSIONS:
        until = VERSION_AVAILABLE_UNTIL[v]
        if until is None or today <= until:
            return v
    return KNOWN_VERSIONS[-1]


def parse_version(segment: str, now: dt.datetime | None = None) -> int | None:
    """``"v25.0"`` → 25. Garbage or a version newer than any released → None.

    Retired versions (older than the oldest available at ``now``, e.g. v17.0 or v2.12) are silently served by the
    oldest available one, as Meta does (§0).
    """
    m = _VERSION_RE.fullmatch(segment.strip())
    if not m:
        return None
    major, minor = int(m.group(1)), int(m.group(2))
    if major > KNOWN_VERSIONS[-1] or (major >= 3 and minor != 0):
        return None
    oldest = oldest_available_version(now)
    return max(major, oldest)


def format_ts(ts: dt.datetime) -> str:
    """Meta's timestamp format: ``2017-08-31T19:16:02+0000`` (§3b)."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    elif ts.tzinfo is not UTC:
        ts = ts.astimezone(UTC)
    return f"{ts.year:04d}-{ts.month:02d}-{ts.day:02d}T{ts.hour:02d}:{ts.minute:02d}:{ts.second:02d}+0000"


# ---------------------------------------------------------------------------------------------------------------
# Nodes and fields (§3)
# ---------------------------------------------------------------------------------------------------------------

NODE_TYPE_NAMES: dict[str, str] = {
    "user": "IGUser",
    "account": "IGUser",
    "media": "IGMedia",
    "story": "IGMedia",
    "comment": "IGComment",
    "page": "Page",
    "fb_user": "User",
}

# IG User (FB Login) §3a; IG-Login /me adds user_id, account_type §1b
USER_FIELDS_FB: frozenset[str] = frozenset(
    {
        "id", "ig_id", "username", "name", "biography", "website", "profile_picture_url", "followers_count",
        "follows_count", "media_count", "has_profile_pic", "is_published", "legacy_instagram_user_id",
    }
)  # fmt: skip
USER_FIELDS_IG: frozenset[str] = frozenset(
    {
        "id", "user_id", "username", "name", "account_type", "profile_picture_url", "followers_count",
        "follows_count", "media_count", "biography", "website",
    }
)  # fmt: skip
USER_EDGES: frozenset[str] = frozenset({"media", "stories", "tags", "insights"})

# IG Media §3b. FB-only: alt_text, legacy id, the 2026-04-22 counters.
_MEDIA_COMMON = {
    "id", "caption", "media_type", "media_product_type", "media_url", "permalink", "shortcode", "thumbnail_url",
    "timestamp", "like_count", "comments_count", "is_comment_enabled", "is_shared_to_feed", "username", "owner",
}  # fmt: skip
MEDIA_FIELDS_FB: frozenset[str] = frozenset(
    _MEDIA_COMMON
    | {
        "alt_text", "legacy_instagram_media_id", "saved_count", "shares_count", "reposts_count", "total_like_count",
        "total_comments_count", "total_views_count",
    }
)  # fmt: skip
MEDIA_FIELDS_IG: frozenset[str] = frozenset(_MEDIA_COMMON)
MEDIA_EDGES: frozenset[str] = frozenset({"children", "comments", "insights"})
# Fields that error when requested instead of being unknown (§3b: video_title removed from v14)
REMOVED_MEDIA_FIELDS: dict[str, int] = {"video_title": 14}

# IG Comment §3e
COMMENT_FIELDS: frozenset[str] = frozenset(
    {"id", "text", "timestamp", "username", "from", "like_count", "hidden", "media", "parent_id", "user",
     "legacy_instagram_comment_id"}
)  # fmt: skip
COMMENT_EDGES: frozenset[str] = frozenset({"replies"})

# Page (discovery, §1a)
PAGE_FIELDS: frozenset[str] = frozenset(
    {"id", "name", "category", "category_list", "tasks", "access_token", "instagram_business_account"}
)
# What Meta returns when no `fields=` is given
DEFAULT_FIELDS: dict[str, tuple[str, ...]] = {
    "user": ("id",),
    "media": ("id",),
    "comment": ("timestamp", "text", "id"),  # §3e sample
    "page": ("access_token", "category", "category_list", "name", "id", "tasks"),  # §1a /me/accounts sample
}
PAGE_CATEGORY = {"id": "2700", "name": "Digital creator"}


def node_type_name(kind: str) -> str:
    """Node type as Meta names it in ``Tried accessing nonexisting field (x) on node type (IGMedia)``."""
    return NODE_TYPE_NAMES.get(kind, kind)


def check_media_field(name: str, version: int) -> None:
    """Raise the deprecation error for removed media fields (``video_title`` → code 12 from v14, §3b)."""
    since = REMOVED_MEDIA_FIELDS.get(name)
    if since is not None and version >= since:
        raise errors.deprecated_field(name, since)


def user_node(account: Account, host: str) -> dict[str, Any]:
    """All field values of an IG User node on ``host``; keys absent where Meta omits them (§3a, §1b)."""
    node: dict[str, Any] = {"id": account.id}
    if host == IG_HOST:
        node["user_id"] = account.id
    node["username"] = account.username
    node["name"] = account.name
    if host == IG_HOST:
        node["account_type"] = account.account_type
    node["biography"] = account.biography
    if account.website:
        node["website"] = account.website
    node["profile_picture_url"] = account.profile_picture_url
    node["followers_count"] = account.followers_count
    node["follows_count"] = account.follows_count
    node["media_count"] = account.media_count
    if host != IG_HOST:
        legacy = str(int(account.id[-10:]) + 1_000_000_000)
        node["ig_id"] = int(legacy)
        node["legacy_instagram_user_id"] = legacy
        node["has_profile_pic"] = True
        node["is_published"] = True
    return node


def media_node(media: Media, host: str, *, indirect: bool) -> dict[str, Any]:
    """All field values of an IG Media node as Meta serves it to the owner, with the omission rules (§3b, §9).

    * ``like_count`` omitted when the owner hid likes AND the media is reached indirectly (edge / expansion);
    * ``media_url`` omitted when withheld (copyright / downloads disabled);
    * ``thumbnail_url`` only on VIDEO; ``caption`` / ``permalink`` / ``comments_count`` absent on album children;
    * ``owner`` absent on media of other users (tags). The API layer also drops it for non-owner tokens.
    """
    child = media.parent_id is not None
    node: dict[str, Any] = {"id": media.id}
    if media.caption is not None and not child:
        node["caption"] = media.caption
    node["media_type"] = media.media_type
    node["media_product_type"] = media.media_product_type
    if media.media_url is not None:
        node["media_url"] = media.media_url
    if media.permalink is not None and not child:
        node["permalink"] = media.permalink
    if media.shortcode is not None:
        node["shortcode"] = media.shortcode
    if media.media_type == "VIDEO" and media.thumbnail_url is not None:
        node["thumbnail_url"] = media.thumbnail_url
    node["timestamp"] = format_ts(media.timestamp)
    if not child:
        if not (media.like_count_hidden and indirect):
            node["like_count"] = media.like_count
        node["comments_count"] = media.comments_count
        node["is_comment_enabled"] = media.is_comment_enabled
    if media.is_shared_to_feed is not None and media.media_product_type == "REELS":
        node["is_shared_to_feed"] = media.is_shared_to_feed
    node["username"] = media.username
    if media.tagged_by is None:
        node["owner"] = {"id": media.account_id}
    if host != IG_HOST and not child and media.tagged_by is None:
        # 2026-04-22 counters, Facebook Login only (§3b); absent when Meta has no value
        for fld, metric in _FB_COUNTER_FIELDS.items():
            if metric in media.insights:
                node[fld] = media.insights[metric]
    return node


_FB_COUNTER_FIELDS = {
    "saved_count": "saved",
    "shares_count": "shares",
    "reposts_count": "reposts",
    "total_like_count": "total_likes",
    "total_comments_count": "total_comments",
    "total_views_count": "total_views",
}


def comment_node(comment: Comment, media: Media | None = None) -> dict[str, Any]:
    """All field values of an IG Comment (§3e). ``parent_id`` only on replies; ``user`` never (requester ≠ author)."""
    node: dict[str, Any] = {
        "id": comment.id,
        "text": comment.text,
        "timestamp": format_ts(comment.timestamp),
        "username": comment.username,
        "from": {"id": comment.from_id, "username": comment.username},
        "like_count": comment.like_count,
        "hidden": comment.hidden,
        "media": {"id": comment.media_id}
        if media is None
        else {"id": media.id, "media_product_type": media.media_product_type},
    }
    if comment.parent_id is not None:
        node["parent_id"] = comment.parent_id
    return node


def page_node(page: Page) -> dict[str, Any]:
    """Page fields for discovery (§1a); ``access_token`` is added by the API layer from tokens.py."""
    node: dict[str, Any] = {
        "category": PAGE_CATEGORY["name"],
        "category_list": [dict(PAGE_CATEGORY)],
        "name": page.name,
        "id": page.id,
        "tasks": list(page.tasks),
    }
    if page.ig_account_id is not None:
        node["instagram_business_account"] = {"id": page.ig_account_id}
    return node


# ---------------------------------------------------------------------------------------------------------------
# Media insights (§4a, §8)
# ---------------------------------------------------------------------------------------------------------------

ALL_VERSIONS = None  # product available from the start (no launch date)
_D_2025_12_03 = dt.date(2025, 12, 3)
_D_2026_04_22 = dt.date(2026, 4, 22)
_D_2026_06_22 = dt.date(2026, 6, 22)
_D_2025_01_08 = dt.date(2025, 1, 8)  # video_views removed for all versions
_D_2025_04_21 = dt.date(2025, 4, 21)  # plays, clips_replays_count, ig_reels_aggregated_all_plays_count removed
IMPRESSIONS_MEDIA_CUTOFF = dt.datetime(2024, 7, 1, 23, 59, 59, tzinfo=UTC)  # "media created <= 2024-07-01"
STORY_INSIGHTS_TTL = dt.timedelta(hours=24)
STORY_MIN_VIEWERS = 5


@dataclass(frozen=True)
class MediaMetric:
    """Where one media metric exists. ``products`` maps product type → date it launched there (None: always)."""

    title: str
    description: str
    products: Mapping[str, dt.date | None]
    min_version: int = 18
    max_version: int | None = None  # inclusive; < 18 means retired on every known version (not even in the enum)
    created_on_or_before: dt.datetime | None = None
    fb_only: bool = False
    needs_fb_share: bool = False
    media_types: frozenset[str] | None = None
    breakdown: str | None = None
    removed_all_versions: dt.date | None = None  # "Removed for all versions" date of the deprecation timeline


_FRS = frozenset({"FEED", "REELS", "STORY"})
_FR = frozenset({"FEED", "REELS"})
_FS = frozenset({"FEED", "STORY"})


def _on(products: Iterable[str], since: dt.date | None = None) -> dict[str, dt.date | None]:
    return dict.fromkeys(products, since)


# Table §4a (2026-09 snapshot) + deprecation timeline. Order = order of the "must be one of" list.
MEDIA_METRICS: dict[str, MediaMetric] = {
    "impressions": MediaMetric("Impressions", "Total number of times the media object has been seen.",
                               _on(_FS), max_version=21, created_on_or_before=IMPRESSIONS_MEDIA_CUTOFF),
    "reach": MediaMetric("Accounts reached", "The number of unique accounts that have seen this media.", _on(_FRS)),
    "replies": MediaMetric("Replies", "The number of replies to the story.", _on({"STORY"})),
    "saved": MediaMetric("Saved", "The number of saves of your post.", _on(_FR)),
    "video_views": MediaMetric("Video views", "Total number of times the video has been seen.", _on({"FEED"}),
                               max_version=20, media_types=frozenset({"VIDEO"}),
                               removed_all_versions=_D_2025_01_08),
    "likes": MediaMetric("Likes", "The number of likes on your post.", _on(_FR)),
    "comments": MediaMetric("Comments", "The number of comments on your post.", _on(_FR)),
    "shares": MediaMetric("Shares", "The number of shares of your post.", _on(_FRS)),
    "plays": MediaMetric("Plays", "Number of times the reel starts to play.", _on({"REELS"}), max_version=21,
                        removed_all_versions=_D_2025_04_21),
    "total_interactions": MediaMetric(
        "Interactions", "Likes, saves, comments and shares on your post, minus unlikes, unsaves and deleted comments.",
        _on(_FRS)),
    "follows": MediaMetric("Follows", "The number of accounts that started following you.", _on(_FS)),
    "profile_visits": MediaMetric("Profile visits", "The number of times your profile was visited.", _on(_FS)),
    "profile_activity": MediaMetric("Profile activity",
                                    "The number of actions people take when they visit your profile after engaging "
                                    "with your post.", _on(_FS), breakdown="action_type"),
    "navigation": MediaMetric("Navigation", "The total number of actions taken from your story.", _on({"STORY"}),
                              breakdown="story_navigation_action_type"),
    "ig_reels_video_view_total_time": MediaMetric(
        "Watch time", "The total amount of time your reel was played, including replays (ms).", _on({"REELS"})),
    "ig_reels_avg_watch_time": MediaMetric("Average watch time", "The average amount of time spent playing the reel.",
                                           _on({"REELS"})),
    "clips_replays_count": MediaMetric("Replays", "The number of times the reel was replayed.", _on({"REELS"}),
                                       max_version=21, removed_all_versions=_D_2025_04_21),
    "ig_reels_aggregated_all_plays_count": MediaMetric("Plays", "Plays plus replays of the reel.", _on({"REELS"}),
                                                       max_version=21, removed_all_versions=_D_2025_04_21),
    "views": MediaMetric("Views", "The number of times your content was played or displayed.", _on(_FRS),
                         min_version=22),
    "reels_skip_rate": MediaMetric("Skip rate", "The share of views that skipped the reel in the first 3 seconds.",
                                   _on({"REELS"}, _D_2025_12_03)),
    "reposts": MediaMetric("Reposts", "The number of times the media was reposted.", _on(_FRS, _D_2025_12_03)),
    "crossposted_views": MediaMetric("Crossposted views", "Views of the reel on Instagram and Facebook.",
                                     _on({"REELS"}, _D_2025_12_03), needs_fb_share=True),
    "facebook_views": MediaMetric("Facebook views", "Views of the crossposted media on Facebook.",
                                  {"REELS": _D_2025_12_03, "FEED": _D_2026_04_22, "STORY": _D_2026_04_22},
                                  needs_fb_share=True),
    "total_likes": MediaMetric("Total likes", "Likes including Facebook crossposts and boosted versions.",
                               _on(_FR, _D_2026_04_22), fb_only=True),
    "total_comments": MediaMetric("Total comments", "Comments including Facebook crossposts and boosted versions.",
                                  _on(_FR, _D_2026_04_22), fb_only=True),
    "total_views": MediaMetric("Total views", "Views including Facebook crossposts and boosted versions.",
                               _on(_FRS, _D_2026_04_22), fb_only=True, media_types=frozenset({"VIDEO"})),
    "link_clicks": MediaMetric("Link clicks", "Taps on the link sticker of the story.",
                               _on({"STORY"}, _D_2026_06_22), fb_only=True),
    "content_views": MediaMetric("Content views", "Accepted by the SDK enum; returns no product type here.", {}),
    # retired on every known version (v18 deprecation, removed 2023-12-11): no longer even accepted names
    **{
        name: MediaMetric(name, "", _on(_FRS), max_version=17)
        for name in (
            "carousel_album_impressions", "carousel_album_reach", "carousel_album_engagement",
            "carousel_album_saved", "carousel_album_video_views", "taps_forward", "taps_back", "exits", "engagement",
        )
    },
}  # fmt: skip
MEDIA_BREAKDOWN_ENUM = ("action_type", "follow_type", "story_navigation_action_type", "surface_type")


def _launched(when: dt.date | None, now: dt.datetime) -> bool:
    return when is None or now.astimezone(UTC).date() >= when


def media_metric_enum(now: dt.datetime) -> list[str]:
    """Metric names Meta accepts at all at ``now`` (the list in ``metric[i] must be one of ...``)."""
    return list(_media_metric_enum(now.astimezone(UTC).date()))


@functools.lru_cache(maxsize=64)
def _media_metric_enum(today: dt.date) -> tuple[str, ...]:
    return tuple(
        name
        for name, rule in MEDIA_METRICS.items()
        if (rule.max_version is None or rule.max_version >= KNOWN_VERSIONS[0])
        and (not rule.products or any(d is None or today >= d for d in rule.products.values()))
    )


def media_metric_valid(name: str, version: int, host: str, media: Media, now: dt.datetime) -> bool:
    """Whether ``name`` may be requested for ``media`` on ``version`` / ``host`` (§4a table + timeline)."""
    rule = MEDIA_METRICS.get(name)
    if rule is None:
        return False
    product = media.media_product_type
    return (
        product in rule.products
        and _launched(rule.products[product], now)
        and version >= rule.min_version
        and (rule.max_version is None or version <= rule.max_version)
        and not (rule.fb_only and host == IG_HOST)
        and (rule.media_types is None or media.media_type in rule.media_types)
        and (rule.created_on_or_before is None or media.timestamp <= rule.created_on_or_before)
        and (rule.removed_all_versions is None or now.astimezone(UTC).date() < rule.removed_all_versions)
    )


def valid_media_metrics(version: int, host: str, media: Media, now: dt.datetime) -> list[str]:
    """Every metric a request for ``media`` may name (ignores the object-level blocks and FB-share condition)."""
    return [m for m in MEDIA_METRICS if media_metric_valid(m, version, host, media, now)]


def media_insights_block(media: Media, now: dt.datetime) -> GraphError | None:
    """Object-level reason why ``media`` has no insights at all (child, expired story, pre-conversion), else None."""
    if media.parent_id is not None:
        return errors.unsupported_get(media.id)  # album children: query the album (§4a)
    if media.media_product_type == "STORY" and now - media.timestamp > STORY_INSIGHTS_TTL:
        return errors.story_insights_expired()  # §8
    if media.pre_conversion:
        return errors.pre_conversion()  # §5c 100/2108006
    return None


def media_insights(
    version: int,
    host: str,
    media: Media,
    metrics: list[str],
    breakdown: str | None,
    period: str | None,
    now: dt.datetime,
) -> list[dict[str, Any]]:
    """The ``data`` items of ``GET /{media-id}/insights`` exactly as §4a shapes them, or raise ``GraphError``.

    A request naming one invalid metric fails as a whole (§4). ``period`` is accepted and ignored: media insights
    are always ``lifetime``. Metrics without data (absent from ``media.insights``) are left out, not zeroed.
    """
    del period  # accepted, response period is always lifetime (§4a)
    names = [m.strip() for m in metrics if m.strip()]
    if not names:
        raise errors.missing_parameter("metric")
    enum = _media_metric_enum(now.astimezone(UTC).date())
    for i, name in enumerate(names):
        if name not in enum:
            raise errors.metric_must_be_one_of(i, enum)
    block = media_insights_block(media, now)
    if block is not None:
        raise block
    invalid = [n for n in dict.fromkeys(names) if not media_metric_valid(n, version, host, media, now)]
    if invalid:
        raise errors.invalid_metric_for_product_type(invalid)
    breakdowns = [b.strip() for b in (breakdown or "").split(",") if b.strip()]
    for i, b in enumerate(breakdowns):
        if b not in MEDIA_BREAKDOWN_ENUM:
            raise errors.enum_param_invalid(f"breakdown[{i}]", MEDIA_BREAKDOWN_ENUM)
        if any(MEDIA_METRICS[n].breakdown != b for n in names):
            raise errors.unknown_error()  # metric/breakdown mismatch (§4a)
    for n in names:
        if MEDIA_METRICS[n].needs_fb_share and not media.shared_to_facebook:
            raise errors.crosspost_required(n)
    if media.media_product_type == "STORY" and media.viewers < STORY_MIN_VIEWERS:
        raise errors.not_enough_viewers()
    data: list[dict[str, Any]] = []
    for n in dict.fromkeys(names):
        if n not in media.insights:
            continue  # no data → nothing, not 0 (§4)
        rule = MEDIA_METRICS[n]
        value = media.insights[n]
        item: dict[str, Any] = {
            "name": n,
            "period": "lifetime",
            "values": [{"value": value}],
            "title": rule.title,
            "description": rule.description,
        }
        if breakdowns:
            parts = media.insight_breakdowns.get(n, {})
            item["total_value"] = {
                "value": value,
                "breakdowns": [
                    {
                        "dimension_keys": [breakdowns[0]],
                        "results": [{"dimension_values": [k], "value": v} for k, v in parts.items()],
                    }
                ],
            }
        item["id"] = f"{media.id}/insights/{n}/lifetime"
        data.append(item)
    return data


# ---------------------------------------------------------------------------------------------------------------
# User insights (§4b)
# ---------------------------------------------------------------------------------------------------------------

PERIOD_ENUM = ("day", "week", "days_28", "month", "lifetime", "total_over_range")
METRIC_TYPE_ENUM = ("time_series", "total_value")
TIMEFRAMES_VALID = ("this_month", "this_week")  # last_14/30/90_days, prev_month rejected since v20 (all versions)
MAX_WINDOW_SECONDS = 2_592_000  # 30 days (§4b)
FOLLOWER_FLOOR = 100
DEMOGRAPHICS_TOP = 45
PERIOD_DAYS = {"day": 1, "week": 7, "days_28": 28}

TS = frozenset({"time_series"})
TV = frozenset({"total_value"})
BOTH = frozenset({"time_series", "total_value"})
DAY = frozenset({"day"})
DWD = frozenset({"day", "week", "days_28"})
LIFETIME = frozenset({"lifetime"})
MPT = frozenset({"media_product_type"})
DEMO_BREAKDOWNS = frozenset({"age", "city", "country", "gender"})

Source = Literal["daily", "online", "demographics", "none"]


@dataclass(frozen=True)
class UserMetric:
    """Rules of one user-insights metric (§4b table + legacy notes)."""

    title: str
    description: str
    metric_types: frozenset[str]
    periods: frozenset[str]
    breakdowns: frozenset[str] = frozenset()
    min_version: int = 18
    max_version: int | None = None
    launched: dt.date | None = None
    min_followers: int = 0  # below it the metric is simply not returned
    min_engagements: int = 0
    retention_days: int | None = None  # only buckets ending within the last N days have data
    source: Source = "daily"
    removed_all_versions: dt.date | None = None  # "Removed for all versions" date of the deprecation timeline
    retired_error: Callable[[], GraphError] | None = field(default=None, compare=False)


USER_METRICS: dict[str, UserMetric] = {
    "reach": UserMetric("Accounts reached", "The number of unique accounts that have seen your content.", BOTH, DWD,
                        frozenset({"media_product_type", "follow_type"})),
    "views": UserMetric("Views", "The number of times your content was played or displayed.", TV, DWD,
                        frozenset({"follow_type", "media_product_type"}), min_version=22),
    "accounts_engaged": UserMetric("Accounts engaged", "The number of accounts that have interacted with your content.",
                                   TV, DAY),
    "total_interactions": UserMetric("Content interactions", "The total number of post, story and reel interactions.",
                                     TV, DAY, MPT),
    "likes": UserMetric("Likes", "The number of likes on your posts, reels and videos.", TV, DAY, MPT),
    "comments": UserMetric("Comments", "The number of comments on your posts, reels and videos.", TV, DAY, MPT),
    "shares": UserMetric("Shares", "The number of shares of your content.", TV, DAY, MPT),
    "saves": UserMetric("Saves", "The number of saves of your content.", TV, DAY, MPT),
    "replies": UserMetric("Replies", "The number of replies to your stories.", TV, DAY),
    "reposts": UserMetric("Reposts", "The number of reposts of your content.", TV, DAY, launched=_D_2025_12_03),
    "profile_links_taps": UserMetric("Profile links taps", "Taps on the contact buttons of your profile.", TV, DAY,
                                     frozenset({"contact_button_type"})),
    "follows_and_unfollows": UserMetric("Follows and unfollows", "Accounts that followed or unfollowed you.", TV, DAY,
                                        frozenset({"follow_type"}), min_followers=FOLLOWER_FLOOR),
    "follower_count": UserMetric("Follower count", "New followers each day.", TS, DAY,
                                 min_followers=FOLLOWER_FLOOR, retention_days=30),
    "impressions": UserMetric("Impressions", "Times your content was seen.", BOTH, DWD, max_version=21,
                              retired_error=errors.impressions_no_longer_supported_user,
                              removed_all_versions=_D_2025_04_21),
    "profile_views": UserMetric("Profile views", "Times your profile was viewed.", TV, DAY),
    "website_clicks": UserMetric("Website clicks", "Taps on the website link of your profile.", TV, DAY),
    "online_followers": UserMetric("Online followers", "Followers online per hour of the day.", TS, LIFETIME,
                                   min_followers=FOLLOWER_FLOOR, retention_days=30, source="online"),
    "follower_demographics": UserMetric("Follower demographics", "Demographic characteristics of your followers.",
                                        TV, LIFETIME, DEMO_BREAKDOWNS, min_followers=FOLLOWER_FLOOR,
                                        source="demographics"),
    "engaged_audience_demographics": UserMetric(
        "Engaged audience demographics", "Demographics of the accounts that engaged with your content.", TV, LIFETIME,
        DEMO_BREAKDOWNS, min_engagements=FOLLOWER_FLOOR, source="demographics"),
    "reached_audience_demographics": UserMetric(
        "Reached audience demographics", "Legacy: accepted, returns no data.", TV, LIFETIME, DEMO_BREAKDOWNS,
        source="none"),
}  # fmt: skip
USER_BREAKDOWN_ENUM = tuple(sorted({b for r in USER_METRICS.values() for b in r.breakdowns}))


def user_metric_enum(version: int, now: dt.datetime) -> list[str]:
    """Names accepted by ``/{ig-user-id}/insights`` on ``version`` at ``now``."""
    return [n for n, r in USER_METRICS.items() if _user_metric_exists(r, version, now)]


def _user_metric_exists(rule: UserMetric, version: int, now: dt.datetime) -> bool:
    return (
        version >= rule.min_version
        and (rule.max_version is None or version <= rule.max_version)
        and _launched(rule.launched, now)
        and (rule.removed_all_versions is None or now.astimezone(UTC).date() < rule.removed_all_versions)
    )


def user_metric_served(account: Account, metric: str) -> bool:
    """Follower / engagement floors: below them Meta returns nothing for the metric (§4b)."""
    rule = USER_METRICS[metric]
    return account.followers_count >= rule.min_followers and account.engagements_90d >= rule.min_engagements


def day_end(day: dt.date) -> dt.datetime:
    """End of a Pacific day's bucket in UTC (``end_time``, e.g. ``2026-01-11T08:00:00+0000``)."""
    return day_end_utc(day)


def bucket_has_data(metric: str, day: dt.date, now: dt.datetime) -> bool:
    """Retention rule: follower_count / online_followers only for the last 30 days (§4b)."""
    days = USER_METRICS[metric].retention_days
    return days is None or day_end(day) > now - dt.timedelta(days=days)


def _parse_unix(value: str, name: str) -> int:
    value = value.strip()
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    try:  # Meta also accepts strtotime strings; ISO dates/datetimes cover what clients send
        ts = dt.datetime.fromisoformat(value)
    except ValueError:
        raise errors.invalid_parameter(f"The parameter {name} must be a valid unix timestamp") from None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return int(ts.timestamp())


def _window(params: Mapping[str, str], now: dt.datetime) -> tuple[int, int]:
    since_s, until_s = params.get("since"), params.get("until")
    now_ts = int(now.timestamp())
    since = _parse_unix(since_s, "since") if since_s else None
    until = _parse_unix(until_s, "until") if until_s else None
    if since is None and until is None:
        return now_ts - 86_400, now_ts  # last 24 h (§4b)
    if until is None:
        until = now_ts
    if since is None:
        since = until - 86_400
    if since > until:
        raise errors.invalid_parameter("The since timestamp must be before the until timestamp")
    if until - since > MAX_WINDOW_SECONDS:
        raise errors.too_many_days()
    return since, until


def _split_list(value: str | None) -> list[str]:
    return [x.strip() for x in (value or "").split(",") if x.strip()]


def _days_in_window(account: Account, since: int, until: int) -> list[DailyInsights]:
    """Days whose bucket ends in (since, until]; bisected, as every per-day call asks it of the whole history."""
    days = account.daily_insights  # oldest first

    def ends(d: DailyInsights) -> int:
        return int(day_end(d.date).timestamp())  # whole seconds: Pacific midnights

    return days[bisect.bisect_right(days, since, key=ends) : bisect.bisect_right(days, until, key=ends)]


def _rolling(account: Account, metric: str, day: dt.date, n: int) -> int:
    lo = day - dt.timedelta(days=n - 1)
    return sum(d.values.get(metric, 0) for d in account.daily_insights if lo <= d.date <= day)


def _paging(base_url: str, params: Mapping[str, str], since: int, until: int) -> dict[str, str]:
    span = until - since
    out = {}
    for key, (s, u) in (("previous", (since - span, since)), ("next", (until, until + span))):
        q = dict(params)
        q["since"], q["until"] = str(s), str(u)
        out[key] = f"{base_url}?{urlencode(q)}"
    return out


def demographic_results(
    account: Account, metric: str, timeframe: str, breakdowns: list[str]
) -> list[dict[str, Any]] | None:
    """Top-45 results for a demographics breakdown (dimension values prefixed by the uppercase timeframe)."""
    per_tf = account.demographics.get(metric, {}).get(timeframe)
    if per_tf is None:
        return None
    key = ",".join(sorted(breakdowns, key=["age", "gender", "country", "city"].index))
    table = per_tf.get(key)
    if table is None:
        return None
    order = [key.split(",").index(b) for b in breakdowns]
    top = sorted(table.items(), key=lambda kv: (-kv[1], kv[0]))[:DEMOGRAPHICS_TOP]
    results = []
    for dims, value in top:
        parts = dims.split(",") if len(breakdowns) > 1 else [dims]
        results.append({"dimension_values": [timeframe.upper(), *[parts[i] for i in order]], "value": value})
    return results


def user_insights(
    version: int, host: str, account: Account, params: Mapping[str, str], now: dt.datetime, base_url: str
) -> dict[str, Any]:
    """The whole body of ``GET /{ig-user-id}/insights`` (§4b), or raise ``GraphError``.

    ``params`` is the request's query (access_token may be in it: Meta keeps it in paging URLs); ``base_url`` is the
    endpoint URL without query, on which ``paging.previous/next`` are built.
    """
    del host  # same rules on both hosts (IG Login has insights since 2025-01-21)
    names = _split_list(params.get("metric"))
    if not names:
        raise errors.missing_parameter("metric")
    enum = user_metric_enum(version, now)
    for i, name in enumerate(names):
        rule = USER_METRICS.get(name)
        if rule is not None and rule.retired_error and (
            (rule.max_version is not None and version > rule.max_version)
            or (rule.removed_all_versions is not None and now.astimezone(UTC).date() >= rule.removed_all_versions)
        ):
            raise rule.retired_error()
        if name not in enum:
            raise errors.metric_must_be_one_of(i, enum)
    names = list(dict.fromkeys(names))
    rules = [USER_METRICS[n] for n in names]

    period = (params.get("period") or "").strip()
    if not period:
        raise errors.missing_parameter("period")
    if period not in PERIOD_ENUM:
        raise errors.enum_param_invalid("period", PERIOD_ENUM)
    metric_type = (params.get("metric_type") or "time_series").strip()
    if metric_type not in METRIC_TYPE_ENUM:
        raise errors.enum_param_invalid("metric_type", METRIC_TYPE_ENUM)
    if metric_type == "time_series":
        need_tv = [n for n, r in zip(names, rules, strict=True) if "time_series" not in r.metric_types]
        if need_tv:
            raise errors.metric_type_required(need_tv)
    else:
        for n, r in zip(names, rules, strict=True):
            if metric_type not in r.metric_types:
                raise errors.metric_type_incompatible(n, metric_type)
    if any(period not in r.periods for r in rules):
        raise errors.period_invalid()

    breakdowns = _split_list(params.get("breakdown"))
    if breakdowns and metric_type != "total_value":
        raise errors.breakdown_needs_total_value()
    for n, r in zip(names, rules, strict=True):
        for b in breakdowns:
            if b not in r.breakdowns:
                raise errors.breakdown_invalid(n, b)
        if r.source != "demographics" and len(breakdowns) > 1:
            raise errors.breakdown_invalid(n, ",".join(breakdowns))

    demo = [n for n, r in zip(names, rules, strict=True) if r.source in ("demographics", "none")]
    timeframe = (params.get("timeframe") or "").strip()
    if demo:
        if not timeframe:
            raise errors.timeframe_required(demo)
        if timeframe not in TIMEFRAMES_VALID:
            raise errors.enum_param_invalid("timeframe", TIMEFRAMES_VALID)
        if not breakdowns:
            raise errors.breakdown_required(demo)
        if len(breakdowns) > 1 and sorted(breakdowns) != ["age", "gender"]:
            raise errors.breakdown_invalid(demo[0], ",".join(breakdowns))

    windowed = len(demo) < len(names)
    since, until = _window(params, now) if windowed else (0, 0)
    data: list[dict[str, Any]] = []
    for n, r in zip(names, rules, strict=True):
        if not user_metric_served(account, n):
            continue
        item = _user_item(account, n, r, period, metric_type, breakdowns, timeframe, since, until, now)
        if item is not None:
            data.append(item)
    body: dict[str, Any] = {"data": data}
    if windowed:
        body["paging"] = _paging(base_url, params, since, until)
    return body


def _user_item(
    account: Account,
    name: str,
    rule: UserMetric,
    period: str,
    metric_type: str,
    breakdowns: list[str],
    timeframe: str,
    since: int,
    until: int,
    now: dt.datetime,
) -> dict[str, Any] | None:
    """One ``data`` item, or None when Meta has no data for it (empty, not 0)."""
    head: dict[str, Any] = {"name": name, "period": period}
    tail = {"title": rule.title, "description": rule.description}
    ident = f"{account.id}/insights/{name}/{period}"
    if rule.source == "none":
        return None
    if rule.source == "demographics":
        results = demographic_results(account, name, timeframe, breakdowns)
        if not results:
            return None
        total = {"breakdowns": [{"dimension_keys": ["timeframe", *breakdowns], "results": results}]}
        return {**head, **tail, "total_value": total, "id": ident}
    if rule.source == "online":
        values = [
            {"value": dict(hours), "end_time": format_ts(day_end(day))}
            for day, hours in sorted(account.online_followers.items())
            if since < day_end(day).timestamp() <= until and bucket_has_data(name, day, now)
        ]
        return {**head, "values": values, **tail, "id": ident} if values else None
    days = [d for d in _days_in_window(account, since, until) if bucket_has_data(name, d.date, now)]
    days = [d for d in days if name in d.values]
    if not days:
        return None
    if metric_type == "time_series":
        n = PERIOD_DAYS.get(period, 1)
        series: list[dict[str, Any]] = [
            {
                "value": d.values[name] if n == 1 else _rolling(account, name, d.date, n),
                "end_time": format_ts(day_end(d.date)),
            }
            for d in days
        ]
        return {**head, "values": series, **tail, "id": ident}
    total_value: dict[str, Any] = {"value": sum(d.values[name] for d in days)}
    if breakdowns:
        b = breakdowns[0]
        sums: dict[str, int] = {}
        for d in days:
            for dim, v in d.breakdowns.get(name, {}).get(b, {}).items():
                sums[dim] = sums.get(dim, 0) + v
        total_value["breakdowns"] = [
            {"dimension_keys": [b], "results": [{"dimension_values": [k], "value": v} for k, v in sums.items()]}
        ]
    return {**head, **tail, "total_value": total_value, "id": ident}


def served_daily_values(version: int, account: Account, now: dt.datetime) -> dict[dt.date, dict[str, int]]:
    """Per-day values of every daily user metric the API serves on ``version`` for ``account`` (truth.py)."""
    enum = set(user_metric_enum(version, now))
    metrics = [
        n for n, r in USER_METRICS.items() if r.source == "daily" and n in enum and user_metric_served(account, n)
    ]
    out: dict[dt.date, dict[str, int]] = {}
    for d in account.daily_insights:
        vals = {m: d.values[m] for m in metrics if m in d.values and bucket_has_data(m, d.date, now)}
        if vals:
            out[d.date] = vals
    return out


# ---------------------------------------------------------------------------------------------------------------
# Permissions (§1a, §1b, §3, §4)
# ---------------------------------------------------------------------------------------------------------------

REQUIRED_SCOPES: dict[str, dict[str, tuple[str, ...]]] = {
    FB_HOST: {
        "accounts": ("pages_show_list",),  # /me/accounts discovery
        "page": ("pages_show_list",),
        "user": ("instagram_basic",),
        "media": ("instagram_basic", "pages_read_engagement"),
        "stories": ("instagram_basic", "pages_read_engagement"),  # §3d
        "tags": ("instagram_basic", "instagram_manage_comments", "pages_read_engagement"),  # §3f
        "comments": ("instagram_basic", "instagram_manage_comments"),  # §3e
        "replies": ("instagram_basic", "instagram_manage_comments"),
        "media_insights": ("instagram_basic", "instagram_manage_insights"),  # §4
        "user_insights": ("instagram_basic", "instagram_manage_insights"),
    },
    IG_HOST: {
        "user": ("instagram_business_basic",),
        "media": ("instagram_business_basic",),
        "stories": ("instagram_business_basic",),
        "tags": ("instagram_business_basic",),
        "comments": ("instagram_business_basic", "instagram_business_manage_comments"),
        "replies": ("instagram_business_basic", "instagram_business_manage_comments"),
        "media_insights": ("instagram_business_basic", "instagram_business_manage_insights"),
        "user_insights": ("instagram_business_basic", "instagram_business_manage_insights"),
    },
}


def missing_scope(host: str, endpoint_kind: str, granted: Collection[str]) -> str | None:
    """First scope ``endpoint_kind`` needs on ``host`` that ``granted`` lacks, else None."""
    for scope in REQUIRED_SCOPES.get(host, {}).get(endpoint_kind, ()):
        if scope not in granted:
            return scope
    return None

"""The tap's metric catalog: which insights it asks Meta for, per product type, media type, login and API version.

API knowledge lives here as data (records), so a Meta change is a one-line edit and the schema/docs follow. Every fact
comes from reference/graph-api.md (§4a media insights, §4b user insights, §8 stories). This module models what the
*tap requests*; it deliberately shares nothing with the sandbox emulator, which models *Meta*.

The catalog describes the API as of ``CATALOG_AS_OF`` (the reference snapshot): removals "for all versions" dated
before it are in force on every version, additions dated before it are available.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

from tap_creatorsocial.catalog.versions import NEWEST_KNOWN_VERSION, SUPPORTED_VERSIONS, format_api_version

# --------------------------------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------------------------------

CATALOG_AS_OF = date(2026, 9, 11)
"""Date of the newest reference snapshot (IG changelog fetch) the catalog reflects."""

FEED = "FEED"
REELS = "REELS"
STORY = "STORY"
AD = "AD"
ORGANIC_PRODUCT_TYPES: frozenset[str] = frozenset({FEED, REELS, STORY})
"""Product types with organic insights; ``AD`` has none and IGTV is reported as ``FEED`` since 2022."""

IMAGE = "IMAGE"
VIDEO = "VIDEO"
CAROUSEL_ALBUM = "CAROUSEL_ALBUM"

LOGIN_FACEBOOK = "facebook"
LOGIN_INSTAGRAM = "instagram"
LOGINS: frozenset[str] = frozenset({LOGIN_FACEBOOK, LOGIN_INSTAGRAM})

MetricLogin = Literal["both", "facebook"]
"""Which login path can request a metric: ``both`` hosts, or Facebook Login (graph.facebook.com) only."""

TOTAL_VALUE = "total_value"
TIME_SERIES = "time_series"

ACCOUNT_INSIGHTS_PERIOD = "day"
AUDIENCE_PERIOD = "lifetime"

MAX_METRICS_PER_CALL = 20
"""Cap on metric names in one insights call.

Meta documents no limit (UNCERTAIN); the cap keeps URLs short and bounds what one failing call takes down (an invalid
metric fails the whole call, §4). Current catalogs never reach it, so in practice every group is one call.
"""


def _chunks(names: Sequence[str], size: int = MAX_METRICS_PER_CALL) -> list[list[str]]:
    """Split a metric list into calls of at most ``size`` names (never an empty call)."""
    return [list(names[i : i + size]) for i in range(0, len(names), size)]


def _gone(last_version: int | None, retired_all_versions: date | None, version: int) -> bool:
    """A metric is gone after its last version, or everywhere once its all-versions removal date has passed."""
    if retired_all_versions is not None and retired_all_versions <= CATALOG_AS_OF:
        return True
    return last_version is not None and version > last_version


def _version_span(first: int | None, last: int | None, retired_all: date | None) -> str:
    """Human text such as ``v22.0+`` or ``≤ v21.0 (all versions from 2025-04-21)`` for docs."""
    if last is None:
        return f"{format_api_version(first)}+" if first is not None else "all"
    last_text = format_api_version(last)
    text = f"≤ {last_text}" if first is None else f"{format_api_version(first)} to {last_text}"
    if retired_all is not None:
        text += f"; removed on all versions {retired_all.isoformat()}"
    return text


# --------------------------------------------------------------------------------------------------------------------
# Media insights (§4a, §8)
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MediaMetric:
    """One media-insights metric and the conditions under which the tap may ask for it."""

    name: str
    product_types: frozenset[str]
    description: str
    carousel: bool = True
    """For FEED: whether it applies to ``CAROUSEL_ALBUM`` media (children never have insights)."""
    media_types: frozenset[str] | None = None
    """Restrict to these ``media_type`` values (e.g. video-only metrics); None = any."""
    first_version: int | None = None
    last_version: int | None = None
    """Last version where the metric works; None = current."""
    introduced: date | None = None
    retired_all_versions: date | None = None
    """Date from which Meta removed it on every version (older versions included)."""
    created_before: date | None = None
    """Only media created on or before this UTC date (inclusive)."""
    created_after: date | None = None
    """Only media created after this UTC date (exclusive)."""
    breakdown: str | None = None
    """Breakdown the tap sends with it; breakdowns are per call, so such a metric gets its own call."""
    login: MetricLogin = "both"
    needs_facebook_share: bool = False
    """Meta errors for media not shared to Facebook, so the tap requests it only on demand and in its own call."""
    default: bool = True
    unit: str = "count"
    uncertain: str | None = None
    """Why a rule here is a decision rather than a documented fact, if it is."""

    @property
    def retired(self) -> bool:
        """True when the metric no longer works on the newest known version (its column stays for history)."""
        return _gone(self.last_version, self.retired_all_versions, NEWEST_KNOWN_VERSION)

    def available_on(self, version: int) -> bool:
        """Whether Meta serves this metric on ``version`` (ignoring media-specific conditions)."""
        if self.first_version is not None and version < self.first_version:
            return False
        if self.introduced is not None and self.introduced > CATALOG_AS_OF:
            return False
        return not _gone(self.last_version, self.retired_all_versions, version)

    def applies_to(self, product_type: str, media_type: str, created: date | None) -> bool:
        """Whether the metric exists for this kind of media (``created`` None = recent media)."""
        if product_type not in self.product_types:
            return False
        if media_type == CAROUSEL_ALBUM and not self.carousel:
            return False
        if self.media_types is not None and media_type not in self.media_types:
            return False
        if self.created_before is not None and (created is None or created > self.created_before):
            return False
        return not (self.created_after is not None and created is not None and created <= self.created_after)

    @property
    def versions_text(self) -> str:
        """Version span for docs."""
        return _version_span(self.first_version, self.last_version, self.retired_all_versions)


_F = frozenset({FEED})
_R = frozenset({REELS})
_S = frozenset({STORY})
_FR = frozenset({FEED, REELS})
_FS = frozenset({FEED, STORY})
_FRS = frozenset({FEED, REELS, STORY})
_DEC_2025 = date(2025, 12, 3)
_APR_2026 = date(2026, 4, 22)
_DATED_ADDITION = (
    "changelog entry is dated, not versioned; assumed available on every supported version "
    "(a wrong guess fails one call and is recovered by the tap's per-metric fallback, a missed metric is silent)"
)

MEDIA_METRICS: tuple[MediaMetric, ...] = (
    # --- current (doc table, 2026-09 snapshot) ---
    MediaMetric("views", _FRS, "Times the media was on screen; replaces impressions, plays and video_views.",
                first_version=22, introduced=date(2025, 1, 21)),
    MediaMetric("reach", _FRS, "Unique accounts that saw the media."),
    MediaMetric("likes", _FR, "Likes on the media."),
    MediaMetric("comments", _FR, "Comments on the media."),
    MediaMetric("saved", _FR, "Saves of the media (the account-level metric is called saves)."),
    MediaMetric("shares", _FRS, "Shares of the media."),
    MediaMetric("total_interactions", _FRS, "Likes, saves, comments and shares (stories: replies and shares).",
                first_version=18),
    MediaMetric("follows", _FS, "Accounts that started following from this media."),
    MediaMetric("profile_visits", _FS, "Profile visits from this media."),
    MediaMetric("profile_activity", _FS,
                "Actions on the profile after engaging with the media, by action_type "
                "(BIO_LINK_CLICKED, CALL, DIRECTION, EMAIL, OTHER, TEXT).",
                breakdown="action_type", created_after=date(2017, 10, 26)),
    MediaMetric("replies", _S, "Replies to the story (always 0 for stories created in the EU/EEA or Japan)."),
    MediaMetric("navigation", _S,
                "Story navigation actions by story_navigation_action_type "
                "(tap_forward, tap_back, tap_exit, swipe_forward); replaces taps_forward/taps_back/exits.",
                breakdown="story_navigation_action_type"),
    MediaMetric("ig_reels_avg_watch_time", _R, "Average time spent playing the reel.", unit="milliseconds"),
    MediaMetric("ig_reels_video_view_total_time", _R, "Total time the reel was played, replays included.",
                unit="milliseconds"),
    MediaMetric("reels_skip_rate", _R, "Share of views where the reel was skipped in the first seconds.",
                introduced=_DEC_2025, unit="rate", uncertain=_DATED_ADDITION),
    MediaMetric("reposts", _FRS, "Reposts of the media.", introduced=_DEC_2025, uncertain=_DATED_ADDITION),
    MediaMetric("crossposted_views", _R, "Views of the reel including its Facebook crosspost.",
                introduced=_DEC_2025, needs_facebook_share=True, default=False, uncertain=_DATED_ADDITION),
    MediaMetric("facebook_views", _FRS,
                "Views of the media's Facebook share (REELS since 2025-12-03, FEED/STORY since 2026-04-22).",
                introduced=_APR_2026, needs_facebook_share=True, default=False,
                uncertain=_DATED_ADDITION + "; carousel support not stated, assumed"),
    MediaMetric("link_clicks", _S, "Link sticker taps on the story.", introduced=date(2026, 6, 22),
                login="facebook", uncertain=_DATED_ADDITION),
    MediaMetric("total_likes", _FR, "Likes including Facebook crossposts and boosted copies.",
                introduced=_APR_2026, login="facebook", uncertain=_DATED_ADDITION),
    MediaMetric("total_comments", _FR, "Comments including Facebook crossposts and boosted copies.",
                introduced=_APR_2026, login="facebook", uncertain=_DATED_ADDITION),
    MediaMetric("total_views", _FRS, "Views including Facebook crossposts and boosted copies (video media).",
                carousel=False, media_types=frozenset({VIDEO}), introduced=_APR_2026, login="facebook",
                uncertain=_DATED_ADDITION + "; doc says 'video media', carousels excluded"),
    # --- retired: kept so their columns never disappear and docs say when they went ---
    MediaMetric("impressions", _FS,
                "Times the media was on screen (superseded by views). Only v21.0 and older, and only for media "
                "created on or before 2024-07-01.",
                last_version=21, created_before=date(2024, 7, 1)),
    MediaMetric("plays", _R, "Reel plays (superseded by views).",
                last_version=21, retired_all_versions=date(2025, 4, 21)),
    MediaMetric("clips_replays_count", _R, "Reel replays (superseded by views).",
                last_version=21, retired_all_versions=date(2025, 4, 21)),
    MediaMetric("ig_reels_aggregated_all_plays_count", _R, "Reel plays incl. replays (superseded by views).",
                last_version=21, retired_all_versions=date(2025, 4, 21)),
    MediaMetric("video_views", _F, "Feed video views (superseded by views).", carousel=False,
                media_types=frozenset({VIDEO}), last_version=20, retired_all_versions=date(2025, 1, 8)),
    *(
        MediaMetric(f"carousel_album_{base}", _F, f"Carousel {base.replace('_', ' ')} (now the plain metric).",
                    media_types=frozenset({CAROUSEL_ALBUM}), last_version=17, retired_all_versions=date(2023, 12, 11))
        for base in ("impressions", "reach", "engagement", "saved", "video_views")
    ),
    MediaMetric("taps_forward", _S, "Taps to the next story (now navigation).", last_version=17,
                retired_all_versions=date(2023, 12, 11)),
    MediaMetric("taps_back", _S, "Taps to the previous story (now navigation).", last_version=17,
                retired_all_versions=date(2023, 12, 11)),
    MediaMetric("exits", _S, "Exits from the story (now navigation).", last_version=17,
                retired_all_versions=date(2023, 12, 11)),
    MediaMetric("engagement", _F, "Likes + comments + saves (now total_interactions).", carousel=False,
                last_version=17, retired_all_versions=date(2023, 12, 11)),
)

MEDIA_METRICS_BY_NAME: dict[str, MediaMetric] = {m.name: m for m in MEDIA_METRICS}

ALL_MEDIA_METRIC_NAMES: tuple[str, ...] = tuple(m.name for m in MEDIA_METRICS)
"""Every media metric ever known, retired ones included, so schema columns never disappear."""


@dataclass(frozen=True)
class MetricRequest:
    """One metric the tap will ask for, with the breakdown to send alongside it (None = no breakdown)."""

    metric: str
    breakdown: str | None


def _check_version(version: int) -> None:
    """Reject versions whose rules the catalog doesn't know (callers parse settings with ``parse_api_version``)."""
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(
            f"Unknown API version {version!r}; the catalog knows {format_api_version(SUPPORTED_VERSIONS[0])} … "
            f"{format_api_version(SUPPORTED_VERSIONS[-1])}. Parse the api_version setting with parse_api_version()."
        )


def _normalise_login(login: str) -> str:
    value = login.strip().lower()
    if value not in LOGINS:
        raise ValueError(
            f"Unknown login {login!r}: expected one of {sorted(LOGINS)} "
            "('facebook' = graph.facebook.com via a Page, 'instagram' = graph.instagram.com)."
        )
    return value


def _utc_date(created: datetime | None) -> date | None:
    """UTC calendar date of a media timestamp; naive datetimes are taken as UTC (Graph timestamps are +0000)."""
    if created is None:
        return None
    if created.tzinfo is not None:
        created = created.astimezone(UTC)
    return created.date()


def media_metrics_for(
    product_type: str,
    media_type: str,
    version: int,
    login: str,
    media_created: datetime | None = None,
    *,
    carousel_child: bool = False,
    include_non_default: bool = False,
    breakdowns: bool = True,
) -> list[MetricRequest]:
    """Metrics to request for one media object, plain metrics first, then breakdown metrics.

    ``media_created`` None means "unknown, assume recent": date-gated legacy metrics (impressions) are left out rather
    than risk failing the whole call. ``AD`` media, unknown product types and carousel children get nothing: Meta has
    no organic insights for them. ``include_non_default`` adds metrics that error unless the media was shared to
    Facebook. ``breakdowns`` False asks for breakdown metrics (profile_activity, navigation) without their breakdown,
    as plain metrics: Meta then answers their total only (§4a).
    """
    _check_version(version)
    login = _normalise_login(login)
    product = product_type.strip().upper()
    kind = media_type.strip().upper()
    if carousel_child or product not in ORGANIC_PRODUCT_TYPES:
        return []
    created = _utc_date(media_created)
    chosen = [
        m
        for m in MEDIA_METRICS
        if (m.default or include_non_default)
        and (m.login == "both" or login == LOGIN_FACEBOOK)
        and m.available_on(version)
        and m.applies_to(product, kind, created)
    ]
    if not breakdowns:
        return [MetricRequest(m.name, None) for m in chosen]
    plain = [MetricRequest(m.name, None) for m in chosen if m.breakdown is None]
    broken_down = [MetricRequest(m.name, m.breakdown) for m in chosen if m.breakdown is not None]
    return plain + broken_down


def _group_calls(requests: Iterable[MetricRequest]) -> list[tuple[list[str], str | None]]:
    """Plain metrics share calls; metrics needing a Facebook share go alone; one call per breakdown value."""
    plain: list[str] = []
    isolated: list[str] = []
    by_breakdown: dict[str, list[str]] = {}
    for req in requests:
        if req.breakdown is not None:
            by_breakdown.setdefault(req.breakdown, []).append(req.metric)
        elif MEDIA_METRICS_BY_NAME[req.metric].needs_facebook_share:
            isolated.append(req.metric)
        else:
            plain.append(req.metric)
    calls: list[tuple[list[str], str | None]] = [(chunk, None) for chunk in _chunks(plain)]
    calls += [([name], None) for name in isolated]
    for breakdown, names in by_breakdown.items():
        calls += [(chunk, breakdown) for chunk in _chunks(names)]
    return calls


def insight_requests(
    product_type: str,
    media_type: str,
    version: int,
    login: str,
    media_created: datetime | None = None,
    *,
    carousel_child: bool = False,
    include_non_default: bool = False,
    breakdowns: bool = True,
) -> list[tuple[list[str], str | None]]:
    """The ``/{media-id}/insights`` calls to make, as ``(metrics, breakdown)`` pairs.

    Breakdown applies to the whole call and Meta rejects a breakdown on a metric that lacks it, so each breakdown gets
    its own call; everything else travels together (≤ ``MAX_METRICS_PER_CALL`` per call). Each metric needing a
    Facebook share (``include_non_default``) costs one more call. With ``breakdowns`` False an object costs one call.
    """
    return _group_calls(
        media_metrics_for(
            product_type,
            media_type,
            version,
            login,
            media_created,
            carousel_child=carousel_child,
            include_non_default=include_non_default,
            breakdowns=breakdowns,
        )
    )


# --------------------------------------------------------------------------------------------------------------------
# User (account) insights (§4b)
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountMetric:
    """One ``/{ig-user-id}/insights`` interaction metric (``period=day``)."""

    name: str
    metric_types: frozenset[str]
    """metric_type values Meta accepts; which one the tap sends is the planner's choice (``metric_type_in``).

    total_value gives one number per since/until window (so a daily value costs one call per day); time_series gives
    one value per day for a window of up to 30 days.
    """
    description: str
    breakdowns: tuple[str, ...] = ()
    """Breakdowns Meta supports (total_value only; time_series never carries breakdowns)."""
    period: str = ACCOUNT_INSIGHTS_PERIOD
    first_version: int | None = None
    last_version: int | None = None
    introduced: date | None = None
    retired_all_versions: date | None = None
    min_followers: int | None = None
    """Meta returns nothing (or errors) below this follower count."""
    retention_days: int | None = 90
    """How far back Meta keeps the data (documented 90 days for user metrics; community saw more — UNCERTAIN)."""
    default: bool = True
    uncertain: str | None = None

    @property
    def total_value_only(self) -> bool:
        """Meta refuses it as time_series (``should be specified with parameter metric_type=total_value``)."""
        return TIME_SERIES not in self.metric_types

    def metric_type_in(self, daily_call: bool) -> str:
        """The metric_type the tap sends: total_value in the one-day call when there is one, else time_series."""
        if TOTAL_VALUE in self.metric_types and (daily_call or TIME_SERIES not in self.metric_types):
            return TOTAL_VALUE
        return TIME_SERIES

    @property
    def retired(self) -> bool:
        """True when gone on the newest known version."""
        return _gone(self.last_version, self.retired_all_versions, NEWEST_KNOWN_VERSION)

    def available_on(self, version: int) -> bool:
        """Whether Meta serves this metric on ``version``."""
        if self.first_version is not None and version < self.first_version:
            return False
        if self.introduced is not None and self.introduced > CATALOG_AS_OF:
            return False
        return not _gone(self.last_version, self.retired_all_versions, version)

    @property
    def versions_text(self) -> str:
        """Version span for docs."""
        return _version_span(self.first_version, self.last_version, self.retired_all_versions)


_TV = frozenset({TOTAL_VALUE})
_TS = frozenset({TIME_SERIES})
_BOTH_TYPES = frozenset({TOTAL_VALUE, TIME_SERIES})
_MPT = ("media_product_type",)
_LEGACY_TS_2025 = date(2025, 1, 8)

ACCOUNT_METRICS: tuple[AccountMetric, ...] = (
    AccountMetric("reach", _BOTH_TYPES, "Unique accounts that saw any content.",
                  breakdowns=("media_product_type", "follow_type")),
    AccountMetric("views", _TV, "Times content was played or displayed.",
                  breakdowns=("follow_type", "media_product_type"), first_version=22, introduced=date(2025, 1, 21),
                  uncertain="doc lists the breakdown as 'follower_type (sic)'; the tap sends follow_type"),
    AccountMetric("accounts_engaged", _TV, "Accounts that interacted with content."),
    AccountMetric("total_interactions", _TV, "Likes, saves, comments, shares, replies and reposts.",
                  breakdowns=_MPT),
    AccountMetric("likes", _TV, "Likes on content.", breakdowns=_MPT),
    AccountMetric("comments", _TV, "Comments on content.", breakdowns=_MPT),
    AccountMetric("shares", _TV, "Shares of content.", breakdowns=_MPT),
    AccountMetric("saves", _TV, "Saves of content.", breakdowns=_MPT),
    AccountMetric("replies", _TV, "Replies to stories."),
    AccountMetric("reposts", _TV, "Reposts of content.", introduced=_DEC_2025, uncertain=_DATED_ADDITION),
    AccountMetric("profile_links_taps", _TV, "Taps on profile contact links.",
                  breakdowns=("contact_button_type",)),
    AccountMetric("follows_and_unfollows", _TV, "Accounts that followed / unfollowed.",
                  breakdowns=("follow_type",), min_followers=100),
    AccountMetric("follower_count", _TS, "New followers per day.", min_followers=100, retention_days=30,
                  uncertain="legacy: not in the current doc table but still in the SDK enum and used by Airbyte (v23)"),
    # --- retired ---
    AccountMetric("impressions", _BOTH_TYPES, "Times content was on screen (superseded by views).",
                  last_version=21, retired_all_versions=date(2025, 4, 21)),
    *(
        AccountMetric(name, _BOTH_TYPES, text, last_version=20, retired_all_versions=_LEGACY_TS_2025,
                      uncertain="time-series form removed; a total_value form appeared in the v19-era doc")
        for name, text in (
            ("profile_views", "Profile views."),
            ("website_clicks", "Taps on the profile website link."),
            ("email_contacts", "Taps on the email button."),
            ("get_direction_clicks", "Taps on the directions button."),
            ("phone_call_clicks", "Taps on the call button."),
            ("text_message_clicks", "Taps on the text button."),
        )
    ),
)

ACCOUNT_METRICS_BY_NAME: dict[str, AccountMetric] = {m.name: m for m in ACCOUNT_METRICS}
ALL_ACCOUNT_METRIC_NAMES: tuple[str, ...] = tuple(m.name for m in ACCOUNT_METRICS)
ALL_ACCOUNT_BREAKDOWNS: tuple[str, ...] = tuple(dict.fromkeys(b for m in ACCOUNT_METRICS for b in m.breakdowns))
"""Every breakdown of a daily account metric (media_product_type, follow_type, contact_button_type)."""


def _unknown(names: Iterable[str], known: Sequence[str], what: str) -> None:
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValueError(f"Unknown {what} {', '.join(unknown)}; the catalog knows {', '.join(known)}.")


def account_metrics_for(
    version: int,
    *,
    followers_count: int | None = None,
    include_non_default: bool = False,
    names: Iterable[str] | None = None,
) -> list[AccountMetric]:
    """Account metrics the tap requests on ``version`` (``followers_count`` None = unknown, assume enough).

    ``names`` (the ``account_insight_metrics`` setting) picks metrics instead of the defaults; a named metric Meta does
    not serve on ``version`` is left out (see ``unavailable_account_metrics``). Catalog order, whatever the order given.
    """
    _check_version(version)
    wanted = None if names is None else set(names)
    if wanted is not None:
        _unknown(wanted, ALL_ACCOUNT_METRIC_NAMES, "account metric(s)")
    return [
        m
        for m in ACCOUNT_METRICS
        if (m.name in wanted if wanted is not None else (m.default or include_non_default))
        and m.available_on(version)
        and (m.min_followers is None or followers_count is None or followers_count >= m.min_followers)
    ]


def unavailable_account_metrics(names: Iterable[str], version: int) -> list[str]:
    """The known account metrics among ``names`` that Meta does not serve on ``version`` (the tap skips them)."""
    _check_version(version)
    return [m.name for m in ACCOUNT_METRICS if m.name in set(names) and not m.available_on(version)]


def account_insight_requests(
    version: int,
    *,
    followers_count: int | None = None,
    include_non_default: bool = False,
    metrics: Iterable[str] | None = None,
    breakdowns: Iterable[str] | None = None,
) -> list[tuple[list[str], str, str | None]]:
    """Calls for one ``period=day`` span, as ``(metrics, metric_type, breakdown)``.

    Each ``total_value`` call is one call per day (Meta sums a total_value over its whole since/until window); each
    ``time_series`` call is one call per window of up to 30 days (one value per day). So, for the fewest calls:

    * the one-day ``total_value`` call exists only if a selected metric is total_value-only (views, likes, …); the
      metrics that Meta also serves as time_series (reach) join it, since it is made anyway;
    * otherwise those metrics go ``time_series``, as do time_series-only metrics (follower_count) always: Meta
      rejects mixing metric types in a call, and total_value with follower_count;
    * one more one-day ``total_value`` call per selected breakdown, with the selected metrics that support it
      (breakdowns exist only with total_value).

    ``metrics`` None = the catalog's defaults on ``version``; ``breakdowns`` None = every breakdown the selected
    metrics support, ``[]`` = none.
    """
    chosen = account_metrics_for(
        version, followers_count=followers_count, include_non_default=include_non_default, names=metrics
    )
    wanted = None if breakdowns is None else set(breakdowns)
    if wanted is not None:
        _unknown(wanted, ALL_ACCOUNT_BREAKDOWNS, "account breakdown(s)")
    daily_call = any(m.total_value_only for m in chosen)
    total = [m.name for m in chosen if m.metric_type_in(daily_call) == TOTAL_VALUE]
    series = [m.name for m in chosen if m.metric_type_in(daily_call) == TIME_SERIES]
    calls: list[tuple[list[str], str, str | None]] = [(chunk, TOTAL_VALUE, None) for chunk in _chunks(total)]
    supported = [m for m in chosen if TOTAL_VALUE in m.metric_types]
    for breakdown in dict.fromkeys(b for m in supported for b in m.breakdowns):
        if wanted is not None and breakdown not in wanted:
            continue
        names = [m.name for m in supported if breakdown in m.breakdowns]
        calls += [(chunk, TOTAL_VALUE, breakdown) for chunk in _chunks(names)]
    calls += [(chunk, TIME_SERIES, None) for chunk in _chunks(series)]
    return calls


def unused_account_breakdowns(version: int, metrics: Iterable[str] | None, breakdowns: Iterable[str]) -> list[str]:
    """Breakdowns among ``breakdowns`` that none of the selected metrics supports on ``version`` (no call is made)."""
    supported = {b for m in account_metrics_for(version, names=metrics) for b in m.breakdowns}
    return [b for b in dict.fromkeys(breakdowns) if b not in supported]


# --------------------------------------------------------------------------------------------------------------------
# Audience (demographics, online followers) (§4b)
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timeframe:
    """A demographics ``timeframe`` value and when Meta stopped accepting it."""

    name: str
    last_version: int | None = None
    retired_all_versions: date | None = None

    def available_on(self, version: int) -> bool:
        """Whether Meta accepts this timeframe on ``version``."""
        return not _gone(self.last_version, self.retired_all_versions, version)


_TIMEFRAMES_2024 = date(2024, 8, 19)
TIMEFRAMES: tuple[Timeframe, ...] = (
    Timeframe("this_week"),
    Timeframe("this_month"),
    # unsupported from v20.0, and on all versions from 2024-08-19
    Timeframe("last_14_days", last_version=19, retired_all_versions=_TIMEFRAMES_2024),
    Timeframe("last_30_days", last_version=19, retired_all_versions=_TIMEFRAMES_2024),
    Timeframe("last_90_days", last_version=19, retired_all_versions=_TIMEFRAMES_2024),
    Timeframe("prev_month", last_version=19, retired_all_versions=_TIMEFRAMES_2024),
)

DEMOGRAPHIC_BREAKDOWNS: tuple[str, ...] = ("age", "gender", "country", "city")


@dataclass(frozen=True)
class AudienceMetric:
    """A lifetime audience metric: demographics (timeframe x breakdown) or the legacy online_followers histogram."""

    name: str
    description: str
    breakdowns: tuple[str, ...] = ()
    metric_type: str | None = TOTAL_VALUE
    """None = send no metric_type (Meta's default, time_series)."""
    needs_timeframe: bool = True
    period: str = AUDIENCE_PERIOD
    min_followers: int | None = None
    min_engaged_accounts: int | None = None
    top_n: int | None = None
    """Meta returns only the top N buckets per breakdown."""
    retention_days: int | None = None
    default: bool = True
    uncertain: str | None = None


AUDIENCE_METRICS: tuple[AudienceMetric, ...] = (
    AudienceMetric("follower_demographics", "Followers by age, gender, country or city.",
                   breakdowns=DEMOGRAPHIC_BREAKDOWNS, min_followers=100, top_n=45),
    AudienceMetric("engaged_audience_demographics", "Accounts that engaged, by age, gender, country or city.",
                   breakdowns=DEMOGRAPHIC_BREAKDOWNS, min_engaged_accounts=100, top_n=45),
    AudienceMetric("online_followers", "Followers online per hour of day (object keyed '0'…'23').",
                   metric_type=None, needs_timeframe=False, min_followers=100, retention_days=30,
                   uncertain="legacy: not in the current doc table; SDK enum and Airbyte (v23) still use it"),
    AudienceMetric("reached_audience_demographics", "Accounts reached, by age, gender, country or city.",
                   breakdowns=DEMOGRAPHIC_BREAKDOWNS, top_n=45, default=False,
                   uncertain="legacy: only in the SDK enum; not requested unless asked for"),
)

AUDIENCE_METRICS_BY_NAME: dict[str, AudienceMetric] = {m.name: m for m in AUDIENCE_METRICS}
ALL_AUDIENCE_METRIC_NAMES: tuple[str, ...] = tuple(m.name for m in AUDIENCE_METRICS)


@dataclass(frozen=True)
class AudienceRequest:
    """One audience call: ``metric`` with ``period`` plus optional metric_type, breakdown and timeframe."""

    metric: str
    period: str
    metric_type: str | None
    breakdown: str | None
    timeframe: str | None
    uncertain: bool = False
    """The metric is legacy/undocumented: the tap should tolerate an error or empty answer."""


def timeframes_for(version: int) -> tuple[str, ...]:
    """Demographic timeframes Meta accepts on ``version`` (today: this_week, this_month everywhere)."""
    return tuple(t.name for t in TIMEFRAMES if t.available_on(version))


def audience_requests(
    version: int,
    *,
    followers_count: int | None = None,
    include_uncertain: bool = True,
    include_non_default: bool = False,
) -> list[AudienceRequest]:
    """Every audience call for one account: demographics per breakdown and timeframe, then online_followers.

    One breakdown per call keeps each answer's ``dimension_keys`` simple (``[timeframe, <breakdown>]``).
    """
    _check_version(version)
    out: list[AudienceRequest] = []
    for m in AUDIENCE_METRICS:
        if not (m.default or include_non_default) or (m.uncertain and not include_uncertain):
            continue
        if m.min_followers is not None and followers_count is not None and followers_count < m.min_followers:
            continue
        flag = m.uncertain is not None
        timeframes: Sequence[str | None] = timeframes_for(version) if m.needs_timeframe else (None,)
        breakdowns: Sequence[str | None] = m.breakdowns or (None,)
        out += [
            AudienceRequest(m.name, m.period, m.metric_type, breakdown, timeframe, flag)
            for breakdown in breakdowns
            for timeframe in timeframes
        ]
    return out


# --------------------------------------------------------------------------------------------------------------------
# Docs
# --------------------------------------------------------------------------------------------------------------------

_LOGIN_TEXT = {"both": "both", "facebook": "Facebook Login only"}


def catalog_markdown() -> str:
    """Markdown tables of every metric the tap knows, for the README and ``--about``."""
    lines = [
        "### Media insights",
        "",
        "| Metric | Product types | Versions | Login | Requested | Notes |",
        "|---|---|---|---|---|---|",
    ]
    for m in MEDIA_METRICS:
        products = ", ".join(sorted(m.product_types))
        if FEED in m.product_types and not m.carousel:
            products += " (not carousels)"
        notes = [m.description.rstrip(".")]
        if m.media_types is not None:
            notes.append(f"{'/'.join(sorted(m.media_types))} media only")
        if m.breakdown:
            notes.append(f"breakdown `{m.breakdown}`")
        if m.created_before:
            notes.append(f"media created ≤ {m.created_before.isoformat()}")
        if m.unit != "count":
            notes.append(f"unit: {m.unit}")
        requested = "no (retired)" if m.retired else ("yes" if m.default else "opt-in (`facebook_share_metrics`)")
        lines.append(
            f"| `{m.name}` | {products} | {m.versions_text} | {_LOGIN_TEXT[m.login]} | {requested} | "
            f"{'; '.join(notes)} |"
        )
    lines += [
        "",
        "### Account insights (period=day)",
        "",
        "| Metric | metric_type accepted | Breakdowns | Versions | Notes |",
        "|---|---|---|---|---|",
    ]
    for a in ACCOUNT_METRICS:
        notes = [a.description.rstrip(".")]
        if a.min_followers:
            notes.append(f"needs ≥ {a.min_followers} followers")
        if a.retention_days:
            notes.append(f"kept {a.retention_days} days")
        if a.retired:
            notes.append("retired, not requested")
        lines.append(
            f"| `{a.name}` | {', '.join(sorted(a.metric_types, reverse=True))} | {', '.join(a.breakdowns) or '—'} | "
            f"{a.versions_text} | "
            f"{'; '.join(notes)} |"
        )
    lines += [
        "",
        "### Audience (period=lifetime)",
        "",
        "| Metric | Breakdowns | Timeframes | Notes |",
        "|---|---|---|---|",
    ]
    current = ", ".join(timeframes_for(NEWEST_KNOWN_VERSION))
    for au in AUDIENCE_METRICS:
        notes = [au.description.rstrip(".")]
        if au.top_n:
            notes.append(f"top {au.top_n} only")
        if au.uncertain:
            notes.append("legacy/undocumented" + ("" if au.default else ", not requested by default"))
        lines.append(
            f"| `{au.name}` | {', '.join(au.breakdowns) or '—'} | {current if au.needs_timeframe else '—'} | "
            f"{'; '.join(notes)} |"
        )
    return "\n".join(lines) + "\n"

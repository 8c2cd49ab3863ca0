"""Data model of the sandbox: what Meta holds for each creator, independent of how the tap asks for it.

The generator (`dataset.py`) fills these objects deterministically from a seed; the emulator (`api.py`) serves them
under Meta's rules (`rules.py`); `truth.py` turns them into the expected dataset that tests compare extraction with.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

LoginKind = Literal["facebook", "instagram"]
MediaType = Literal["IMAGE", "VIDEO", "CAROUSEL_ALBUM"]
ProductType = Literal["FEED", "REELS", "STORY", "AD"]


@dataclass
class Comment:
    """A top-level comment or a reply (``parent_id`` set) on one media object."""

    id: str
    media_id: str
    text: str
    timestamp: dt.datetime
    username: str
    from_id: str
    like_count: int
    hidden: bool = False
    parent_id: str | None = None
    replies: list[Comment] = field(default_factory=list)


@dataclass
class Media:
    """One IG Media object (feed post, reel, story, ad, or carousel child)."""

    id: str
    account_id: str
    media_type: MediaType
    media_product_type: ProductType
    timestamp: dt.datetime
    caption: str | None
    media_url: str | None  # None when withheld (copyright / downloads disabled)
    permalink: str | None  # None on carousel children
    shortcode: str | None
    thumbnail_url: str | None  # VIDEO only
    like_count: int
    like_count_hidden: bool  # owner hid like counts: omitted when fetched indirectly (edge / expansion)
    comments_count: int
    is_comment_enabled: bool
    username: str
    is_shared_to_feed: bool | None = None  # reels only
    shared_to_facebook: bool = False  # crossposted_views / facebook_views exist only then
    pre_conversion: bool = False  # posted before business conversion: insights → 100/2108006
    viewers: int = 0  # stories: fewer than 5 → code 10 "Not enough viewers"
    children: list[Media] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    # Lifetime insight values Meta would report for this object, by metric name (every metric that ever existed for
    # it, including retired ones; rules.py decides what a given version/product type may return).
    insights: dict[str, int] = field(default_factory=dict)
    # Breakdown results: metric -> dimension value (as the API returns it, e.g. "bio_link_clicked") -> value.
    insight_breakdowns: dict[str, dict[str, int]] = field(default_factory=dict)
    # The tagger's IG user for media in which a creator was tagged (`/tags`); None for own media.
    tagged_by: str | None = None
    # Carousel children: the album's id (children have no caption/permalink/comments_count and no insights).
    parent_id: str | None = None


@dataclass
class DailyInsights:
    """One account's user-insight values for one day (UTC date of the Pacific-midnight bucket)."""

    date: dt.date
    values: dict[str, int]  # metric -> total for the day
    # metric -> breakdown name -> dimension value -> value (e.g. reach -> follow_type -> FOLLOWER -> 12)
    breakdowns: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)


@dataclass
class Account:
    """An Instagram professional account and everything Meta stores for it."""

    id: str  # IG user id (17841…)
    login: LoginKind
    username: str
    name: str
    biography: str
    website: str | None
    profile_picture_url: str
    followers_count: int
    follows_count: int
    media_count: int  # as Meta reports it (may differ from what /media walks)
    account_type: Literal["BUSINESS", "MEDIA_CREATOR"]
    converted_at: dt.datetime  # last conversion to a professional account
    page_id: str | None = None  # Facebook Login: the linked Page
    ig_scoped_user_id: str | None = None  # Instagram Login: the id the code exchange returns
    media: list[Media] = field(default_factory=list)  # newest first, no stories
    stories: list[Media] = field(default_factory=list)  # live and expired; /stories serves < 24 h only
    tags: list[Media] = field(default_factory=list)  # media of others this account is tagged in, newest first
    daily_insights: list[DailyInsights] = field(default_factory=list)  # oldest first
    # metric -> timeframe -> breakdown -> dimension value -> value (follower / engaged audience demographics)
    demographics: dict[str, dict[str, dict[str, dict[str, int]]]] = field(default_factory=dict)
    # date -> hour ("0".."23") -> online followers
    online_followers: dict[dt.date, dict[str, int]] = field(default_factory=dict)
    engagements_90d: int = 0  # engaged_audience_demographics needs >= 100


@dataclass
class Page:
    """A Facebook Page the Facebook-Login user can perform tasks on."""

    id: str
    name: str
    tasks: list[str]
    ig_account_id: str | None  # None: page without a linked IG account


@dataclass
class FacebookUser:
    """A person who logs in with Facebook and manages one or more Pages."""

    id: str  # app-scoped user id
    name: str
    pages: list[Page]
    scopes: list[str]


@dataclass
class InstagramUser:
    """A person who logs in with Instagram (Business Login): exactly one IG professional account."""

    account_id: str
    scopes: list[str]


@dataclass
class App:
    """The Meta app the tap is registered as (client id / secret) and its dashboard switches."""

    id: str
    secret: str
    redirect_uris: list[str]
    require_appsecret_proof: bool = False


@dataclass
class Dataset:
    """Everything the sandbox serves, generated from ``seed`` and the size knobs, anchored at ``now``."""

    seed: int
    now: dt.datetime  # UTC; stories are live when younger than 24 h at this instant
    app: App
    facebook_users: list[FacebookUser]
    instagram_users: list[InstagramUser]
    accounts: dict[str, Account]  # by IG user id
    # Tokens issued at generation time for the demo ("already connected creators"): login kind, owner id, token.
    demo_tokens: list[tuple[LoginKind, str, str]] = field(default_factory=list)

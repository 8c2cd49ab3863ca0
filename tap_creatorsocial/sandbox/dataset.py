"""Deterministic generator of the sandbox's creators, media, comments and insights.

Every account draws from its own ``random.Random`` seeded by ``(seed, account index)`` so that adding accounts never
changes the existing ones, and nothing reads the wall clock except the default ``now``. Values are internally
consistent (breakdowns sum to totals, ``total_interactions`` = likes + comments + saved + shares, ...) because tests
and the truth file compare them, and every quirk of reference §3/§4/§8 is planted on a ``quirk_rate`` share of objects.
"""

from __future__ import annotations

import datetime as dt
import functools
import gc
import random
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar
from zoneinfo import ZoneInfo

from .model import (
    Account,
    App,
    Comment,
    DailyInsights,
    Dataset,
    FacebookUser,
    InstagramUser,
    LoginKind,
    Media,
    MediaType,
    Page,
    ProductType,
)

PACIFIC = ZoneInfo("America/Los_Angeles")
UTC = dt.UTC
T = TypeVar("T")

APP_ID = "sandbox-app-id"
APP_SECRET = "sandbox-app-secret-7f3a9c2e41d84b06"  # noqa: S105 - fake secret of the emulated app
REDIRECT_URIS = ["http://localhost:33333/callback", "http://127.0.0.1:33333/callback"]

FACEBOOK_SCOPES = [
    "instagram_basic",
    "instagram_manage_insights",
    "instagram_manage_comments",
    "pages_show_list",
    "pages_read_engagement",
    "business_management",
]
INSTAGRAM_SCOPES = [
    "instagram_business_basic",
    "instagram_business_manage_insights",
    "instagram_business_manage_comments",
]
PAGE_TASKS = ["ANALYZE", "ADVERTISE", "MODERATE", "CREATE_CONTENT", "MANAGE"]

# The date after which `impressions` no longer exists for newly created media (§4a); the generator makes sure some
# media are older so the v21 rule can be exercised.
IMPRESSIONS_CUTOFF = dt.datetime(2024, 7, 1, tzinfo=UTC)

# Breakdown dimension values (§4a, §4b)
ACTION_TYPES = ["bio_link_clicked", "call", "direction", "email", "other", "text"]
NAVIGATION_TYPES = ["tap_forward", "tap_back", "tap_exit", "swipe_forward"]
USER_MEDIA_PRODUCT_TYPES = ["POST", "CAROUSEL_CONTAINER", "REEL", "STORY", "AD"]
FOLLOW_TYPES = ["FOLLOWER", "NON_FOLLOWER", "UNKNOWN"]
CONTACT_BUTTON_TYPES = ["BOOK_NOW", "CALL", "DIRECTION", "EMAIL", "INSTANT_EXPERIENCE", "TEXT", "UNDEFINED"]
AGES = ["13-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+"]
GENDERS = ["F", "M", "U"]
COUNTRIES = [
    "US",
    "BR",
    "IN",
    "GB",
    "DE",
    "FR",
    "IT",
    "ES",
    "MX",
    "CA",
    "AR",
    "CO",
    "CL",
    "PE",
    "AU",
    "NZ",
    "JP",
    "KR",
    "ID",
    "PH",
    "TH",
    "VN",
    "MY",
    "SG",
    "TR",
    "EG",
    "NG",
    "ZA",
    "KE",
    "MA",
    "SA",
    "AE",
    "IL",
    "PL",
    "NL",
    "BE",
    "PT",
    "SE",
    "NO",
    "DK",
    "FI",
    "IE",
    "AT",
    "CH",
    "CZ",
    "HU",
    "RO",
    "GR",
    "UA",
    "RU",
    "PK",
    "BD",
    "LK",
    "NP",
    "IR",
    "IQ",
    "DZ",
    "TN",
    "GH",
    "ET",
    "VE",
    "EC",
    "UY",
    "PY",
    "BO",
    "CR",
    "PA",
    "DO",
    "GT",
]
CITIES = [
    f"{c}, {r}"
    for c, r in [
        ("Los Angeles", "California"),
        ("New York", "New York"),
        ("Chicago", "Illinois"),
        ("Houston", "Texas"),
        ("Miami", "Florida"),
        ("Seattle", "Washington"),
        ("Austin", "Texas"),
        ("Atlanta", "Georgia"),
        ("Boston", "Massachusetts"),
        ("Denver", "Colorado"),
        ("Phoenix", "Arizona"),
        ("Portland", "Oregon"),
        ("São Paulo", "São Paulo (state)"),
        ("Rio de Janeiro", "Rio de Janeiro (state)"),
        ("Mumbai", "Maharashtra"),
        ("Delhi", "Delhi"),
        ("Bangalore", "Karnataka"),
        ("London", "England"),
        ("Manchester", "England"),
        ("Berlin", "Berlin"),
        ("Munich", "Bavaria"),
        ("Paris", "Île-de-France"),
        ("Lyon", "Auvergne-Rhône-Alpes"),
        ("Milan", "Lombardy"),
        ("Rome", "Lazio"),
        ("Madrid", "Community of Madrid"),
        ("Barcelona", "Catalonia"),
        ("Mexico City", "Distrito Federal"),
        ("Guadalajara", "Jalisco"),
        ("Toronto", "Ontario"),
        ("Vancouver", "British Columbia"),
        ("Buenos Aires", "Buenos Aires"),
        ("Bogotá", "Distrito Especial"),
        ("Santiago", "Santiago Metropolitan Region"),
        ("Lima", "Lima Region"),
        ("Sydney", "New South Wales"),
        ("Melbourne", "Victoria"),
        ("Tokyo", "Tokyo"),
        ("Seoul", "Seoul"),
        ("Jakarta", "Jakarta"),
        ("Manila", "Metro Manila"),
        ("Bangkok", "Bangkok"),
        ("Istanbul", "Istanbul Province"),
        ("Cairo", "Cairo"),
        ("Lagos", "Lagos State"),
        ("Johannesburg", "Gauteng"),
        ("Nairobi", "Nairobi"),
        ("Dubai", "Dubai"),
        ("Warsaw", "Masovian Voivodeship"),
        ("Amsterdam", "North Holland"),
        ("Lisbon", "Lisbon District"),
        ("Stockholm", "Stockholm County"),
        ("Dublin", "Dublin"),
        ("Vienna", "Vienna"),
        ("Zurich", "Zurich"),
        ("Prague", "Prague"),
        ("Athens", "Attica"),
        ("Kyiv", "Kyiv City"),
        ("Karachi", "Sindh"),
        ("Dhaka", "Dhaka Division"),
    ]
]
TIMEFRAMES = ["this_week", "this_month", "last_14_days", "last_30_days", "last_90_days", "prev_month"]
DEMOGRAPHIC_METRICS = ["follower_demographics", "engaged_audience_demographics"]

_NICHES = [
    "bakery",
    "travel",
    "fitness",
    "studio",
    "garden",
    "coffee",
    "surf",
    "books",
    "vintage",
    "ceramics",
    "vegan",
    "bikes",
    "yoga",
    "jazz",
    "tattoo",
    "cards",
]
_FIRST = [
    "ana",
    "leo",
    "mia",
    "noah",
    "zoe",
    "kai",
    "ivy",
    "max",
    "lua",
    "tom",
    "eva",
    "sam",
    "ray",
    "joy",
    "ben",
    "lia",
    "oli",
    "nina",
    "axel",
    "rosa",
]
_WORDS = [
    "new",
    "drop",
    "today",
    "the",
    "light",
    "was",
    "perfect",
    "behind",
    "the",
    "scenes",
    "weekend",
    "vibes",
    "thank",
    "you",
    "all",
    "so",
    "much",
    "for",
    "the",
    "support",
    "swipe",
    "to",
    "see",
    "more",
    "we",
    "tried",
    "something",
    "different",
    "this",
    "time",
    "back",
    "in",
    "the",
    "studio",
    "which",
    "one",
    "is",
    "your",
    "favourite",
    "link",
    "in",
    "bio",
    "coming",
    "soon",
    "morning",
    "ritual",
    "small",
    "batch",
    "handmade",
    "restock",
    "alert",
]
_COMMENT_TEXTS = [
    "This is awesome!",
    "*Sniff*",
    "Love this 😍",
    "Where can I buy it?",
    "🔥🔥🔥",
    "So good",
    "Need this in my life",
    "Amazing work",
    "Is this available in blue?",
    "Wow",
    "Congrats!",
    "Can't wait",
    "Beautiful colours",
    "Take my money",
    "👏👏",
    "Saving this for later",
]
_REPLY_TEXTS = ["Thank you! ❤️", "Check your DMs!", "Link in bio 🙌", "Soon!", "Yes it is", "Thanks for the love"]
_SHORTCODE_ALPHABET = string.ascii_letters + string.digits + "_-"


@dataclass(frozen=True)
class DatasetSpec:
    """Size and quirk knobs of a generated dataset."""

    seed: int = 7
    accounts: int = 4  # IG professional accounts; even indexes via Facebook Login, odd via Instagram Login
    media: int = 40  # feed/reels/ad media per account (stories separate)
    stories: int = 3  # live stories per account (< 24 h old at `now`), plus a few expired ones
    comments: int = 3  # average top-level comments per media
    days: int = 90  # days of daily account insights ending yesterday (Pacific)
    quirk_rate: float = 0.1  # share of objects carrying each quirk


def default_now() -> dt.datetime:
    """Current UTC time floored to the hour (datasets generated within the same hour are identical)."""
    return dt.datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def last_complete_day(now: dt.datetime) -> dt.date:
    """The newest Pacific calendar day whose insights bucket has closed at ``now``."""
    return now.astimezone(PACIFIC).date() - dt.timedelta(days=1)


@functools.lru_cache(maxsize=4096)
def day_end_utc(day: dt.date) -> dt.datetime:
    """End of the insights bucket for a Pacific day: the next Pacific midnight, in UTC (``T07/T08:00:00+0000``).

    Cached: every per-day insights request asks it for each day of the account's history.
    """
    nxt = day + dt.timedelta(days=1)
    return dt.datetime(nxt.year, nxt.month, nxt.day, tzinfo=PACIFIC).astimezone(UTC)


# --- small helpers ---------------------------------------------------------------------------------------------


def _pick(rng: random.Random, seq: Sequence[T]) -> T:
    """``rng.choice`` without its rejection-sampling overhead (the generator makes ~10^6 draws)."""
    return seq[int(rng.random() * len(seq))]


def _rint(rng: random.Random, a: int, b: int) -> int:
    """``rng.randint(a, b)``, fast path."""
    return a + int(rng.random() * (b - a + 1))


def _split(rng: random.Random, total: int, keys: list[str], weights: list[float]) -> dict[str, int]:
    """Split ``total`` over ``keys`` proportionally to jittered ``weights``; values sum to ``total`` exactly."""
    if total <= 0:
        return {}
    w = [x * (0.6 + 0.8 * rng.random()) for x in weights]
    s = sum(w)
    parts = [int(total * x / s) for x in w]
    parts[0] += total - sum(parts)
    return {k: v for k, v in zip(keys, parts, strict=True) if v > 0}


class _Ids:
    """Real-looking, collision-free ids for one account (17 digits, starting 17/18 like Meta's).

    The middle 10 digits are a bijective scramble of (account index, serial), so ids never collide across accounts
    yet don't read as counters; the last 5 digits are random.
    """

    _MUL = 7_654_321_019  # odd, not a multiple of 5: multiplication is a bijection modulo 10**10

    def __init__(self, rng: random.Random, index: int) -> None:
        self.rng = rng
        self.index = index % 1000
        self.serial = 0

    def _next(self) -> tuple[str, int]:
        self.serial += 1
        core = ((self.index * 10_000_000 + self.serial) * self._MUL) % 10**10
        return f"{core:010d}", int(self.rng.random() * 200_000)

    def media(self) -> str:
        core, r = self._next()
        return f"1{7 + r % 2}{core}{r // 2:05d}"

    def comment(self) -> str:
        core, r = self._next()
        return f"17{core}{r // 2:05d}"


def account_id_for(index: int, rng: random.Random) -> str:
    """IG professional-account id: ``178414`` + 5 scrambled index digits + 6 random (17 digits, §1a)."""
    return f"178414{((index + 1) * 73_771) % 100_000:05d}{rng.randrange(1_000_000):06d}"


def _shortcode(rng: random.Random) -> str:
    bits = rng.getrandbits(66)
    return "".join(_SHORTCODE_ALPHABET[(bits >> (6 * i)) & 63] for i in range(11))


def _caption(rng: random.Random) -> str:
    return " ".join(_pick(rng, _WORDS) for _ in range(_rint(rng, 3, 14))).capitalize() + _pick(
        rng, ["", ".", "!", " ✨", " #smallbusiness"]
    )


def _cdn(media_id: str, ext: str) -> str:
    return f"https://scontent.cdninstagram.com/v/t51.29350-15/{media_id}_n.{ext}?_nc_cat=1&ccb=1-7&oh=00_sandbox"


# --- generator -------------------------------------------------------------------------------------------------


class _AccountGen:
    """Builds one account from its own RNG."""

    def __init__(self, spec: DatasetSpec, index: int, now: dt.datetime) -> None:
        self.spec = spec
        self.index = index
        self.now = now
        self.rng = random.Random(spec.seed * 1_000_003 + index)
        self.ids = _Ids(self.rng, index)
        self.q = spec.quirk_rate
        self.login: LoginKind = "facebook" if index % 2 == 0 else "instagram"
        self.small = index % 4 == 2  # < 100 followers: follower-based insights not returned
        self.has_pre_conversion = index % 4 in (0, 3)
        self.drifts_media_count = index % 2 == 0

    def chance(self, p: float | None = None) -> bool:
        return self.rng.random() < (self.q if p is None else p)

    def build(self) -> Account:
        rng = self.rng
        niche = _NICHES[self.index % len(_NICHES)]
        username = f"{_pick(rng, _FIRST)}.{niche}{'' if self.index < len(_NICHES) else self.index}"
        followers = _rint(rng, 40, 95) if self.small else int(rng.lognormvariate(8.5, 1.0)) + 150
        acct_id = account_id_for(self.index, rng)
        account = Account(
            id=acct_id,
            login=self.login,
            username=username,
            name=f"{username.split('.')[0].capitalize()} {niche.capitalize()}",
            biography=f"{niche.capitalize()} lover. {_caption(rng)}",
            website=f"https://{niche}-{self.index}.example.com/" if self.chance(0.7) else None,
            profile_picture_url=_cdn(acct_id, "jpg"),
            followers_count=followers,
            follows_count=_rint(rng, 50, 1500),
            media_count=0,
            account_type="BUSINESS" if self.chance(0.5) else "MEDIA_CREATOR",
            converted_at=self.now - dt.timedelta(days=2000),
            ig_scoped_user_id=(
                f"{_rint(rng, 2, 9)}{rng.randrange(10**15):015d}" if self.login == "instagram" else None
            ),
        )
        self.account = account
        # a pool of recurring commenters (IGSID + username, §3e `from`)
        self.commenters = [
            (f"{_pick(rng, _FIRST)}_{_pick(rng, _NICHES)}{_rint(rng, 1, 999)}", f"1784{rng.randrange(10**13):013d}")
            for _ in range(40)
        ]
        account.media = self._media_list()
        if self.has_pre_conversion and account.media and self.q > 0:
            # Conversion happened between the k-th and (k+1)-th oldest media (§5c 2108006).
            k = max(1, round(self.q * len(account.media)))
            oldest_first = account.media[::-1]
            if k < len(oldest_first):
                lo, hi = oldest_first[k - 1].timestamp, oldest_first[k].timestamp
                account.converted_at = lo + (hi - lo) / 2
            else:
                account.converted_at = self.now - dt.timedelta(hours=1)
            for m in oldest_first[:k]:
                m.pre_conversion = True
        else:
            oldest = account.media[-1].timestamp if account.media else self.now
            account.converted_at = oldest - dt.timedelta(days=_rint(rng, 5, 400))
        drift = _pick(rng, [-2, -1, 1, 2, 3]) if self.drifts_media_count else 0
        account.media_count = max(0, len(account.media) + drift)
        account.stories = self._stories()
        account.tags = self._tags()
        account.daily_insights = self._daily()
        account.engagements_90d = sum(d.values.get("accounts_engaged", 0) for d in account.daily_insights[-90:])
        account.demographics = self._demographics()
        account.online_followers = self._online_followers()
        return account

    # media --------------------------------------------------------------------------------------------------

    def _timestamps(self, n: int) -> list[dt.datetime]:
        """Newest first, spread back to before 2024-07-01 (impressions rules) or ~2 years, whichever is older."""
        oldest = min(self.now - dt.timedelta(days=700), dt.datetime(2024, 4, 1, tzinfo=UTC))
        span = (self.now - dt.timedelta(hours=2) - oldest).total_seconds()
        secs = sorted((self.rng.random() * span for _ in range(n)), reverse=True)
        base = oldest.replace(microsecond=0)
        return [base + dt.timedelta(seconds=int(s)) for s in secs]

    def _media_list(self) -> list[Media]:
        rng = self.rng
        out = []
        for ts in self._timestamps(self.spec.media):
            r = rng.random()
            product: ProductType = "AD" if r < self.q * 0.5 else ("REELS" if r < 0.35 else "FEED")
            if product == "REELS":
                mtype: MediaType = "VIDEO"
            else:
                t = rng.random()
                mtype = "CAROUSEL_ALBUM" if t < 0.3 else ("VIDEO" if t < 0.5 else "IMAGE")
                if product == "AD" and mtype == "CAROUSEL_ALBUM":
                    mtype = "IMAGE"
            out.append(self._media(ts, product, mtype))
        return out

    def _media(self, ts: dt.datetime, product: ProductType, mtype: MediaType) -> Media:
        rng, acct = self.rng, self.account
        mid = self.ids.media()
        code = _shortcode(rng)
        video = mtype == "VIDEO"
        comments_enabled = product != "AD" and not self.chance(0.05)
        media = Media(
            id=mid,
            account_id=acct.id,
            media_type=mtype,
            media_product_type=product,
            timestamp=ts,
            caption=_caption(rng) if not self.chance(0.05) else None,
            media_url=None if self.chance() else _cdn(mid, "mp4" if video else "jpg"),
            permalink=f"https://www.instagram.com/{'reel' if product == 'REELS' else 'p'}/{code}/",
            shortcode=code,
            thumbnail_url=_cdn(mid + "_thumb", "jpg") if video else None,
            like_count=0,
            like_count_hidden=self.chance(),
            comments_count=0,
            is_comment_enabled=comments_enabled,
            username=acct.username,
            is_shared_to_feed=(rng.random() < 0.85) if product == "REELS" else None,
            shared_to_facebook=self.chance(0.5 if product == "REELS" else self.q),
        )
        if mtype == "CAROUSEL_ALBUM":
            media.children = [self._child(media) for _ in range(_rint(rng, 2, 5))]
        if comments_enabled:
            media.comments = self._comments(media)
        media.comments_count = sum(1 + len(c.replies) for c in media.comments)
        self._media_insights(media)
        return media

    def _child(self, parent: Media) -> Media:
        cid = self.ids.media()
        ctype: MediaType = "VIDEO" if self.chance(0.25) else "IMAGE"
        return Media(
            id=cid,
            account_id=parent.account_id,
            media_type=ctype,
            media_product_type="FEED",
            timestamp=parent.timestamp,
            caption=None,
            media_url=None if parent.media_url is None else _cdn(cid, "mp4" if ctype == "VIDEO" else "jpg"),
            permalink=None,
            shortcode=None,
            thumbnail_url=_cdn(cid + "_thumb", "jpg") if ctype == "VIDEO" else None,
            like_count=0,
            like_count_hidden=False,
            comments_count=0,
            is_comment_enabled=False,
            username=parent.username,
            parent_id=parent.id,
        )

    def _comments(self, media: Media) -> list[Comment]:
        rng = self.rng
        n = _rint(rng, 0, 2 * self.spec.comments) if self.spec.comments > 0 else 0
        if n == 0:
            return []
        span = max(60.0, (self.now - media.timestamp).total_seconds() - 60)
        offsets = sorted((rng.random() * span for _ in range(n)), reverse=True)  # newest first (§3e)
        out = []
        for off in offsets:
            ts = media.timestamp + dt.timedelta(seconds=int(off) + 30)
            c = self._comment(media.id, ts, _pick(rng, _COMMENT_TEXTS), None)
            if self.chance(self.q * 2):
                c.replies = [
                    self._comment(
                        media.id,
                        ts + dt.timedelta(minutes=_rint(rng, 1, 600)),
                        _pick(rng, _REPLY_TEXTS),
                        c.id,
                        owner=rng.random() < 0.6,
                    )
                    for _ in range(_rint(rng, 1, 3))
                ]
                c.replies = [r for r in c.replies if r.timestamp < self.now]
                c.replies.sort(key=lambda r: r.timestamp, reverse=True)
            out.append(c)
        return out

    def _comment(self, media_id: str, ts: dt.datetime, text: str, parent: str | None, owner: bool = False) -> Comment:
        rng = self.rng
        if owner:
            username, from_id = self.account.username, self.account.id
        else:
            username, from_id = self.commenters[int(rng.random() * len(self.commenters))]
        return Comment(
            id=self.ids.comment(),
            media_id=media_id,
            text=text,
            timestamp=ts,
            username=username,
            from_id=from_id,
            like_count=int(rng.random() * rng.random() * 6),
            hidden=self.chance(),
            parent_id=parent,
        )

    def _reach_for(self, product: str) -> int:
        f = self.account.followers_count
        lo, hi = {"REELS": (0.2, 3.0), "STORY": (0.02, 0.15), "AD": (0.5, 4.0)}.get(product, (0.08, 0.6))
        return int(f * (lo + (hi - lo) * self.rng.random())) + _rint(self.rng, 0, 30)

    def _media_insights(self, m: Media) -> None:
        """Lifetime values for every metric that ever existed for this media (rules.py picks what a version serves)."""
        rng = self.rng
        reach = self._reach_for(m.media_product_type)
        views = int(reach * (1.1 + 1.1 * rng.random()))
        likes = int(reach * (0.02 + 0.15 * rng.random()))
        m.like_count = likes
        saved = int(reach * 0.05 * rng.random())
        shares = int(reach * 0.03 * rng.random())
        ins: dict[str, int] = {
            "reach": reach,
            "views": views,
            "likes": likes,
            "comments": m.comments_count,
            "saved": saved,
            "shares": shares,
            "reposts": int(shares * rng.random()),
            "total_interactions": likes + m.comments_count + saved + shares,
            # retired (§4a timeline)
            "engagement": likes + m.comments_count + saved,
        }
        # retired, still stored for every media: rules.py only serves it on <= v21 for media <= 2024-07-01
        ins["impressions"] = int(views * (0.85 + 0.15 * rng.random()))
        fb_likes = 0
        if m.shared_to_facebook:
            fb = int(views * (0.05 + 0.45 * rng.random()))
            fb_likes = int(fb * 0.03 * rng.random())
            ins["facebook_views"] = fb
        ins["total_likes"] = likes + fb_likes
        ins["total_comments"] = m.comments_count + (_rint(rng, 0, 3) if m.shared_to_facebook else 0)
        if m.media_type == "VIDEO":
            ins["total_views"] = views + ins.get("facebook_views", 0)
        if m.media_product_type == "REELS":
            plays = int(views * (0.8 + 0.2 * rng.random()))
            replays = int(plays * 0.3 * rng.random())
            avg_ms = _rint(rng, 1500, 30000)
            ins.update(
                plays=plays,
                clips_replays_count=replays,
                ig_reels_aggregated_all_plays_count=plays + replays,
                ig_reels_avg_watch_time=avg_ms,
                ig_reels_video_view_total_time=avg_ms * (plays + replays),
                reels_skip_rate=_rint(rng, 8, 70),
            )
            if m.shared_to_facebook:
                ins["crossposted_views"] = views + ins["facebook_views"]
        elif m.media_product_type in ("FEED", "AD"):
            ins["follows"] = int(reach * 0.01 * rng.random())
            visits = int(reach * (0.005 + 0.05 * rng.random()))
            ins["profile_visits"] = visits
            self._profile_activity(m, ins, visits)
            if m.media_type == "VIDEO":
                ins["video_views"] = int(views * (0.4 + 0.4 * rng.random()))
            if m.media_type == "CAROUSEL_ALBUM":
                ins.update(
                    carousel_album_impressions=ins.get("impressions", views),
                    carousel_album_reach=reach,
                    carousel_album_engagement=ins["engagement"],
                    carousel_album_saved=saved,
                    carousel_album_video_views=int(views * 0.2)
                    if any(c.media_type == "VIDEO" for c in m.children)
                    else 0,
                )
        if self.chance(self.q * 0.5):
            # "no data" for one metric: Meta returns nothing for it, not 0 (§4)
            ins.pop(_pick(rng, ["follows", "shares", "saved"]), None)
        m.insights = ins

    def _profile_activity(self, m: Media, ins: dict[str, int], visits: int) -> None:
        total = int(visits * (0.1 + 0.5 * self.rng.random()))
        if total <= 0:
            return  # no data → metric absent
        parts = _split(self.rng, total, ACTION_TYPES, [5, 1, 1, 1, 0.5, 1])
        ins["profile_activity"] = total
        m.insight_breakdowns["profile_activity"] = parts

    # stories ------------------------------------------------------------------------------------------------

    def _stories(self) -> list[Media]:
        rng = self.rng
        n_expired = _rint(rng, 1, 3)
        live_ages = sorted(rng.uniform(0.2, 23.5) for _ in range(self.spec.stories))
        expired_ages = sorted(rng.uniform(25, 24 * 6) for _ in range(n_expired))
        out = []
        for i, age in enumerate(live_ages + expired_ages):
            ts = (self.now - dt.timedelta(hours=age)).replace(microsecond=0)
            # guarantee at least one live story under the viewer floor when there are live stories
            few = (i == len(live_ages) - 1 and self.q > 0) or self.chance()
            out.append(self._story(ts, few))
        return out  # newest first

    def _story(self, ts: dt.datetime, few_viewers: bool) -> Media:
        rng, acct = self.rng, self.account
        sid = self.ids.media()
        video = rng.random() < 0.4
        reach = _rint(rng, 0, 4) if few_viewers else max(5, self._reach_for("STORY"))
        nav = int(reach * (1.0 + 1.5 * rng.random()))
        nav_parts = _split(rng, nav, NAVIGATION_TYPES, [15, 4, 1.5, 1])
        replies = int(reach * 0.02 * rng.random())
        shares = int(reach * 0.02 * rng.random())
        views = int(reach * (1.0 + 0.5 * rng.random()))
        story = Media(
            id=sid,
            account_id=acct.id,
            media_type="VIDEO" if video else "IMAGE",
            media_product_type="STORY",
            timestamp=ts,
            caption=None,
            media_url=None if self.chance() else _cdn(sid, "mp4" if video else "jpg"),
            permalink=f"https://instagram.com/stories/{acct.username}/{sid}",
            shortcode=_shortcode(rng),
            thumbnail_url=_cdn(sid + "_thumb", "jpg") if video else None,
            like_count=0,
            like_count_hidden=False,
            comments_count=0,
            is_comment_enabled=False,
            username=acct.username,
            shared_to_facebook=self.chance(),
            viewers=reach,
        )
        visits = int(reach * 0.05 * rng.random())
        ins = {
            "reach": reach,
            "views": views,
            "impressions": views,
            "replies": replies,
            "shares": shares,
            "reposts": int(shares * rng.random()),
            "total_interactions": replies + shares,
            "follows": int(reach * 0.01 * rng.random()),
            "profile_visits": visits,
            "navigation": sum(nav_parts.values()),
            "link_clicks": int(reach * 0.03 * rng.random()),
            # legacy, replaced by navigation breakdown (removed 2023-12-11)
            "taps_forward": nav_parts.get("tap_forward", 0),
            "taps_back": nav_parts.get("tap_back", 0),
            "exits": nav_parts.get("tap_exit", 0),
        }
        if story.shared_to_facebook:
            ins["facebook_views"] = int(views * 0.3 * rng.random())
        if video:
            ins["total_views"] = views + ins.get("facebook_views", 0)
        story.insights = ins
        if nav_parts:
            story.insight_breakdowns["navigation"] = nav_parts
        else:
            del ins["navigation"]
        self._profile_activity(story, ins, visits)
        return story

    # tags ---------------------------------------------------------------------------------------------------

    def _tags(self) -> list[Media]:
        rng = self.rng
        n = _rint(rng, 2, 4) + int(self.spec.media * self.q * 0.2)
        out = []
        for ts in self._timestamps(n):
            tagger = f"{_pick(rng, _FIRST)}.{_pick(rng, _NICHES)}.{_rint(rng, 10, 99)}"
            tagger_id = f"178414{rng.randrange(10**11):011d}"
            mid = self.ids.media()
            code = _shortcode(rng)
            mtype: MediaType = "IMAGE" if rng.random() < 0.7 else "VIDEO"
            m = Media(
                id=mid,
                account_id=tagger_id,
                media_type=mtype,
                media_product_type="FEED",
                timestamp=ts,
                caption=_caption(rng),
                media_url=None if self.chance() else _cdn(mid, "mp4" if mtype == "VIDEO" else "jpg"),
                permalink=f"https://www.instagram.com/p/{code}/",
                shortcode=code,
                thumbnail_url=_cdn(mid + "_thumb", "jpg") if mtype == "VIDEO" else None,
                like_count=_rint(rng, 0, 3000),
                like_count_hidden=self.chance(max(self.q, 0.25)),
                comments_count=_rint(rng, 0, 80),
                is_comment_enabled=True,
                username=tagger,
                tagged_by=tagger_id,
            )
            out.append(m)
        return out

    # account insights ---------------------------------------------------------------------------------------

    def _daily(self) -> list[DailyInsights]:
        rng, acct = self.rng, self.account
        last = last_complete_day(self.now)
        f = acct.followers_count
        out = []
        for back in range(self.spec.days - 1, -1, -1):
            day = last - dt.timedelta(days=back)
            weekend = 1.25 if day.weekday() >= 5 else 1.0
            reach = int(f * (0.05 + 0.3 * rng.random()) * weekend) + _rint(rng, 0, 5)
            views = int(reach * (1.3 + 1.2 * rng.random()))
            likes = int(reach * 0.08 * rng.random())
            comments = int(likes * 0.15 * rng.random())
            shares = int(reach * 0.01 * rng.random())
            saves = int(reach * 0.02 * rng.random())
            replies = int(reach * 0.005 * rng.random())
            follows = int(f * 0.004 * rng.random()) + _rint(rng, 0, 2)
            unfollows = int(follows * 0.6 * rng.random())
            links = int(reach * 0.01 * rng.random())
            v = {
                "reach": reach,
                "views": views,
                "accounts_engaged": min(reach, int((likes + comments + shares + saves + replies) * 0.8) + 1),
                "likes": likes,
                "comments": comments,
                "shares": shares,
                "saves": saves,
                "replies": replies,
                "total_interactions": likes + comments + shares + saves + replies,
                "reposts": int(shares * 0.5 * rng.random()),
                "profile_links_taps": links,
                "follows_and_unfollows": follows + unfollows,
                "follower_count": follows,
                "impressions": int(views * (0.9 + 0.1 * rng.random())),
                "profile_views": int(reach * 0.04 * rng.random()),
                "website_clicks": links // 2,
            }
            mpt_w = [5, 3, 6, 4, 0.3]
            b: dict[str, dict[str, dict[str, int]]] = {
                "reach": {
                    "media_product_type": _split(rng, reach, USER_MEDIA_PRODUCT_TYPES, mpt_w),
                    "follow_type": _split(rng, reach, FOLLOW_TYPES, [4, 6, 0.2]),
                },
                "views": {
                    "media_product_type": _split(rng, views, USER_MEDIA_PRODUCT_TYPES, mpt_w),
                    "follow_type": _split(rng, views, FOLLOW_TYPES, [5, 5, 0.2]),
                },
                "profile_links_taps": {
                    "contact_button_type": _split(rng, links, CONTACT_BUTTON_TYPES, [1, 2, 1, 2, 0.3, 1, 0.5])
                },
                "follows_and_unfollows": {
                    "follow_type": {k: x for k, x in (("FOLLOWER", follows), ("NON_FOLLOWER", unfollows)) if x}
                },
            }
            for metric in ("total_interactions", "likes", "comments", "shares", "saves"):
                b[metric] = {"media_product_type": _split(rng, v[metric], USER_MEDIA_PRODUCT_TYPES[:4], mpt_w[:4])}
            out.append(DailyInsights(date=day, values=v, breakdowns=b))
        return out

    def _demographics(self) -> dict[str, dict[str, dict[str, dict[str, int]]]]:
        rng, acct = self.rng, self.account
        age_w = [0.3 + rng.random() for _ in AGES]
        age_w[0] *= 0.2
        gender_w = [1 + rng.random(), 1 + rng.random(), 0.1]
        country_w = [rng.paretovariate(1.2) for _ in COUNTRIES]
        city_w = [rng.paretovariate(1.2) for _ in CITIES]
        engaged_base = max(acct.engagements_90d, 1)
        scale = {
            "this_week": 0.3,
            "this_month": 0.8,
            "last_14_days": 0.5,
            "last_30_days": 0.8,
            "last_90_days": 1.0,
            "prev_month": 0.75,
        }
        out: dict[str, dict[str, dict[str, dict[str, int]]]] = {}
        for metric in DEMOGRAPHIC_METRICS:
            per_tf: dict[str, dict[str, dict[str, int]]] = {}
            for tf in TIMEFRAMES:
                if metric == "follower_demographics":
                    total = int(acct.followers_count * (0.97 + 0.03 * rng.random()))
                else:
                    total = int(engaged_base * scale[tf])
                joint = _split(
                    rng,
                    total,
                    [f"{a},{g}" for a in AGES for g in GENDERS],
                    [aw * gw for aw in age_w for gw in gender_w],
                )
                age: dict[str, int] = {}
                gender: dict[str, int] = {}
                for key, val in joint.items():
                    a, g = key.split(",")
                    age[a] = age.get(a, 0) + val
                    gender[g] = gender.get(g, 0) + val
                per_tf[tf] = {
                    "age": age,
                    "gender": gender,
                    "age,gender": joint,
                    "country": _split(rng, total, COUNTRIES, country_w),
                    "city": _split(rng, int(total * 0.8), CITIES, city_w),
                }
            out[metric] = per_tf
        return out

    def _online_followers(self) -> dict[dt.date, dict[str, int]]:
        rng, f = self.rng, self.account.followers_count
        last = last_complete_day(self.now)
        curve = [
            0.2,
            0.15,
            0.1,
            0.08,
            0.08,
            0.1,
            0.2,
            0.35,
            0.45,
            0.5,
            0.55,
            0.6,
            0.65,
            0.62,
            0.6,
            0.6,
            0.62,
            0.68,
            0.75,
            0.8,
            0.78,
            0.7,
            0.5,
            0.3,
        ]
        out = {}
        for back in range(29, -1, -1):
            day = last - dt.timedelta(days=back)
            out[day] = {str(h): int(f * c * (0.85 + 0.3 * rng.random())) for h, c in enumerate(curve)}
        return out


def generate(spec: DatasetSpec = DatasetSpec(), now: dt.datetime | None = None) -> Dataset:
    """Generate the full dataset for ``spec`` anchored at ``now`` (default: this UTC hour)."""
    if now is None:
        now = default_now()
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    else:
        now = now.astimezone(UTC)

    # The generator allocates ~10^5 objects that all stay alive: pausing the cyclic GC saves ~30% of the time.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        accounts = [_AccountGen(spec, i, now).build() for i in range(spec.accounts)]
    finally:
        if gc_was_enabled:
            gc.enable()
    page_rng = random.Random(spec.seed * 7_919 + 17)

    pages: list[Page] = []
    for i, acct in enumerate(accounts):
        if acct.login != "facebook":
            continue
        page_id = f"1{i % 1000:03d}{page_rng.randrange(10**11):011d}"
        acct.page_id = page_id
        pages.append(Page(id=page_id, name=acct.name, tasks=list(PAGE_TASKS), ig_account_id=acct.id))
    # A Page without a linked IG account: discovery must skip it (§1a)
    pages.append(
        Page(
            id=f"1999{page_rng.randrange(10**11):011d}",
            name="Sandbox Side Project",
            tasks=["ANALYZE", "MODERATE"],
            ig_account_id=None,
        )
    )
    fb_user = FacebookUser(
        id=f"10{page_rng.randrange(10**14):014d}",
        name="Sandbox Creator Manager",
        pages=pages,
        scopes=list(FACEBOOK_SCOPES),
    )
    ig_users = [
        InstagramUser(account_id=a.id, scopes=list(INSTAGRAM_SCOPES)) for a in accounts if a.login == "instagram"
    ]
    return Dataset(
        seed=spec.seed,
        now=now,
        app=App(id=APP_ID, secret=APP_SECRET, redirect_uris=list(REDIRECT_URIS), require_appsecret_proof=False),
        facebook_users=[fb_user],
        instagram_users=ig_users,
        accounts={a.id: a for a in accounts},
    )

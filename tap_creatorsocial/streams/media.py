"""The `media` stream: every feed post, reel and ad of each creator, with carousel children."""

from __future__ import annotations

import datetime as dt
import typing as t

from singer_sdk import typing as th

from tap_creatorsocial.client import GraphStream, graph_timestamp
from tap_creatorsocial.media_index import MEDIA_REF_FIELDS, MediaRef

if t.TYPE_CHECKING:
    from singer_sdk import Stream
    from singer_sdk.helpers.types import Context

    from tap_creatorsocial.directory import AccountRoute
    from tap_creatorsocial.tap import TapCreatorSocial

DEFAULT_LOOKBACK_DAYS = 30

CHILD_FIELDS = ("id", "media_type", "media_url", "thumbnail_url", "timestamp")
MEDIA_FIELDS = (
    "id",
    "caption",
    "media_type",
    "media_product_type",
    "media_url",
    "permalink",
    "shortcode",
    "thumbnail_url",
    "timestamp",
    "like_count",
    "comments_count",
    "is_comment_enabled",
    "is_shared_to_feed",
    "username",
)

QUERY_FIELDS = ",".join([*MEDIA_FIELDS, "children{" + ",".join(CHILD_FIELDS) + "}"])

CHILD_SCHEMA = th.ObjectType(
    th.Property("id", th.StringType),
    th.Property("media_type", th.StringType),
    th.Property("media_url", th.StringType),
    th.Property("thumbnail_url", th.StringType),
    th.Property("timestamp", th.DateTimeType),
)


def _parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def run_now(tap: TapCreatorSocial) -> dt.datetime:
    """The run's clock: the in-process sandbox's clock when there is one (its data is anchored to it), else UTC now."""
    emulator = tap.sandbox_emulator
    return emulator.now() if emulator is not None else dt.datetime.now(dt.UTC)


def window_start(stream: Stream, context: Context | None) -> dt.datetime | None:
    """Where an account's media window starts: min(bookmark, now - insights_lookback_days), never before start_date.

    Media keep collecting likes, comments and insights for weeks after posting, so every run re-reads the last
    `insights_lookback_days` even when the bookmark is newer. None = no bookmark and no start_date: read everything.
    """
    start = stream.get_starting_timestamp(context)  # the bookmark, else start_date
    if start is None:
        return None
    start = start.astimezone(dt.UTC)
    lookback = int(stream.config.get("insights_lookback_days", DEFAULT_LOOKBACK_DAYS))
    start = min(start, run_now(t.cast("TapCreatorSocial", stream._tap)) - dt.timedelta(days=lookback))
    floor = stream.config.get("start_date")
    if floor:
        start = max(start, dt.datetime.fromisoformat(str(floor).replace("Z", "+00:00")).astimezone(dt.UTC))
    return start


def media_ref(row: dict[str, t.Any], account_id: str) -> MediaRef:
    """The index entry for one media row (raw Graph item or emitted record)."""
    return MediaRef(
        id=str(row["id"]),
        account_id=account_id,
        media_type=str(row.get("media_type") or ""),
        media_product_type=str(row.get("media_product_type") or ""),
        timestamp=_parse_time(graph_timestamp(row["timestamp"]) or row["timestamp"]),
        comments_count=row.get("comments_count"),
    )


def media_items(
    tap: TapCreatorSocial, route: AccountRoute, fields: str, start: dt.datetime | None
) -> t.Iterator[dict[str, t.Any]]:
    """An account's `/media` items (raw Graph objects with `fields`) posted since `start`, newest first.

    Paging stops at the first page that reaches past `start` (the rest is older); items before `start` on that page
    are dropped, so a pinned older post at the top of a page never cuts the listing short.
    """
    graph = tap.graph
    params = {"fields": fields, "limit": tap.config.get("page_size", 100)}
    url = graph.url(route.base_url, f"{route.account_id}/media")
    for page in graph.paginate(url, route.access_token, params, account_id=route.account_id):
        items = page.get("data") or []
        for item in items:
            if start is None or _item_time(item) >= start:
                yield item
        if start is not None and items and _item_time(items[-1]) < start:
            break


def _item_time(item: dict[str, t.Any]) -> dt.datetime:
    return _parse_time(graph_timestamp(item["timestamp"]) or item["timestamp"])


def list_media_refs(tap: TapCreatorSocial, route: AccountRoute, start: dt.datetime | None) -> list[MediaRef]:
    """List an account's media since `start` with only the index fields (used when `media` did not run)."""
    return [media_ref(item, route.account_id) for item in media_items(tap, route, MEDIA_REF_FIELDS, start)]


class MediaStream(GraphStream):
    """`GET /{ig-user-id}/media` newest first; incremental on `timestamp` with a bookmark per account.

    Children come through field expansion in the same request, so carousels cost no extra call. The window starts
    at `window_start` (bookmark pulled back by `insights_lookback_days`), and once an account's media are all read
    their refs go to the run's media index, so `media_insights` and `comments` need no second `/media` walk.
    """

    name = "media"
    path = "{account_id}/media"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    replication_key = "timestamp"
    is_sorted = False  # Meta returns newest first

    schema = th.PropertiesList(
        th.Property("id", th.StringType, required=True, description="IG media id."),
        th.Property("account_id", th.StringType, required=True, description="Owner IG user id."),
        th.Property("caption", th.StringType, description="Caption text."),
        th.Property("media_type", th.StringType, description="IMAGE, VIDEO or CAROUSEL_ALBUM (reels are VIDEO)."),
        th.Property("media_product_type", th.StringType, description="FEED, REELS or AD."),
        th.Property(
            "media_url", th.StringType, description="Media URL; null when withheld (copyright, downloads off)."
        ),
        th.Property("permalink", th.StringType, description="Public link to the post."),
        th.Property("shortcode", th.StringType, description="Shortcode in the permalink."),
        th.Property("thumbnail_url", th.StringType, description="Thumbnail (VIDEO only)."),
        th.Property("timestamp", th.DateTimeType, required=True, description="Publish time (UTC)."),
        th.Property("like_count", th.IntegerType, description="Likes; null when the owner hides like counts."),
        th.Property("comments_count", th.IntegerType, description="Comments including replies."),
        th.Property("is_comment_enabled", th.BooleanType, description="Whether comments are enabled."),
        th.Property("is_shared_to_feed", th.BooleanType, description="Reels: also shown in the feed grid."),
        th.Property("username", th.StringType, description="Owner handle."),
        th.Property("children", th.ArrayType(CHILD_SCHEMA), description="Carousel items (CAROUSEL_ALBUM only)."),
    ).to_dict()

    def account_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        assert context is not None
        route = self.route(context)
        start = window_start(self, context)
        refs: list[MediaRef] = []
        for item in media_items(self.tap, route, QUERY_FIELDS, start):
            refs.append(media_ref(item, route.account_id))
            yield item
        # only a complete listing may stand in for `/media`
        self.tap.media_index.record(route.account_id, refs, start)

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        row = super().post_process(row, context) or row
        row["timestamp"] = graph_timestamp(row.get("timestamp"))
        children = (row.get("children") or {}).get("data")
        row["children"] = (
            [{**child, "timestamp": graph_timestamp(child.get("timestamp"))} for child in children]
            if children
            else None
        )
        row.setdefault("like_count", None)
        row.setdefault("media_url", None)
        return row

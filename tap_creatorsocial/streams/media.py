"""The `media` stream: every feed post, reel and ad of each creator, with carousel children."""

from __future__ import annotations

import datetime as dt
import typing as t

import requests
from singer_sdk import typing as th

from tap_creatorsocial.client import GraphPaginator, GraphStream, graph_timestamp
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


def list_media_refs(tap: TapCreatorSocial, route: AccountRoute, start: dt.datetime | None) -> list[MediaRef]:
    """List an account's media since `start` with only the index fields (used when `media` did not run)."""
    graph = tap.graph
    params = {"fields": MEDIA_REF_FIELDS, "limit": tap.config.get("page_size", 100)}
    refs: list[MediaRef] = []
    url = graph.url(route.base_url, f"{route.account_id}/media")
    for page in graph.paginate(url, route.access_token, params, account_id=route.account_id):
        batch = [media_ref(item, route.account_id) for item in page.get("data") or []]
        refs += [ref for ref in batch if start is None or ref.timestamp >= start]
        if start is not None and batch and batch[-1].timestamp < start:
            break  # newest first: the rest is older than the window
    return refs


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

    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        fields = [*MEDIA_FIELDS, "children{" + ",".join(CHILD_FIELDS) + "}"]
        return {"fields": ",".join(fields), "limit": self.config.get("page_size", 100)}

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        #: window start per account id this run, so readers of the index know what it covers
        self.window_starts: dict[str, dt.datetime | None] = {}
        self._window_start: dt.datetime | None = None
        self._refs: list[MediaRef] = []
        self._failed = False

    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        if self.account_is_dead(context):
            return
        assert context is not None
        account_id = str(context["account_id"])
        self._window_start = window_start(self, context)
        self._refs, self._failed = [], False
        yield from super().get_records(context)
        if not self._failed:  # only a complete listing may stand in for `/media`
            self.window_starts[account_id] = self._window_start
            self.tap.media_index.record(account_id, self._refs, self._window_start)

    def account_incomplete(self, context: Context | None) -> None:
        self._failed = True
        super().account_incomplete(context)

    def get_new_paginator(self) -> GraphPaginator:
        def older_than_start(response: requests.Response) -> bool:
            items = response.json().get("data") or []
            start = self._window_start
            return bool(start and items and _parse_time(graph_timestamp(items[-1]["timestamp"]) or "") < start)

        return GraphPaginator(stop=older_than_start)

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        row = super().post_process(row, context) or row
        row["timestamp"] = graph_timestamp(row.get("timestamp"))
        start = self._window_start
        if start and _parse_time(row["timestamp"]) < start:
            return None
        children = (row.get("children") or {}).get("data")
        row["children"] = (
            [{**child, "timestamp": graph_timestamp(child.get("timestamp"))} for child in children]
            if children
            else None
        )
        row.setdefault("like_count", None)
        row.setdefault("media_url", None)
        self._refs.append(media_ref(row, row["account_id"]))
        return row

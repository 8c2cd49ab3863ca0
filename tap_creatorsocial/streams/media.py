"""The `media` stream: every feed post, reel and ad of each creator, with carousel children."""

from __future__ import annotations

import datetime as dt
import typing as t

import requests
from singer_sdk import typing as th

from tap_creatorsocial.client import GraphPaginator, GraphStream, graph_timestamp

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

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


class MediaStream(GraphStream):
    """`GET /{ig-user-id}/media` newest first; incremental on `timestamp` with a bookmark per account.

    Children come through field expansion in the same request, so carousels cost no extra call.
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

    def _start(self, context: Context | None) -> dt.datetime | None:
        start = self.get_starting_timestamp(context)
        return start.astimezone(dt.UTC) if start else None

    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        self._window_start = self._start(context)
        yield from super().get_records(context)

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
        return row

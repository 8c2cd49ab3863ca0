"""Engagement streams: comments (with replies) on the creator's media, and media the creator is tagged in.

Comments cannot be filtered by time (graph-api.md §3e), so each run re-reads the comments of the media in the run's
media window (the shared media index). Their first pages travel as batch items; replies come through field expansion
in the same answer, and only further pages (`paging.next`) cost their own request.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from functools import partial
from urllib.parse import urlencode

import requests
from singer_sdk import typing as th
from singer_sdk.pagination import BaseAPIPaginator

from tap_creatorsocial.client import GraphStream, graph_timestamp, utc_now
from tap_creatorsocial.error_policy import Action, classify
from tap_creatorsocial.errors import GraphAPIError
from tap_creatorsocial.graph import BATCH_LIMIT
from tap_creatorsocial.streams.media import DEFAULT_LOOKBACK_DAYS, MEDIA_FIELDS, list_media_refs, run_now

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_creatorsocial.directory import AccountRoute
    from tap_creatorsocial.media_index import MediaRef

COMMENT_FIELDS = ("id", "text", "timestamp", "username", "from{id,username}", "like_count", "hidden")
COMMENTS_PAGE_LIMIT = 50  # Meta's maximum per comments query (§3e)
ROUND_MEDIA = 8 * BATCH_LIMIT  # first comment pages per round of one account: 8 full batch requests
COMMENTS_QUERY_FIELDS = ",".join(
    [*COMMENT_FIELDS, f"replies.limit({COMMENTS_PAGE_LIMIT}){{{','.join(COMMENT_FIELDS)}}}"]
)

# Others' media: the media fields without the owner-only ones (graph-api.md §3f).
TAG_FIELDS = tuple(f for f in MEDIA_FIELDS if f not in {"is_comment_enabled", "is_shared_to_feed"})


#: Key in a `comments` partition's state: the newest media timestamp whose comments a finished run read. Comments
#: have no time filter, so this is what tells the next run how far back it must go (see `CommentsStream`).
COMMENTS_BOOKMARK = "media_bookmark"


def comments_window(stream: GraphStream, context: Context) -> dt.datetime | None:
    """Where the comments of an account must start: like `window_start`, but from the comments' own bookmark.

    `media` may have advanced its bookmark in a run that was killed before `comments` read that account; starting
    from the media window would then skip the older media's comments forever. None = every media.
    """
    bookmark = stream.get_context_state(context).get(COMMENTS_BOOKMARK)
    floor = stream.config.get("start_date")
    start = dt.datetime.fromisoformat(str(bookmark)) if bookmark else None
    if start is not None:
        lookback = int(stream.config.get("insights_lookback_days", DEFAULT_LOOKBACK_DAYS))
        start = min(start, run_now(stream.tap) - dt.timedelta(days=lookback))
    if floor:
        floor_at = dt.datetime.fromisoformat(str(floor).replace("Z", "+00:00")).astimezone(dt.UTC)
        start = max(start, floor_at) if start is not None else floor_at
    return start


class CommentsStream(GraphStream):
    """Top-level comments and their replies (one nesting level) on every media with comments in the window."""

    name = "comments"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    replication_key = None

    schema = th.PropertiesList(
        th.Property("id", th.StringType, required=True, description="IG comment id."),
        th.Property("account_id", th.StringType, required=True, description="IG user id owning the media."),
        th.Property("media_id", th.StringType, required=True, description="Media the comment is on."),
        th.Property(
            "parent_id", th.StringType, description="Top-level comment a reply belongs to; null for top level."
        ),
        th.Property("text", th.StringType, description="Comment text."),
        th.Property("timestamp", th.DateTimeType, description="When it was posted (UTC)."),
        th.Property("username", th.StringType, description="Author's handle."),
        th.Property("from_id", th.StringType, description="Author's Instagram-scoped id."),
        th.Property("like_count", th.IntegerType, description="Likes on the comment."),
        th.Property("hidden", th.BooleanType, description="Hidden by the media owner."),
        th.Property("extracted_at", th.DateTimeType, description="When this run read it (UTC)."),
    ).to_dict()

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        #: account id -> newest media whose comments were all read this run (set by the reader, used by the writer)
        self._complete_through: dict[str, dt.datetime | None] = {}

    def account_media(self, context: Context) -> list[MediaRef]:
        """The media whose comments this run reads: the run's media window, or further back when this stream's own
        bookmark needs it (then `/media` is listed here, once)."""
        route = self.route(context)
        lister = partial(list_media_refs, self.tap, route)
        return self.tap.media_index.covering(route.account_id, comments_window(self, context), lister)

    def request_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        assert context is not None
        route = self.route(context)
        refs = self.account_media(context)
        with_comments = [ref for ref in refs if (ref.comments_count or 0) > 0]
        query = urlencode({"fields": COMMENTS_QUERY_FIELDS, "limit": COMMENTS_PAGE_LIMIT})
        extracted_at = utc_now()
        for start in range(0, len(with_comments), ROUND_MEDIA):  # a round at a time: memory stays flat
            chunk = with_comments[start : start + ROUND_MEDIA]
            urls = [f"{ref.id}/comments?{query}" for ref in chunk]
            answers = self.graph.get_many(
                route.base_url, route.access_token, urls, batch=route.supports_batch, account_id=route.account_id
            )
            for ref, answer in zip(chunk, answers, strict=True):
                try:
                    if isinstance(answer, GraphAPIError):
                        raise answer
                    yield from self._media_comments(route, ref.id, answer, extracted_at)
                except GraphAPIError as exc:
                    if classify(exc) is not Action.SKIP_OBJECT:
                        raise
                    self.logger.warning("Skipping comments of media %s: %s", ref.id, exc.message)
        # Every comment of these media is read: `account_done` records how far this account's comments are complete
        # once they are all written.
        self._complete_through[route.account_id] = max((ref.timestamp for ref in refs), default=None)

    def account_done(self, context: Context) -> None:
        newest = self._complete_through.pop(str(context["account_id"]), None)
        state = self.get_context_state(context)
        known = state.get(COMMENTS_BOOKMARK)
        if newest is not None and (known is None or newest > dt.datetime.fromisoformat(str(known))):
            state[COMMENTS_BOOKMARK] = newest.astimezone(dt.UTC).isoformat()

    def _media_comments(
        self, route: AccountRoute, media_id: str, first_page: dict[str, t.Any], extracted_at: str
    ) -> t.Iterator[dict[str, t.Any]]:
        """Every comment of one media: the batched first page, then each `paging.next` (top level and replies)."""
        pages: t.Iterable[dict[str, t.Any]] = [first_page]
        next_url = (first_page.get("paging") or {}).get("next")
        if next_url:
            pages = [first_page, *self.graph.paginate(next_url, route.access_token, account_id=route.account_id)]
        for page in pages:
            for comment in page.get("data") or []:
                yield self._row(comment, route.account_id, media_id, None, extracted_at)
                replies = comment.get("replies") or {}
                reply_pages: t.Iterable[dict[str, t.Any]] = [replies]
                more = (replies.get("paging") or {}).get("next")
                if more:
                    reply_pages = [replies, *self.graph.paginate(more, route.access_token, account_id=route.account_id)]
                for reply_page in reply_pages:
                    for reply in reply_page.get("data") or []:
                        yield self._row(reply, route.account_id, media_id, str(comment["id"]), extracted_at)

    @staticmethod
    def _row(
        comment: dict[str, t.Any], account_id: str, media_id: str, parent_id: str | None, extracted_at: str
    ) -> dict[str, t.Any]:
        return {
            "id": str(comment["id"]),
            "account_id": account_id,
            "media_id": media_id,
            "parent_id": parent_id,
            "text": comment.get("text"),
            "timestamp": graph_timestamp(comment.get("timestamp")),
            "username": comment.get("username"),
            "from_id": (comment.get("from") or {}).get("id"),
            "like_count": comment.get("like_count"),
            "hidden": comment.get("hidden"),
            "extracted_at": extracted_at,
        }


class AfterCursorPaginator(BaseAPIPaginator[str | None]):
    """`/tags` pages carry `paging.cursors` but never `next` (§3f): ask again with `after` until a page is empty."""

    def __init__(self) -> None:
        super().__init__(None)

    def get_next(self, response: requests.Response) -> str | None:
        body = response.json()
        if not body.get("data"):
            return None
        return t.cast(str | None, ((body.get("paging") or {}).get("cursors") or {}).get("after") or None)


class TagsStream(GraphStream):
    """`GET /{ig-user-id}/tags`: other users' media the creator is tagged in (full table each run)."""

    name = "tags"
    path = "{account_id}/tags"
    primary_keys: t.ClassVar[list[str]] = ["account_id", "id"]
    replication_key = None

    schema = th.PropertiesList(
        th.Property("account_id", th.StringType, required=True, description="IG user id of the tagged creator."),
        th.Property("id", th.StringType, required=True, description="IG media id (someone else's media)."),
        th.Property("username", th.StringType, description="Handle of the account that posted it."),
        th.Property("caption", th.StringType, description="Caption text."),
        th.Property("media_type", th.StringType, description="IMAGE, VIDEO or CAROUSEL_ALBUM."),
        th.Property("media_product_type", th.StringType, description="FEED or REELS."),
        th.Property("media_url", th.StringType, description="Media URL; null when withheld."),
        th.Property("permalink", th.StringType, description="Public link to the post."),
        th.Property("shortcode", th.StringType, description="Shortcode in the permalink."),
        th.Property("thumbnail_url", th.StringType, description="Thumbnail (VIDEO only)."),
        th.Property("timestamp", th.DateTimeType, description="Publish time (UTC)."),
        th.Property("like_count", th.IntegerType, description="Likes; null when the poster hides like counts."),
        th.Property("comments_count", th.IntegerType, description="Comments including replies."),
        th.Property("extracted_at", th.DateTimeType, description="When this run read it (UTC)."),
    ).to_dict()

    def get_new_paginator(self) -> AfterCursorPaginator:  # type: ignore[override]
        return AfterCursorPaginator()

    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        params: dict[str, t.Any] = {"fields": ",".join(TAG_FIELDS), "limit": self.config.get("page_size", 100)}
        if next_page_token:
            params["after"] = next_page_token
        return params

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        row = super().post_process(row, context) or row
        row["timestamp"] = graph_timestamp(row.get("timestamp"))
        for key in ("like_count", "media_url", "caption", "thumbnail_url"):
            row.setdefault(key, None)
        row["extracted_at"] = utc_now()
        return row

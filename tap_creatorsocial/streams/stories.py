"""The `stories` stream: each creator's live stories, captured every run (Meta serves them for 24 hours only)."""

from __future__ import annotations

import typing as t

from singer_sdk import typing as th

from tap_creatorsocial.client import GraphStream, graph_timestamp, utc_now
from tap_creatorsocial.media_index import MediaRef
from tap_creatorsocial.streams.media import MEDIA_FIELDS, media_ref

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_creatorsocial.directory import AccountRoute
    from tap_creatorsocial.tap import TapCreatorSocial

# Story media carry no like/comment counts (graph-api.md §3d); the rest are the media fields.
STORY_FIELDS = tuple(
    f for f in MEDIA_FIELDS if f not in {"like_count", "comments_count", "is_comment_enabled", "is_shared_to_feed"}
)
STORY_REF_FIELDS = "id,media_type,media_product_type,timestamp"


def list_story_refs(tap: TapCreatorSocial, route: AccountRoute) -> list[MediaRef]:
    """List an account's live stories with only the index fields (used when `stories` did not run)."""
    graph = tap.graph
    params = {"fields": STORY_REF_FIELDS, "limit": tap.config.get("page_size", 100)}
    url = graph.url(route.base_url, f"{route.account_id}/stories")
    return [
        media_ref(item, route.account_id)
        for page in graph.paginate(url, route.access_token, params, account_id=route.account_id)
        for item in page.get("data") or []
    ]


class StoriesStream(GraphStream):
    """`GET /{ig-user-id}/stories` (graph-api.md §3d): full table, every run.

    Stories leave the edge after 24 h and never appear in `/media`, so there is no bookmark: each run captures
    whatever is live, and a story seen by several runs is the same row (key `id`). Once an account's stories are all
    read their refs go to the run's story index, which `story_insights` reads instead of calling `/stories` again.
    """

    name = "stories"
    path = "{account_id}/stories"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    replication_key = None

    schema = th.PropertiesList(
        th.Property("id", th.StringType, required=True, description="IG media id of the story."),
        th.Property("account_id", th.StringType, required=True, description="Owner IG user id."),
        th.Property("caption", th.StringType, description="Caption (Meta returns one per story)."),
        th.Property("media_type", th.StringType, description="IMAGE or VIDEO."),
        th.Property("media_product_type", th.StringType, description="Always STORY."),
        th.Property(
            "media_url", th.StringType, description="Media URL; null when withheld (copyright, downloads off)."
        ),
        th.Property("permalink", th.StringType, description="Link to the story."),
        th.Property("shortcode", th.StringType, description="Shortcode."),
        th.Property("thumbnail_url", th.StringType, description="Thumbnail (VIDEO only)."),
        th.Property("timestamp", th.DateTimeType, required=True, description="Publish time (UTC)."),
        th.Property("username", th.StringType, description="Owner handle."),
        th.Property("extracted_at", th.DateTimeType, description="When this run saw the story live (UTC)."),
    ).to_dict()

    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        return {"fields": ",".join(STORY_FIELDS), "limit": self.config.get("page_size", 100)}

    def account_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        assert context is not None
        account_id = str(context["account_id"])
        refs: list[MediaRef] = []
        for item in super().account_records(context):
            refs.append(media_ref(item, account_id))
            yield item
        self.tap.story_index.record(account_id, refs)  # only a complete listing may stand in for `/stories`

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        row = super().post_process(row, context) or row
        row["timestamp"] = graph_timestamp(row.get("timestamp"))
        for optional in ("caption", "media_url", "thumbnail_url", "permalink", "shortcode"):
            row.setdefault(optional, None)
        row["extracted_at"] = utc_now()
        return row

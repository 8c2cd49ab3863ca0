"""The `accounts` stream: each creator's profile as of this run."""

from __future__ import annotations

import typing as t

import requests
from singer_sdk import typing as th

from tap_creatorsocial.client import GraphStream, utc_now

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

PROFILE_FIELDS = (
    "id",
    "username",
    "name",
    "biography",
    "website",
    "profile_picture_url",
    "followers_count",
    "follows_count",
    "media_count",
)


class AccountsStream(GraphStream):
    """`GET /{ig-user-id}?fields=…` once per account (full table; one row per account, refreshed each run)."""

    name = "accounts"
    path = "{account_id}"
    primary_keys: t.ClassVar[list[str]] = ["account_id"]
    replication_key = None
    records_jsonpath = "$"

    schema = th.PropertiesList(
        th.Property(
            "account_id", th.StringType, required=True, description="Instagram user id (IG professional account)."
        ),
        th.Property("username", th.StringType, description="Instagram handle."),
        th.Property("name", th.StringType, description="Profile name."),
        th.Property("biography", th.StringType, description="Profile bio."),
        th.Property("website", th.StringType, description="Website on the profile."),
        th.Property("profile_picture_url", th.StringType, description="Profile picture URL (expires)."),
        th.Property("followers_count", th.IntegerType, description="Followers at extraction time."),
        th.Property("follows_count", th.IntegerType, description="Accounts followed at extraction time."),
        th.Property("media_count", th.IntegerType, description="Media count as Meta reports it."),
        th.Property(
            "login_type",
            th.StringType,
            allowed_values=["facebook", "instagram"],
            description="How the creator connected: Facebook Login (via a Page) or Instagram Login.",
        ),
        th.Property("page_id", th.StringType, description="Linked Facebook Page id (Facebook Login only)."),
        th.Property("extracted_at", th.DateTimeType, description="When this run read the profile (UTC)."),
    ).to_dict()

    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        return {"fields": ",".join(PROFILE_FIELDS)}

    def get_new_paginator(self) -> None:  # type: ignore[override]
        return None

    def parse_response(self, response: requests.Response) -> t.Iterable[dict]:
        yield response.json()

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        route = self.route(context)
        row.pop("id", None)
        row.update(account_id=route.account_id, login_type=route.login, page_id=route.page_id, extracted_at=utc_now())
        return row

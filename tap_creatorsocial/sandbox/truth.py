"""The expected dataset: everything Meta would serve the owner of each account on one API version.

Tests compare the tap's extraction with this (it is what ``/__truth`` returns). It is built by calling the very rule
functions the emulator serves with (``rules.user_node``, ``rules.media_insights``, ...), so truth and API can never
disagree; only the choice of *what to ask* (every valid metric, every breakdown) is made here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from . import rules
from .errors import GraphError
from .model import Account, Dataset, Media
from .rules import DEFAULT_VERSION, FB_HOST, IG_HOST

DEMOGRAPHIC_BREAKDOWNS = ("age", "gender", "country", "city")


def host_for(account: Account) -> str:
    """The Graph host an account's owner reaches it through (login kind decides, §1)."""
    return FB_HOST if account.login == "facebook" else IG_HOST


def _skip_reason(err: GraphError) -> str:
    sub = f"/{err.subcode}" if err.subcode is not None else ""
    return f"{err.code}{sub}: {err.message}"


def _media_truth(
    version: int, host: str, media: Media, now: dt.datetime
) -> tuple[dict[str, int] | None, dict[str, dict[str, int]], str | None]:
    """(values by metric, breakdowns by metric, skip reason) for one media object."""
    metrics = [
        m
        for m in rules.valid_media_metrics(version, host, media, now)
        if not (rules.MEDIA_METRICS[m].needs_fb_share and not media.shared_to_facebook)
    ]
    block = rules.media_insights_block(media, now)
    if block is not None:
        return None, {}, _skip_reason(block)
    if not metrics:
        return None, {}, f"no metric is valid for {media.media_product_type} on v{version}"
    try:
        items = rules.media_insights(version, host, media, metrics, None, None, now)
    except GraphError as err:
        return None, {}, _skip_reason(err)
    values = {item["name"]: item["values"][0]["value"] for item in items}
    breakdowns: dict[str, dict[str, int]] = {}
    for metric in metrics:
        bd = rules.MEDIA_METRICS[metric].breakdown
        if bd is None or metric not in values:
            continue
        for item in rules.media_insights(version, host, media, [metric], bd, None, now):
            results = item["total_value"]["breakdowns"][0]["results"]
            breakdowns[metric] = {r["dimension_values"][0]: r["value"] for r in results}
    return values, breakdowns, None


def _demographics(account: Account) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for metric, rule in rules.USER_METRICS.items():
        if rule.source != "demographics" or not rules.user_metric_served(account, metric):
            continue
        per_tf: dict[str, Any] = {}
        for tf in rules.TIMEFRAMES_VALID:
            per_b: dict[str, dict[str, int]] = {}
            for b in DEMOGRAPHIC_BREAKDOWNS:
                results = rules.demographic_results(account, metric, tf, [b])
                if results:
                    per_b[b] = {r["dimension_values"][1]: r["value"] for r in results}
            if per_b:
                per_tf[tf] = per_b
        if per_tf:
            out[metric] = per_tf
    return out


def _online_followers(account: Account, now: dt.datetime) -> dict[str, dict[str, int]]:
    if not rules.user_metric_served(account, "online_followers"):
        return {}
    return {
        day.isoformat(): dict(hours)
        for day, hours in sorted(account.online_followers.items())
        if rules.bucket_has_data("online_followers", day, now)
    }


def build_truth(dataset: Dataset, version: int = DEFAULT_VERSION) -> dict[str, Any]:
    """JSON-serializable full expected dataset as served to each account's owner on ``version``."""
    now = dataset.now
    truth: dict[str, Any] = {
        "now": rules.format_ts(now),
        "version": version,
        "accounts": [],
        "media": [],
        "stories": [],
        "comments": [],
        "tags": [],
        "media_insights": {},
        "media_insight_breakdowns": {},
        "skipped": {},
        "account_insights": {},
        "demographics": {},
        "online_followers": {},
        "pages": [],
    }
    n_children = 0
    for account in dataset.accounts.values():
        host = host_for(account)
        truth["accounts"].append({**rules.user_node(account, host), "login": account.login, "page_id": account.page_id})
        live_stories = [s for s in account.stories if now - s.timestamp < rules.STORY_INSIGHTS_TTL]
        for media in account.media:
            row = {**rules.media_node(media, host, indirect=False), "account_id": account.id}
            if media.children:
                row["children"] = [rules.media_node(c, host, indirect=True) for c in media.children]
                n_children += len(media.children)
            truth["media"].append(row)
            for comment in media.comments:
                for c in (comment, *comment.replies):
                    truth["comments"].append(
                        {**rules.comment_node(c, media), "media_id": media.id, "account_id": account.id}
                    )
        for story in live_stories:
            truth["stories"].append({**rules.media_node(story, host, indirect=False), "account_id": account.id})
        for tagged in account.tags:
            truth["tags"].append({**rules.media_node(tagged, host, indirect=True), "tagged_account_id": account.id})
        for media in [*account.media, *live_stories]:
            values, breakdowns, skipped = _media_truth(version, host, media, now)
            if skipped is not None:
                truth["skipped"][media.id] = skipped
                continue
            truth["media_insights"][media.id] = values
            if breakdowns:
                truth["media_insight_breakdowns"][media.id] = breakdowns
        truth["account_insights"][account.id] = {
            day.isoformat(): vals for day, vals in rules.served_daily_values(version, account, now).items()
        }
        truth["demographics"][account.id] = _demographics(account)
        truth["online_followers"][account.id] = _online_followers(account, now)
    for user in dataset.facebook_users:
        truth["pages"].extend(rules.page_node(p) for p in user.pages)
    truth["counts"] = {
        "accounts": len(truth["accounts"]),
        "media": len(truth["media"]),
        "children": n_children,
        "stories": len(truth["stories"]),
        "comments": len(truth["comments"]),
        "top_level_comments": sum(1 for c in truth["comments"] if "parent_id" not in c),
        "tags": len(truth["tags"]),
        "media_insights": len(truth["media_insights"]),
        "skipped": len(truth["skipped"]),
        "pages": len(truth["pages"]),
        "account_insight_days": sum(len(v) for v in truth["account_insights"].values()),
    }
    return truth

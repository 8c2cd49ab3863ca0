"""`comments` and `tags` against the in-process sandbox: every comment and reply, every tagged media, paging quirks."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import pytest

from tap_creatorsocial.sandbox import DatasetSpec, GraphEmulator, create_emulator, generate
from tap_creatorsocial.sandbox import truth as sandbox_truth
from tap_creatorsocial.streams import engagement
from tests.helpers import collect, make_tap, select_only

NOW = dt.datetime(2026, 9, 1, 15, tzinfo=dt.UTC)


def config(**extra: Any) -> dict[str, Any]:
    options = {"seed": 5, "accounts": 4, "media": 12, "stories": 0, "now": NOW.isoformat()}
    options.update(extra.pop("sandbox_options", {}))
    return {"sandbox": True, "sandbox_options": options, **extra}


def iso(graph_ts: str) -> str:
    return dt.datetime.strptime(graph_ts, "%Y-%m-%dT%H:%M:%S%z").isoformat()


class Run:
    """One sync of the given streams, optionally on a custom emulator, with the requests it sent and the truth."""

    def __init__(self, cfg: dict[str, Any], streams: tuple[str, ...], emulator: GraphEmulator | None = None) -> None:
        tap, writer = make_tap(cfg)
        if emulator is not None:
            tap.__dict__["sandbox_emulator"] = emulator  # before the session is built (cached_property)
        select_only(tap, *streams)
        self.tap = tap
        self.urls: list[str] = []
        session = tap.graph.session
        original = session.send

        def spy(request: Any, **kwargs: Any) -> Any:
            self.urls.append(request.url)
            return original(request, **kwargs)

        session.send = spy  # type: ignore[method-assign]
        tap.sync_all()
        self.records, self.state = collect(writer)
        assert tap.sandbox_emulator is not None
        self.emulator = tap.sandbox_emulator
        self.truth = sandbox_truth.build_truth(self.emulator.dataset)


def expected_comments(truth: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        c["id"]: {
            "id": c["id"],
            "account_id": c["account_id"],
            "media_id": c["media_id"],
            "parent_id": c.get("parent_id"),
            "text": c["text"],
            "timestamp": iso(c["timestamp"]),
            "username": c["username"],
            "from_id": c["from"]["id"],
            "like_count": c["like_count"],
            "hidden": c["hidden"],
        }
        for c in truth["comments"]
    }


def actual_comments(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["id"]: {k: v for k, v in r.items() if k != "extracted_at"} for r in records}


@pytest.fixture(scope="module")
def run() -> Run:
    return Run(config(page_size=2), ("comments", "tags"))


def test_every_comment_and_reply_matches_truth(run: Run) -> None:
    expected = expected_comments(run.truth)
    replies = [c for c in expected.values() if c["parent_id"]]
    assert len(expected) > 50
    assert replies
    rows = run.records["comments"]
    assert len(rows) == len({r["id"] for r in rows})  # primary key unique
    assert actual_comments(rows) == expected


def test_comment_first_pages_are_batched_once_per_media(run: Run) -> None:
    with_comments = {c["media_id"] for c in run.truth["comments"]}
    stats = run.emulator.stats()["by_endpoint"]
    calls = sum(n for key, n in stats.items() if key.endswith("/{media-id}/comments"))
    assert calls == len(with_comments)  # one item per media with comments, none for media without
    # first pages travel in batches for Facebook Login (no media has > 50 top-level comments); Instagram Login has
    # no documented batch, so its accounts get one GET per media
    direct = [u for u in run.urls if urlsplit(u).path.endswith("/comments")]
    assert direct
    assert all("graph.instagram.com" in u for u in direct)


def test_tags_match_truth_with_cursor_paging(run: Run) -> None:
    expected = {
        (t["tagged_account_id"], t["id"]): {
            "like_count": t.get("like_count"),
            "username": t["username"],
            "timestamp": iso(t["timestamp"]),
            "caption": t.get("caption"),
            "media_url": t.get("media_url"),
            "permalink": t.get("permalink"),
            "comments_count": t.get("comments_count"),
        }
        for t in run.truth["tags"]
    }
    rows = run.records["tags"]
    actual = {(r["account_id"], r["id"]): {k: r[k] for k in expected[(r["account_id"], r["id"])]} for r in rows}
    assert len(rows) == len(actual)
    assert actual == expected
    assert any(v["like_count"] is None for v in expected.values())  # hidden like counts are exercised
    # page_size 2 and no `next` links: pages were requested with the `after` cursor
    tag_urls = [u for u in run.urls if urlsplit(u).path.endswith("/tags")]
    assert any("after=" in u for u in tag_urls)
    per_account = Counter(urlsplit(u).path for u in tag_urls)
    for account_id, n_tags in Counter(t["tagged_account_id"] for t in run.truth["tags"]).items():
        assert per_account[f"/v25.0/{account_id}/tags"] == -(-n_tags // 2) + 1  # every page, then the empty one


def test_paging_of_many_comments_and_replies(monkeypatch: pytest.MonkeyPatch) -> None:
    """More comments than a page holds: `paging.next` of top-level pages and of nested replies is followed."""
    monkeypatch.setattr(engagement, "COMMENTS_PAGE_LIMIT", 3)
    fields = ",".join(engagement.COMMENT_FIELDS)
    monkeypatch.setattr(
        engagement, "COMMENTS_QUERY_FIELDS", ",".join([*engagement.COMMENT_FIELDS, f"replies.limit(1){{{fields}}}"])
    )
    dataset = generate(DatasetSpec(seed=9, accounts=2, media=4, stories=0, comments=6, quirk_rate=0.5), now=NOW)
    run = Run(config(), ("comments",), emulator=GraphEmulator(dataset))
    expected = expected_comments(run.truth)
    assert max(Counter(c["parent_id"] for c in expected.values() if c["parent_id"]).values()) > 1
    assert actual_comments(run.records["comments"]) == expected
    followed = [u for u in run.urls if "after=" in u]
    assert any("/replies" in u for u in followed)
    assert any("/comments" in u for u in followed)
    assert len(run.urls) == len(set(run.urls))  # nothing requested twice


def test_comments_use_the_media_index_when_media_runs() -> None:
    run = Run(config(sandbox_options={"accounts": 2}), ("media", "comments"))
    stats = run.emulator.stats()["by_endpoint"]
    media_pages = sum(n for key, n in stats.items() if key.endswith("/{ig-user-id}/media"))
    alone = Run(config(sandbox_options={"accounts": 2}), ("media",)).emulator.stats()["by_endpoint"]
    assert media_pages == sum(n for key, n in alone.items() if key.endswith("/{ig-user-id}/media"))
    assert actual_comments(run.records["comments"]) == expected_comments(run.truth)


def test_account_ids_and_missing_comment_permission() -> None:
    emulator = create_emulator(seed=5, accounts=4, media=12, stories=0, now=NOW)
    ig_accounts = [a.id for a in emulator.dataset.accounts.values() if a.login == "instagram"]
    fb_account = next(a.id for a in emulator.dataset.accounts.values() if a.login == "facebook")
    for record in emulator.tokens._tokens.values():
        if record.owner_id == ig_accounts[0]:
            record.scopes = [s for s in record.scopes if s != "instagram_business_manage_comments"]
    run = Run(config(account_ids=[fb_account, ig_accounts[0]]), ("comments", "tags"), emulator=emulator)
    assert {r["account_id"] for r in run.records["comments"]} == {fb_account}
    assert {r["account_id"] for r in run.records["tags"]} == {fb_account, ig_accounts[0]}
    problems = run.tap.directory.problems
    assert [(p.kind, ig_accounts[0] in p.subject, "comments" in p.subject) for p in problems] == [
        ("permission", True, True)
    ]

"""`stories` and `story_insights` against the in-process sandbox, compared with the sandbox truth."""

from __future__ import annotations

import datetime as dt
import logging
import typing as t
from collections import Counter

import pytest

from scripts.check_duckdb import requested_truth
from tap_creatorsocial.media_index import MediaRef
from tap_creatorsocial.sandbox.truth import build_truth
from tests.helpers import collect
from tests.test_streams_media_insights import assert_unique_keys, insight_calls, sandbox_tap, tidy


def iso(meta_timestamp: str) -> str:
    """Meta's `2026-11-20T10:00:00+0000` as the tap writes it (`…+00:00`)."""
    return dt.datetime.strptime(meta_timestamp, "%Y-%m-%dT%H:%M:%S%z").isoformat()


def test_stories_are_the_live_stories_with_every_field() -> None:
    tap, writer, calls = sandbox_tap()
    tap.sync_all()
    records, state = collect(writer)
    truth = build_truth(tap.sandbox_emulator.dataset, 25)  # type: ignore[union-attr]

    fields = ("caption", "media_type", "media_product_type", "media_url", "permalink", "shortcode", "thumbnail_url")
    want = {
        s["id"]: {**{f: s.get(f) for f in fields}, "timestamp": iso(s["timestamp"]), "account_id": s["account_id"]}
        for s in truth["stories"]
    }
    got = {r["id"]: {k: r[k] for k in (*fields, "timestamp", "account_id")} for r in records["stories"]}
    assert got == want
    assert len(want) == 2 * 3  # 3 live per account; the expired ones are not served
    assert all(r["extracted_at"] and r["timestamp"].endswith("+00:00") for r in records["stories"])
    assert_unique_keys(tap, records)
    assert "replication_key_value" not in str(state["bookmarks"]["stories"])  # full table, every run
    assert Counter(c.path for c in calls if c.path.endswith("/stories")) == {
        f"{a}/stories": 1 for a in tap.directory.account_ids()
    }


def test_story_insights_match_truth_with_breakdowns_and_skip_low_viewer_stories(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tap, writer, _ = sandbox_tap()
    caplog.set_level(logging.INFO)
    tap.sync_all()
    records, _ = collect(writer)
    dataset = tap.sandbox_emulator.dataset  # type: ignore[union-attr]
    truth = requested_truth(build_truth(dataset, 25))
    live = {s["id"] for s in truth["stories"]}

    totals, breakdowns = tidy(records["story_insights"], "story_id")
    assert totals == {i: v for i, v in truth["media_insights"].items() if i in live}
    assert breakdowns == {i: v for i, v in truth["media_insight_breakdowns"].items() if i in live}
    assert any("navigation" in b for b in breakdowns.values())
    assert {(r["metric"], r["breakdown"]) for r in records["story_insights"] if r["breakdown"] != "total"} <= {
        ("navigation", "story_navigation_action_type"),
        ("profile_activity", "action_type"),
    }
    few = {s.id for a in dataset.accounts.values() for s in a.stories if s.id in live and s.viewers < 5}
    assert few  # the generator guarantees one per account
    assert set(tap.streams["story_insights"].skipped) == few  # type: ignore[attr-defined]
    assert few == set(truth["skipped"]) & live
    for story_id in few:
        assert f"No insights for story {story_id}: (#10) Not enough viewers" in caplog.text
    assert all(r["story_timestamp"].endswith("+00:00") for r in records["story_insights"])
    assert_unique_keys(tap, records)


def test_story_insights_alone_lists_stories_once_and_skips_a_story_that_expired() -> None:
    tap, writer, calls = sandbox_tap()
    for name, stream in tap.streams.items():
        stream.selected = name == "story_insights"
    dataset = tap.sandbox_emulator.dataset  # type: ignore[union-attr]
    account = next(a for a in dataset.accounts.values() if a.login == "facebook")
    now = tap.sandbox_emulator.now()  # type: ignore[union-attr]
    expired = next(s for s in account.stories if now - s.timestamp > dt.timedelta(hours=24))
    live = [s for s in account.stories if now - s.timestamp < dt.timedelta(hours=24)]
    # as if `stories` had listed this account just before the oldest story's 24 h ran out
    refs = [MediaRef(s.id, account.id, s.media_type, "STORY", s.timestamp) for s in [*live, expired]]
    tap.story_index.record(account.id, refs)

    tap.sync_all()
    records, _ = collect(writer)

    skipped: dict[str, str] = tap.streams["story_insights"].skipped  # type: ignore[attr-defined]
    assert skipped[expired.id].startswith("the story expired before its insights were read")
    assert expired.id not in {r["story_id"] for r in records["story_insights"]}
    other = [a for a in tap.directory.account_ids() if a != account.id]
    listed = Counter(c.path for c in calls if c.path.endswith("/stories"))
    assert listed == {f"{a}/stories": 1 for a in other}  # the indexed account is not listed again
    truth = requested_truth(build_truth(dataset, 25))
    truth_live = {s["id"] for s in truth["stories"]}
    totals, _ = tidy(records["story_insights"], "story_id")
    assert totals == {i: v for i, v in truth["media_insights"].items() if i in truth_live}
    asked = Counter(c.path for c in insight_calls(calls))
    assert asked  # every story asked once per call of the catalog (no repeats)
    assert all(c.path.split("/")[0] in {r.id for r in refs} | truth_live for c in insight_calls(calls))


def test_instagram_login_gets_individual_gets_and_facebook_login_a_batch() -> None:
    tap, writer, calls = sandbox_tap()
    emu = tap.sandbox_emulator
    assert emu is not None
    seen: list[tuple[str, str]] = []
    original = emu.handle

    def handle(method: str, url: str, headers: t.Any, body: bytes | None = None) -> t.Any:
        seen.append((method, url.split("/")[2]))
        return original(method, url, headers, body)

    emu.handle = handle  # type: ignore[method-assign]
    tap.sync_all()
    collect(writer)
    assert ("POST", "graph.facebook.com") in seen
    assert ("POST", "graph.instagram.com") not in seen
    ig_insights = [c for c in insight_calls(calls) if c.host == "graph.instagram.com"]
    assert ig_insights
    assert sum(1 for m, h in seen if (m, h) == ("GET", "graph.instagram.com")) >= len(ig_insights)

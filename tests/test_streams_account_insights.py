"""`account_insights` against the in-process sandbox: every daily value Meta serves, windows, bookmarks, lookback."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import pytest

from tap_creatorsocial.catalog.metrics import (
    ACCOUNT_METRICS_BY_NAME,
    ALL_ACCOUNT_BREAKDOWNS,
    account_insight_requests,
    account_metrics_for,
)
from tap_creatorsocial.sandbox import rules
from tap_creatorsocial.sandbox import truth as sandbox_truth
from tap_creatorsocial.sandbox.dataset import last_complete_day
from tap_creatorsocial.streams.account_insights import closed_day, date_windows
from tests.helpers import collect, make_tap, run_tap, select_only

PACIFIC = ZoneInfo("America/Los_Angeles")
NOW = "2026-09-01T15:00:00Z"
STREAM = "account_insights"


def config(**extra: Any) -> dict[str, Any]:
    options = {"seed": 11, "accounts": 4, "media": 4, "stories": 0, "now": NOW}
    options.update(extra.pop("sandbox_options", {}))
    return {"sandbox": True, "sandbox_options": options, **extra}


class Run:
    """One sync with its records, state, the requests the tap sent, and the sandbox truth of the same dataset."""

    def __init__(self, cfg: dict[str, Any], state: dict[str, Any] | None = None, version: int = 25) -> None:
        tap, writer = make_tap(cfg, state)
        select_only(tap, STREAM)
        self.requests: list[Any] = []
        session = tap.graph.session
        original = session.send

        def spy(request: Any, **kwargs: Any) -> Any:
            self.requests.append(request)
            return original(request, **kwargs)

        session.send = spy  # type: ignore[method-assign]
        tap.sync_all()
        self.records, self.state = collect(writer)
        self.rows = self.records.get(STREAM, [])
        emulator = tap.sandbox_emulator
        assert emulator is not None
        self.dataset = emulator.dataset
        self.truth = sandbox_truth.build_truth(self.dataset, version)
        self.version = version

    def insight_queries(self) -> list[dict[str, str]]:
        """Path and query parameters of every `/insights` call, batch items included."""
        out: list[dict[str, str]] = []
        for request in self.requests:
            parts = urlsplit(request.url)
            if request.method == "POST" and request.body:
                body = parse_qs(request.body if isinstance(request.body, str) else request.body.decode())
                for item in json.loads(body["batch"][0]):
                    rel = urlsplit(item["relative_url"])
                    if rel.path.endswith("/insights"):
                        out.append({**dict(parse_qsl(rel.query)), "path": rel.path})
            elif parts.path.endswith("/insights"):
                out.append({**dict(parse_qsl(parts.query)), "path": parts.path})
        return out


def expected_totals(run: Run) -> dict[tuple[str, str, str], int]:
    """Truth values of the metrics the tap's catalog requests on the run's version."""
    wanted = {m.name for m in account_metrics_for(run.version)}
    return {
        (account, day, metric): value
        for account, days in run.truth["account_insights"].items()
        for day, values in days.items()
        for metric, value in values.items()
        if metric in wanted
    }


def totals(rows: list[dict[str, Any]]) -> dict[tuple[str, str, str], int]:
    return {(r["account_id"], r["date"], r["metric"]): r["value"] for r in rows if r["breakdown"] == "total"}


@pytest.fixture(scope="module")
def first() -> Run:
    return Run(config())


def test_every_daily_value_matches_truth(first: Run) -> None:
    expected = expected_totals(first)
    assert len(expected) > 1000  # 4 accounts x 90 days x ~12 metrics: the comparison is not vacuous
    assert totals(first.rows) == expected


def test_breakdown_values_match_the_sandbox_days(first: Run) -> None:
    served = first.truth["account_insights"]
    pairs = [(m, b) for metrics, _, b in account_insight_requests(first.version) if b for m in metrics]
    expected: dict[tuple[str, str, str, str, str], int] = {}
    for account in first.dataset.accounts.values():
        for day in account.daily_insights:
            values = served[account.id].get(day.date.isoformat(), {})
            for metric, breakdown in pairs:
                if metric not in values:
                    continue
                for dim, value in day.breakdowns.get(metric, {}).get(breakdown, {}).items():
                    expected[(account.id, day.date.isoformat(), metric, breakdown, dim)] = value
    actual = {
        (r["account_id"], r["date"], r["metric"], r["breakdown"], r["breakdown_value"]): r["value"]
        for r in first.rows
        if r["breakdown"] != "total"
    }
    assert len(expected) > 1000
    assert actual == expected


def test_rows_are_typed_and_keys_unique(first: Run) -> None:
    keys = Counter((r["account_id"], r["date"], r["metric"], r["breakdown"], r["breakdown_value"]) for r in first.rows)
    assert max(keys.values()) == 1
    by_metric = {r["metric"]: r["metric_type"] for r in first.rows}
    assert by_metric["follower_count"] == "time_series"
    assert by_metric["reach"] == "total_value"
    assert {r["period"] for r in first.rows} == {"day"}
    assert all("token" not in json.dumps(r).lower() for r in first.rows[:50])


def test_first_run_covers_retention_and_ends_at_the_last_closed_day(first: Run) -> None:
    last = last_complete_day(first.dataset.now)
    dates = {r["date"] for r in first.rows if r["metric"] == "reach"}
    assert max(dates) == last.isoformat()
    assert min(dates) == (last - dt.timedelta(days=89)).isoformat()
    follower_dates = {r["date"] for r in first.rows if r["metric"] == "follower_count"}
    assert min(follower_dates) == (last - dt.timedelta(days=29)).isoformat()


def test_small_accounts_have_no_follower_metrics_and_that_is_not_an_error(first: Run) -> None:
    small = [a.id for a in first.dataset.accounts.values() if a.followers_count < 100]
    assert small
    for account in small:
        metrics = {r["metric"] for r in first.rows if r["account_id"] == account}
        assert "reach" in metrics
        assert not metrics & {"follower_count", "follows_and_unfollows"}


def test_windows_stay_within_thirty_days_and_total_values_are_single_days(first: Run) -> None:
    queries = first.insight_queries()
    assert queries
    for query in queries:
        since, until = int(query["since"]), int(query["until"])
        assert 0 < until - since <= 30 * 86_400
        start = dt.datetime.fromtimestamp(since, PACIFIC)
        assert (start.hour, start.minute) == (0, 0)  # windows start at Pacific midnight
        if query.get("metric_type") == "total_value":
            end = dt.datetime.fromtimestamp(until, PACIFIC)
            assert (end.date() - start.date()).days == 1
            assert (end.hour, end.minute) == (0, 0)
    # nothing asked twice
    assert max(Counter(json.dumps(q, sort_keys=True) for q in queries).values()) == 1
    # the one-day items travel in batches of up to 50
    batches = [r for r in first.requests if r.method == "POST"]
    assert len(batches) < len(queries) / 10


def test_second_run_reads_only_the_lookback_window(first: Run) -> None:
    second = Run(config(), state=first.state)
    last = last_complete_day(first.dataset.now)
    lookback = {(last - dt.timedelta(days=n)).isoformat() for n in range(3)}
    assert second.rows
    assert {r["date"] for r in second.rows} == lookback
    expected = {k: v for k, v in expected_totals(second).items() if k[1] in lookback}
    assert totals(second.rows) == expected


def test_next_day_run_reads_lookback_plus_new_day(first: Run) -> None:
    later = dt.datetime.fromisoformat(NOW.replace("Z", "+00:00")) + dt.timedelta(days=1)
    run = Run(config(sandbox_options={"now": later.isoformat()}), state=first.state)
    last = last_complete_day(first.dataset.now)
    assert {r["date"] for r in run.rows} == {(last + dt.timedelta(days=n)).isoformat() for n in range(-2, 2)}


def test_start_date_and_account_ids_limit_the_run(first: Run) -> None:
    account = next(iter(first.dataset.accounts))
    last = last_complete_day(first.dataset.now)
    start = last - dt.timedelta(days=9)
    run = Run(config(start_date=f"{start.isoformat()}T00:00:00Z", account_ids=[account]))
    assert {r["account_id"] for r in run.rows} == {account}
    assert min(r["date"] for r in run.rows) == start.isoformat()
    expected = {k: v for k, v in expected_totals(run).items() if k[0] == account and k[1] >= start.isoformat()}
    assert totals(run.rows) == expected


def test_v21_run_completes_with_its_metrics() -> None:
    run = Run(config(api_version="v21.0", sandbox_options={"accounts": 2}), version=21)
    assert "views" not in {r["metric"] for r in run.rows}  # views exists from v22
    assert totals(run.rows) == expected_totals(run)


def test_a_metric_meta_refuses_is_dropped_once_and_the_rest_still_lands(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # this "Meta" has not launched reposts yet: naming it fails the whole call (code 100, metric[i] must be one of)
    monkeypatch.setitem(
        rules.USER_METRICS, "reposts", replace(rules.USER_METRICS["reposts"], launched=dt.date(2030, 1, 1))
    )
    with caplog.at_level(logging.WARNING):
        run = Run(config(sandbox_options={"accounts": 2}))
    assert "reposts" not in {r["metric"] for r in run.rows}
    assert totals(run.rows) == expected_totals(run)
    assert sum("refuses metric" in m for m in caplog.messages) == 1
    # the second account never asks for it: only the first account's one-day items were refused
    refused = [q for q in run.insight_queries() if "reposts" in q["metric"].split(",")]
    assert len({q["path"] for q in refused}) == 1


def test_missing_insights_permission_skips_that_account_only() -> None:
    tap, writer = make_tap(config(sandbox_options={"accounts": 2}))
    select_only(tap, STREAM)
    emulator = tap.sandbox_emulator
    assert emulator is not None
    ig_account = next(a.id for a in emulator.dataset.accounts.values() if a.login == "instagram")
    for record in emulator.tokens._tokens.values():
        if record.owner_id == ig_account:
            record.scopes = [s for s in record.scopes if s != "instagram_business_manage_insights"]
    tap.sync_all()
    records, _ = collect(writer)
    assert {r["account_id"] for r in records[STREAM]} == set(emulator.dataset.accounts) - {ig_account}
    assert [p.kind for p in tap.directory.problems] == ["permission"]
    assert ig_account in tap.directory.problems[0].subject


def test_day_mapping_helpers() -> None:
    # winter (PST, UTC-8) and summer (PDT, UTC-7) bucket ends both close the previous Pacific day
    assert closed_day("2026-01-12T08:00:00+0000") == dt.date(2026, 1, 11)
    assert closed_day("2026-07-12T07:00:00+0000") == dt.date(2026, 7, 11)
    # 30 Pacific days across the November DST change last 30 days + 1 hour: the window is shortened
    windows = date_windows(dt.date(2026, 10, 20), dt.date(2026, 12, 31))
    assert windows[0] == (dt.date(2026, 10, 20), dt.date(2026, 11, 17))
    assert all(b >= a for a, b in windows)
    assert windows[-1][1] == dt.date(2026, 12, 31)


def test_run_tap_helper_returns_state() -> None:
    records, state = run_tap(config(sandbox_options={"accounts": 1}), streams=(STREAM,))
    assert records[STREAM]
    partitions = state["bookmarks"][STREAM]["partitions"]
    assert [p["replication_key_value"] for p in partitions] == [max(r["date"] for r in records[STREAM])]


# -- account_insight_metrics / account_insight_breakdowns: only what is asked, at the fewest calls --------------------


def truth_values(run: Run, metrics: set[str]) -> dict[tuple[str, str, str], int]:
    return {k: v for k, v in expected_totals(run).items() if k[2] in metrics}


def breakdown_truth(run: Run, pairs: set[tuple[str, str]]) -> dict[tuple[str, str, str, str, str], int]:
    """Sandbox day values of these (metric, breakdown) pairs, on the days the tap reads (those the truth serves)."""
    served = run.truth["account_insights"]
    out = {}
    for account in run.dataset.accounts.values():
        for day in account.daily_insights:
            values = served[account.id].get(day.date.isoformat(), {})
            for metric, breakdown in pairs:
                if metric in values:
                    for dim, value in day.breakdowns.get(metric, {}).get(breakdown, {}).items():
                        out[(account.id, day.date.isoformat(), metric, breakdown, dim)] = value
    return out


def breakdown_rows(rows: list[dict[str, Any]]) -> dict[tuple[str, str, str, str, str], int]:
    return {
        (r["account_id"], r["date"], r["metric"], r["breakdown"], r["breakdown_value"]): r["value"]
        for r in rows
        if r["breakdown"] != "total"
    }


def calls_per_account(run: Run) -> Counter[str]:
    return Counter(q["path"].strip("/").split("/")[1] for q in run.insight_queries())


@pytest.fixture(scope="module")
def lean() -> Run:
    return Run(config(account_insight_metrics=["reach", "follower_count"], account_insight_breakdowns=[]))


def test_lean_selection_reads_time_series_windows_with_a_handful_of_calls(first: Run, lean: Run) -> None:
    assert {r["metric"] for r in lean.rows} == {"reach", "follower_count"}
    assert {r["metric_type"] for r in lean.rows} == {"time_series"}
    assert {r["breakdown"] for r in lean.rows} == {"total"}
    assert totals(lean.rows) == truth_values(lean, {"reach", "follower_count"})
    # 90 days of reach in 30-day windows, follower_count joining the window of its last 30 days: 3 calls per account
    # (the default plan: 90 one-day total_value calls + 3 x 90 breakdown calls + 1 follower_count window)
    assert calls_per_account(lean) == dict.fromkeys(lean.dataset.accounts, 3)
    assert calls_per_account(first) == dict.fromkeys(first.dataset.accounts, 90 + 3 * 90 + 1)
    last = last_complete_day(lean.dataset.now)
    for query in lean.insight_queries():
        assert query["metric_type"] == "time_series"
        assert "breakdown" not in query
        since = dt.datetime.fromtimestamp(int(query["since"]), PACIFIC).date()
        if "follower_count" in query["metric"].split(","):
            assert since >= last - dt.timedelta(days=29)  # never asked for a day Meta no longer keeps


def test_time_series_reach_equals_the_one_day_total_value_reach(first: Run, lean: Run) -> None:
    by_total_value = {k: v for k, v in totals(first.rows).items() if k[2] == "reach"}
    by_time_series = {k: v for k, v in totals(lean.rows).items() if k[2] == "reach"}
    assert len(by_total_value) == 4 * 90
    assert by_time_series == by_total_value
    assert {r["metric_type"] for r in first.rows if r["metric"] == "reach"} == {"total_value"}


@pytest.mark.parametrize(
    ("metrics", "breakdowns", "calls", "types"),
    [
        # a total_value-only metric makes the one-day call anyway: reach joins it
        (["likes", "reach"], ["media_product_type"], 90 + 90, {"reach": "total_value", "likes": "total_value"}),
        # reach alone: time_series windows for its totals, one-day calls only for its breakdown
        (["reach"], ["follow_type"], 3 + 90, {"reach": "time_series"}),
        # unset breakdowns: every one the selected metrics support (profile_links_taps: contact_button_type)
        (["profile_links_taps"], None, 90 + 90, {"profile_links_taps": "total_value"}),
    ],
)
def test_metric_and_breakdown_subsets_give_only_those_rows(
    metrics: list[str], breakdowns: list[str] | None, calls: int, types: dict[str, str]
) -> None:
    extra: dict[str, Any] = {"account_insight_metrics": metrics, "sandbox_options": {"accounts": 2}}
    if breakdowns is not None:
        extra["account_insight_breakdowns"] = breakdowns
    run = Run(config(**extra))
    totals_rows = [r for r in run.rows if r["breakdown"] == "total"]
    assert {r["metric"]: r["metric_type"] for r in totals_rows} == types
    assert totals(run.rows) == truth_values(run, set(metrics))
    wanted = set(breakdowns) if breakdowns is not None else set(ALL_ACCOUNT_BREAKDOWNS)
    pairs = {(m, b) for m in metrics for b in ACCOUNT_METRICS_BY_NAME[m].breakdowns if b in wanted}
    expected = breakdown_truth(run, pairs)
    assert expected
    assert breakdown_rows(run.rows) == expected
    assert {r["metric_type"] for r in run.rows if r["breakdown"] != "total"} == {"total_value"}
    assert calls_per_account(run) == dict.fromkeys(run.dataset.accounts, calls)


def test_a_metric_the_version_lacks_and_an_unused_breakdown_warn_once(caplog: pytest.LogCaptureFixture) -> None:
    settings = {"account_insight_metrics": ["views", "reach"], "account_insight_breakdowns": ["contact_button_type"]}
    with caplog.at_level(logging.WARNING):
        run = Run(config(api_version="v21.0", sandbox_options={"accounts": 2}, **settings), version=21)
    assert {r["metric"] for r in run.rows} == {"reach"}
    assert totals(run.rows) == truth_values(run, {"reach"})
    assert not [q for q in run.insight_queries() if "views" in q["metric"].split(",")]
    assert not [q for q in run.insight_queries() if "breakdown" in q]
    assert sum("account_insight_metrics: views not served on v21.0" in m for m in caplog.messages) == 1
    assert sum("account_insight_breakdowns: no selected metric supports contact_button_type" in m
               for m in caplog.messages) == 1  # fmt: skip

"""`audience` and `online_followers` against the in-process sandbox: every demographic bucket and online hour."""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from typing import Any

import pytest

from tap_creatorsocial.catalog.metrics import timeframes_for
from tap_creatorsocial.sandbox import rules
from tap_creatorsocial.sandbox import truth as sandbox_truth
from tap_creatorsocial.sandbox.dataset import last_complete_day
from tests.helpers import collect, make_tap, select_only

NOW = "2026-09-01T15:00:00Z"
STREAMS = ("audience", "online_followers")


def config(**extra: Any) -> dict[str, Any]:
    options = {"seed": 13, "accounts": 4, "media": 4, "stories": 0, "now": NOW}
    options.update(extra.pop("sandbox_options", {}))
    return {"sandbox": True, "sandbox_options": options, **extra}


class Run:
    """One sync of the audience streams with the truth of the same dataset."""

    def __init__(self, cfg: dict[str, Any], state: dict[str, Any] | None = None, version: int = 25) -> None:
        tap, writer = make_tap(cfg, state)
        select_only(tap, *STREAMS)
        tap.sync_all()
        self.tap = tap
        self.records, self.state = collect(writer)
        assert tap.sandbox_emulator is not None
        self.dataset = tap.sandbox_emulator.dataset
        self.version = version

    @property
    def truth(self) -> dict[str, Any]:
        return sandbox_truth.build_truth(self.dataset, self.version)


def demographics(rows: list[dict[str, Any]]) -> dict[tuple[str, str, str, str, str], int]:
    return {
        (r["account_id"], r["metric"], r["timeframe"], r["breakdown"], r["dimension_value"]): r["value"] for r in rows
    }


def expected_demographics(truth: dict[str, Any]) -> dict[tuple[str, str, str, str, str], int]:
    return {
        (account, metric, timeframe, breakdown, dim): value
        for account, metrics in truth["demographics"].items()
        for metric, timeframes in metrics.items()
        for timeframe, breakdowns in timeframes.items()
        for breakdown, dims in breakdowns.items()
        for dim, value in dims.items()
    }


def online(rows: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, int]]]:
    out: dict[str, dict[str, dict[str, int]]] = {}
    for r in rows:
        out.setdefault(r["account_id"], {}).setdefault(r["date"], {})[str(r["hour"])] = r["value"]
    return out


@pytest.fixture(scope="module")
def run() -> Run:
    return Run(config())


def test_demographics_match_truth_per_timeframe_and_breakdown(run: Run) -> None:
    expected = expected_demographics(run.truth)
    assert {k[2] for k in expected} == set(timeframes_for(25)) == {"this_week", "this_month"}
    assert {k[3] for k in expected} == {"age", "gender", "country", "city"}
    assert {k[1] for k in expected} == {"follower_demographics", "engaged_audience_demographics"}
    rows = run.records["audience"]
    assert demographics(rows) == expected
    keys = Counter(
        (r["account_id"], r["snapshot_date"], r["metric"], r["timeframe"], r["breakdown"], r["dimension_value"])
        for r in rows
    )
    assert max(keys.values()) == 1
    assert {r["snapshot_date"] for r in rows} == {run.dataset.now.date().isoformat()}


def test_small_accounts_have_no_follower_demographics(run: Run) -> None:
    small = {a.id for a in run.dataset.accounts.values() if a.followers_count < 100}
    assert small
    assert not [
        r for r in run.records["audience"] if r["account_id"] in small and r["metric"] == "follower_demographics"
    ]


def test_online_followers_match_truth(run: Run) -> None:
    expected = {account: days for account, days in run.truth["online_followers"].items() if days}
    assert sum(len(days) for days in expected.values()) >= 30
    rows = run.records["online_followers"]
    assert online(rows) == expected
    assert max(Counter((r["account_id"], r["date"], r["hour"]) for r in rows).values()) == 1


def test_online_followers_second_run_reads_the_lookback_only(run: Run) -> None:
    second = Run(config(), state=run.state)
    last = last_complete_day(run.dataset.now)
    assert {r["date"] for r in second.records["online_followers"]} == {
        (last - dt.timedelta(days=n)).isoformat() for n in range(3)
    }


def test_refused_online_followers_logs_once_and_emits_nothing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delitem(rules.USER_METRICS, "online_followers")  # this "Meta" no longer knows the legacy metric
    with caplog.at_level(logging.WARNING):
        refused = Run(config(sandbox_options={"accounts": 3}))
    assert "online_followers" not in refused.records
    assert refused.records["audience"]
    assert sum("refuses online_followers" in m for m in caplog.messages) == 1
    assert not refused.tap.directory.problems


def test_v21_and_account_ids() -> None:
    first = Run(config(sandbox_options={"accounts": 2}))
    account = next(a.id for a in first.dataset.accounts.values() if a.followers_count >= 100)
    v21 = Run(config(api_version="v21.0", account_ids=[account], sandbox_options={"accounts": 2}), version=21)
    assert {r["account_id"] for r in v21.records["audience"]} == {account}
    expected = {k: v for k, v in expected_demographics(v21.truth).items() if k[0] == account}
    assert demographics(v21.records["audience"]) == expected

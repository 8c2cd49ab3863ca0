"""The fault matrix: a full extraction under each sandbox fault scenario, compared with the sandbox truth.

For every account the run finished, every stream must equal the truth (nothing lost, nothing invented); accounts the
run deferred or lost to a dead token must be reported in the run summary, and their bookmarks must not claim data the
run did not extract. Waits are scaled down with `retry_base_seconds` so the matrix stays fast; one variant lets the
tap honour Meta's real `estimated_time_to_regain_access` on the sandbox's clock instead of the wall clock.

`README.md` ("Reliability") shows the figures these runs produce; `python -m tests.test_fault_matrix` prints them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from scripts.check_duckdb import expected_counts, requested_truth
from tap_creatorsocial.sandbox import GraphEmulator
from tap_creatorsocial.sandbox.truth import build_truth
from tap_creatorsocial.tap import STREAM_TYPES, RunOutcome, TapCreatorSocial
from tests.helpers import collect, make_tap
from tests.test_oauth_midrun import counts_for, truth_for

NOW = "2026-11-23T14:00:00+00:00"  # a fixed sandbox clock: the truth does not move between runs
DATASET = {"accounts": 3, "media": 3, "stories": 1, "now": NOW}  # two Facebook-Login accounts, one Instagram-Login


@dataclasses.dataclass(frozen=True)
class Case:
    """One row of the matrix: a sandbox scenario, scenario knobs and tap settings."""

    name: str
    scenario: str
    knobs: dict[str, Any] = dataclasses.field(default_factory=dict)
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: what the run must report: (accounts done, deferred, needing reconnect)
    expect: tuple[int, int, int] = (3, 0, 0)
    sandbox_clock: bool = False  # pauses advance the sandbox clock instead of sleeping


FAST = {"retry_base_seconds": 0.001}
CASES = [
    Case("baseline", "default"),
    *[Case(f"throttle-{code}", f"throttle-{code}", {"throttle_minutes": 0}) for code in (4, 17, 32, 613, 80002)],
    # Meta's estimate (1 min) honoured on the sandbox clock: no call while the account is blocked.
    # One worker: pauses advance the sandbox clock instead of sleeping, and that fake clock is not shared-wait aware.
    Case(
        "throttle-80002-regain", "throttle-80002", {"throttle_failures": None}, {"max_workers": 1}, sandbox_clock=True
    ),
    # Regain in 60 min but `max_rate_limit_wait` 5 s: that one account is deferred, the others finish.
    Case("throttle-80002-defer", "throttle-80002", {"throttle_minutes": 60}, {"max_rate_limit_wait": 5}, (2, 1, 0)),
    # The same, hitting that account between two pages of its `media` (one media per page): the media already
    # emitted must not move its bookmark, or the next run would skip the older media for good.
    Case(
        "throttle-80002-defer-mid-media",
        "throttle-80002",
        {"throttle_minutes": 60, "throttle_after": 2},
        {"max_rate_limit_wait": 5, "page_size": 1},
        (2, 1, 0),
    ),
    Case("usage-95", "usage-95", settings={"retry_base_seconds": 0.0002}),  # ~3.4 ms before each call
    Case("transient-10pct", "transient-10pct"),
    # Transient errors but no retry allowed: accounts that meet one are deferred, none is half-loaded.
    Case("transient-no-retries", "transient-10pct", settings={"max_retries": 0}, expect=(-1, -1, 0)),
    Case("token-dies", "token-dies", expect=(1, 0, 2)),  # the Facebook creator's token dies mid-run (see `prepare`)
    Case("slow", "slow", {"latency_ms": 5}),
    Case("truncated", "truncated"),
]


@dataclasses.dataclass
class Result:
    records: dict[str, list[dict[str, Any]]]
    state: dict[str, Any]
    outcome: RunOutcome
    tap: TapCreatorSocial
    faults: Counter[str]  # faults the sandbox injected into its answers, by kind


def prepare(case: Case, emu: GraphEmulator) -> None:
    """Point the scenario at one creator where the case needs it."""
    accounts = list(emu.dataset.accounts)
    if case.name == "token-dies":
        fb_user = emu.dataset.facebook_users[0].id
        emu.scenario = dataclasses.replace(emu.scenario, token_dies_after=40, token_dies_for=fb_user)
    if case.name.startswith("throttle-80002-defer"):
        emu.scenario = dataclasses.replace(emu.scenario, throttle_account=accounts[0])


def run(case: Case, state: dict[str, Any] | None = None, *, scenario: bool = True) -> Result:
    options = {**DATASET, **({"scenario": case.scenario} if scenario else {})}
    tap, writer = make_tap({"sandbox": True, "sandbox_options": options, **FAST, **case.settings}, state)
    emu = tap.sandbox_emulator
    assert emu is not None
    if scenario:
        emu.scenario = dataclasses.replace(emu.scenario, **case.knobs)
        prepare(case, emu)
    if case.sandbox_clock:
        limiter = tap.graph.limiter
        limiter.clock = lambda: emu.now().timestamp()
        limiter.sleep = emu.advance
    faults: Counter[str] = Counter()
    handle = emu.handle

    def recording(method: str, url: str, headers: Any, body: bytes | None = None) -> Any:
        response = handle(method, url, headers, body)
        faults.update(injected(response.status, response.body))
        return response

    emu.handle = recording  # type: ignore[method-assign]
    tap.sync_all()
    records, final_state = collect(writer)
    return Result(records, final_state, tap.run_outcome(), tap, faults)


THROTTLE_MESSAGES = {code: f"(#{code})".encode() for code in (4, 17, 32, 613, 80002)}


def injected(status: int, body: bytes) -> Counter[str]:
    """The scenario faults in one answer (batch answers carry item errors as escaped JSON inside a 200)."""
    found: Counter[str] = Counter()
    for code, marker in THROTTLE_MESSAGES.items():
        found[f"throttle-{code}"] += body.count(marker)
    found["transient"] += body.count(b'is_transient":true') + body.count(b'is_transient\\":true')
    found["transient"] -= sum(found[f"throttle-{code}"] for code in THROTTLE_MESSAGES)  # throttles are transient too
    if status == 200:
        try:
            json.loads(body)
        except ValueError:
            found["truncated"] += 1
    return +found


def truth() -> dict[str, Any]:
    emu = make_tap({"sandbox": True, "sandbox_options": DATASET})[0].sandbox_emulator
    assert emu is not None
    return requested_truth(build_truth(emu.dataset, 25))  # what the tap extracts with its default settings


@pytest.fixture(scope="module")
def full_truth() -> dict[str, Any]:
    return truth()


def assert_matches_truth(records: dict[str, list[dict[str, Any]]], full: dict[str, Any], accounts: set[str]) -> None:
    """Every stream of these accounts equals the truth: row counts, ids and values."""
    want = truth_for(full, accounts)
    expected = expected_counts(want)
    assert counts_for(records, accounts, list(expected)) == expected
    assert {r["account_id"]: r["followers_count"] for r in records["accounts"] if r["account_id"] in accounts} == {
        a["id"]: a["followers_count"] for a in want["accounts"]
    }
    for stream in ("media", "stories", "comments"):
        got = {r["id"] for r in records.get(stream, []) if r["account_id"] in accounts}
        assert got == {r["id"] for r in want[stream]}, stream
    stories = {s["id"] for s in want["stories"]}
    values = {
        (r["media_id"], r["metric"]): r["value"]
        for r in records.get("media_insights", [])
        if r["account_id"] in accounts and r["breakdown"] == "total"
    }
    assert values == {
        (m, metric): v
        for m, metrics in want["media_insights"].items()
        for metric, v in metrics.items()
        if m not in stories
    }
    for stream in ("media", "comments", "media_insights", "account_insights", "audience", "online_followers"):
        keys = [tuple(r.get(k) for k in PRIMARY_KEYS[stream]) for r in records.get(stream, [])]
        assert len(keys) == len(set(keys)), f"{stream}: a row was emitted twice"


PRIMARY_KEYS: dict[str, list[str]] = {s.name: list(s.primary_keys or []) for s in STREAM_TYPES}


INCREMENTAL = ("media", "media_insights", "account_insights", "online_followers")


def assert_state_claims_only_what_was_extracted(result: Result, full: dict[str, Any], accounts: set[str]) -> None:
    """For accounts the run did not finish, a stream may hold a bookmark only if that stream was read completely."""
    for account in accounts:
        want = truth_for(full, {account})
        expected = expected_counts(want)
        got = counts_for(result.records, {account}, list(expected))
        for stream in INCREMENTAL:
            if bookmarked(result.state, stream).get(account) is not None:
                assert got[stream] == expected[stream], f"{stream} bookmarked for {account} but incomplete"


def bookmarked(state: dict[str, Any], stream: str) -> dict[str, Any]:
    """account id -> replication_key_value of the stream's partitions in a Singer state."""
    partitions = state.get("bookmarks", {}).get(stream, {}).get("partitions", [])
    return {p["context"]["account_id"]: p.get("replication_key_value") for p in partitions}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fault_matrix(case: Case, full_truth: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tap-creatorsocial")
    result = run(case)
    outcome = result.outcome
    done, deferred, reconnect = set(outcome.done), set(outcome.deferred), set(outcome.reconnect_accounts)
    assert len(done | deferred | reconnect) == 3
    assert not done & deferred
    assert not done & reconnect
    if case.expect[0] >= 0:
        assert (len(done), len(deferred), len(reconnect)) == case.expect

    # Nothing lost, nothing invented, for every account the run finished.
    assert_matches_truth(result.records, full_truth, done)

    # Accounts left out are reported, each with its reason, in the closing summary.
    summary = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("Run summary:"))
    assert f"accounts done {len(done)}, deferred {len(deferred)}, reconnect needed {len(reconnect)}" in summary
    assert f"media={len(result.records.get('media', []))}" in summary
    for account in deferred:
        assert f"Skipped account {account} (deferred)" in caplog.text
    assert_state_claims_only_what_was_extracted(result, full_truth, deferred | reconnect)
    if case.name == "throttle-80002-defer-mid-media":
        (account,) = deferred
        media = [r for r in result.records["media"] if r["account_id"] == account]
        assert 0 < len(media) < len(truth_for(full_truth, {account})["media"])  # stopped between pages
    if reconnect:
        assert "Reconnect needed for 1 connection(s)" in caplog.text

    # The fault really happened and was handled the way the scenario is meant to exercise.
    faults, limiter = result.faults, result.tap.graph.limiter
    if case.scenario.startswith("throttle-"):
        assert faults[case.scenario] > 0
    if case.scenario.startswith("throttle-") and not deferred:
        assert limiter.pauses > 0  # it waited before calling again
    if case.name == "throttle-80002-regain":
        # each throttle was honoured for Meta's estimate (1 min, on the sandbox clock) before the next call
        assert limiter.pauses > 0
        assert limiter.paused_seconds >= 55 * limiter.pauses
    if case.scenario in ("transient-10pct", "truncated"):
        assert faults[case.scenario.split("-")[0]] > 0
    if case.scenario == "usage-95":
        assert limiter.pauses >= result.tap.graph.stats.http_requests - 1  # slowed down before ~every call
    if case.scenario in ("default", "usage-95", "slow"):
        assert not faults
        assert limiter.pauses == (0 if case.scenario != "usage-95" else limiter.pauses)


def test_a_deferred_account_is_finished_by_the_next_run_from_the_state(full_truth: dict[str, Any]) -> None:
    case = next(c for c in CASES if c.name == "throttle-80002-defer")
    first = run(case)
    (deferred,) = first.outcome.deferred
    incomplete = [s for s in INCREMENTAL if bookmarked(first.state, s).get(deferred) is None]
    assert incomplete  # it was deferred before all of its incremental streams were read
    assert_state_claims_only_what_was_extracted(first, full_truth, {deferred})

    second = run(case, first.state, scenario=False)  # Meta lets it through again
    assert second.outcome.deferred == []
    assert bookmarked(second.state, "media")[deferred] is not None
    # What a target holds after both runs (rows upserted on their primary key) is the account's whole truth.
    assert_matches_truth(upserted(first.records, second.records), full_truth, {deferred})


def test_fail_on_skipped_accounts_exits_3_after_finishing_the_others(tmp_path: Path) -> None:
    """Opt-in exit status 3: the run still finishes the other accounts and emits their state first."""
    deferred = "17841473771242211"  # the first account of the fixed dataset
    options = {**DATASET, "scenario": "throttle-80002", "throttle_minutes": 60, "throttle_account": deferred}
    config = {"sandbox": True, "sandbox_options": options, "max_rate_limit_wait": 5, "fail_on_skipped_accounts": True}
    (tmp_path / "config.json").write_text(json.dumps({**config, **FAST}))
    done = subprocess.run(
        [sys.executable, "-m", "tap_creatorsocial", "--config", str(tmp_path / "config.json")],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 3, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert "Run summary: accounts done 2, deferred 1, reconnect needed 0; records accounts=3 " in done.stderr
    assert f"Skipped account {deferred} (deferred)" in done.stderr
    states = [json.loads(line)["value"] for line in done.stdout.splitlines() if line.startswith('{"type":"STATE"')]
    finished = {a for a, v in bookmarked(states[-1], "account_insights").items() if v}
    assert finished == set(account_ids()) - {deferred}


def account_ids() -> list[str]:
    emu = make_tap({"sandbox": True, "sandbox_options": DATASET})[0].sandbox_emulator
    assert emu is not None
    return list(emu.dataset.accounts)


def upserted(*runs: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Records of several runs as a target keeps them: one row per primary key, the latest wins."""
    tables: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}
    for records in runs:
        for stream, rows in records.items():
            keys = PRIMARY_KEYS[stream]
            for row in rows:
                tables.setdefault(stream, {})[tuple(row.get(k) for k in keys)] = row
    return {stream: list(rows.values()) for stream, rows in tables.items()}


def matrix_table() -> str:
    """The README table: one row per case with what the run reported and how its records compare with the truth."""
    full = truth()
    lines = [
        "| scenario | settings | done / deferred / reconnect | records (finished accounts) vs truth | "
        "faults injected | rate-limit pauses |",
        "|---|---|---|---|---|---|",
    ]
    for case in CASES:
        result = run(case)
        done = set(result.outcome.done)
        expected = expected_counts(truth_for(full, done))
        got = counts_for(result.records, done, list(expected))
        verdict = f"{sum(got.values())} = {sum(expected.values())} ✓" if got == expected else f"{got} ≠ {expected}"
        errors = sum(result.faults.values())
        knobs = ", ".join(f"{k}={v}" for k, v in {**case.knobs, **case.settings}.items()) or "-"
        lines.append(
            f"| {case.name} | {knobs} | {len(done)} / {len(result.outcome.deferred)} / "
            f"{len(result.outcome.reconnect_accounts)} | {verdict} | {errors} | {result.tap.graph.limiter.pauses} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    logging.disable(logging.WARNING)
    print(matrix_table())

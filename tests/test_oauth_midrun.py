"""A creator's token dying mid-run (190) over a multi-creator OAuth store: only that connection is lost and marked.

A served sandbox holds one Facebook-Login creator (three IG accounts through three Pages) and three Instagram-Login
creators, all connected through the real login flow into a file store. The sandbox's `token-dies` scenario kills the
Facebook creator's tokens after a few API calls, in the middle of the run.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import requests

from scripts.check_duckdb import expected_counts, requested_truth
from tap_creatorsocial.oauth.flows import (
    OAuthClient,
    OAuthSettings,
    new_state,
    parse_redirect,
    require_code,
    save_connection,
)
from tap_creatorsocial.oauth.store import FileStore, StoreData, StoredConnection
from tap_creatorsocial.sandbox import GraphEmulator, Scenario, create_emulator
from tap_creatorsocial.sandbox.server import serve_in_thread
from tap_creatorsocial.sandbox.truth import build_truth
from tests.helpers import collect, make_tap, run_tap
from tests.test_oauth_flows import drive_consent

# Calls after which the Facebook creator's token dies: discovery (4) and `accounts` (6) are done, and `media` has
# read the first Facebook account; the second one meets the 190.
DIES_AFTER = 11


@dataclasses.dataclass
class Served:
    emu: GraphEmulator
    config: dict[str, Any]
    store: FileStore
    fb: StoredConnection
    ig: list[StoredConnection]
    calls: list[tuple[str, str, int]]  # (token, path, HTTP status) of every API request the tap sent

    @property
    def fb_accounts(self) -> set[str]:
        return {a.id for a in self.fb.accounts}

    @property
    def ig_accounts(self) -> set[str]:
        return {c.user_id for c in self.ig}


def connect(
    client: OAuthClient, provider: str, who: str | None, store: FileStore, emu: GraphEmulator
) -> StoredConnection:
    """Log a creator in exactly as `tap-creatorsocial-auth login` does, minus the browser."""
    state = new_state()
    location = drive_consent(requests.Session(), client.authorization_url(provider, state), who=who)  # type: ignore[arg-type]
    conn = client.complete_login(provider, require_code(parse_redirect(location), state))  # type: ignore[arg-type]
    return save_connection(store, conn, emu.now())


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    emu = create_emulator(accounts=6, media=3, stories=1)
    server, base = serve_in_thread(emu)
    config = {
        "sandbox": True,
        "graph_api_url": f"{base}/graph.facebook.com",
        "instagram_api_url": f"{base}/graph.instagram.com",
        "oauth_settings_location": str(tmp_path / "oauth.json"),
    }
    store = FileStore(tmp_path / "oauth.json")
    client = OAuthClient(OAuthSettings.from_config(config), requests.Session())
    fb = connect(client, "facebook", None, store, emu)
    ig = [connect(client, "instagram", u.account_id, store, emu) for u in emu.dataset.instagram_users]
    assert len(fb.accounts) == 3
    assert len(ig) == 3

    # From now on: count the tap's calls, and kill the Facebook creator's tokens after DIES_AFTER of them.
    emu.reset_stats()
    user_id = emu.dataset.facebook_users[0].id
    emu.scenario = dataclasses.replace(
        Scenario.named("token-dies"), token_dies_after=DIES_AFTER, token_dies_for=user_id
    )
    calls: list[tuple[str, str, int]] = []
    handle = emu.handle

    def recording(method: str, url: str, headers: Any, body: bytes | None = None) -> Any:
        response = handle(method, url, headers, body)
        token = dict(headers).get("Authorization", "").removeprefix("Bearer ")
        if "/__" not in url:
            calls.append((token, url.split("?")[0], response.status))
        return response

    emu.handle = recording  # type: ignore[method-assign]
    try:
        yield Served(emu, config, store, fb, ig, calls)
    finally:
        server.stop()


def truth_for(truth: dict[str, Any], accounts: set[str]) -> dict[str, Any]:
    """The sandbox truth restricted to some accounts."""
    out = dict(truth)
    out["accounts"] = [a for a in truth["accounts"] if a["id"] in accounts]
    for key in ("media", "stories", "comments"):
        out[key] = [row for row in truth[key] if row["account_id"] in accounts]
    out["tags"] = [row for row in truth["tags"] if row["tagged_account_id"] in accounts]
    objects = {row["id"] for row in out["media"] + out["stories"]}
    for key in ("media_insights", "media_insight_breakdowns"):
        out[key] = {k: v for k, v in truth[key].items() if k in objects}
    for key in ("account_insights", "demographics", "online_followers"):
        out[key] = {k: v for k, v in truth[key].items() if k in accounts}
    return out


def counts_for(records: dict[str, list[dict[str, Any]]], accounts: set[str], tables: list[str]) -> dict[str, int]:
    def keep(stream: str, row: dict[str, Any]) -> bool:
        return row.get("account_id") in accounts and (stream != "account_insights" or row["breakdown"] == "total")

    return {table: sum(1 for row in records.get(table, []) if keep(table, row)) for table in tables}


def test_a_token_dying_mid_run_costs_only_its_own_connection(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    records, _state = run_tap(served.config)

    # The other creators' data is complete and equals the sandbox truth.
    truth = requested_truth(build_truth(served.emu.dataset, 25))  # as the tap extracts it by default
    expected = expected_counts(truth_for(truth, served.ig_accounts))
    assert counts_for(records, served.ig_accounts, list(expected)) == expected
    ig_truth = truth_for(truth, served.ig_accounts)
    profiles = {r["account_id"]: (r["username"], r["followers_count"]) for r in records["accounts"]}
    assert {a["id"]: (a["username"], a["followers_count"]) for a in ig_truth["accounts"]} == {
        a: profiles[a] for a in served.ig_accounts
    }
    assert {m["id"] for m in records["media"] if m["account_id"] in served.ig_accounts} == {
        m["id"] for m in ig_truth["media"]
    }
    assert {c["id"] for c in records["comments"] if c["account_id"] in served.ig_accounts} == {
        c["id"] for c in ig_truth["comments"]
    }
    values = {
        (r["media_id"], r["metric"]): r["value"]
        for r in records["media_insights"]
        if r["account_id"] in served.ig_accounts and r["breakdown"] == "total"
    }
    assert values == {
        (m, metric): v
        for m, metrics in ig_truth["media_insights"].items()
        for metric, v in metrics.items()
        if m not in {s["id"] for s in ig_truth["stories"]}
    }

    # The dead creator: what was read before the 190 stays; after it, no new call with that token. Accounts are
    # read several at once, so calls already in flight when the 190 came back (at most max_workers - 1) are served
    # after it, each refused too.
    fb_token = served.fb.access_token
    first_190 = next(i for i, (token, _, status) in enumerate(served.calls) if token == fb_token and status == 400)
    assert first_190 == DIES_AFTER  # the first call after the scenario's budget
    later = [c for c in served.calls[first_190 + 1 :] if c[0] == fb_token]
    assert len(later) < int(served.config.get("max_workers", 8))
    assert all(status == 400 for _, _, status in later)
    assert {r["account_id"] for r in records["accounts"]} == served.fb_accounts | served.ig_accounts
    assert (
        0
        < sum(1 for m in records["media"] if m["account_id"] in served.fb_accounts)
        < sum(1 for m in truth["media"] if m["account_id"] in served.fb_accounts)
    )
    for stream in ("stories", "media_insights", "comments", "account_insights", "audience", "online_followers"):
        assert not [r for r in records.get(stream, []) if r["account_id"] in served.fb_accounts], stream

    # Only that connection is marked in the store file, with the reason.
    raw = json.loads(Path(served.config["oauth_settings_location"]).read_text())["connections"]
    statuses = {key: c["status"] for key, c in raw.items()}
    assert statuses == {served.fb.key: "reconnect_needed", **{c.key: "linked" for c in served.ig}}
    reason = raw[served.fb.key]["last_error"]
    assert "190/460" in reason
    assert "changed their password" in reason
    assert fb_token not in reason

    # The `connections` stream (last) already reports it; it never carries a token.
    rows = {r["connection_id"]: r for r in records["connections"]}
    assert set(rows) == {served.fb.key, *(c.key for c in served.ig)}
    assert rows[served.fb.key]["status"] == "reconnect_needed"
    assert "190/460" in rows[served.fb.key]["reason"]
    assert sorted(rows[served.fb.key]["account_ids"]) == sorted(served.fb_accounts)
    assert all(rows[c.key]["status"] == "linked" for c in served.ig)
    assert rows[served.ig[0].key]["token_expires_at"] == served.ig[0].expires_at.isoformat()  # type: ignore[union-attr]
    text = json.dumps(records)
    assert not [c.key for c in [served.fb, *served.ig] if c.access_token in text]

    # The closing lines say what happened.
    assert "Reconnect needed for 1 connection(s)" in caplog.text
    assert served.fb.key in caplog.text


def test_on_auth_error_fail_marks_then_exits_non_zero(served: Served, tmp_path: Path) -> None:
    tap, writer = make_tap({**served.config, "on_auth_error": "fail"})
    with pytest.raises(click.exceptions.Exit) as exc_info:
        tap.sync_all()
    assert exc_info.value.exit_code == 1
    raw = json.loads(Path(served.config["oauth_settings_location"]).read_text())["connections"]
    assert raw[served.fb.key]["status"] == "reconnect_needed"
    assert all(raw[c.key]["status"] == "linked" for c in served.ig)
    records, _ = collect(writer)
    assert "connections" not in records  # stopped at the 190: nothing after it ran

    # Through the CLI, with the store not knowing yet (as on the run that meets the 190 first): a clean exit 1 after
    # marking, with the summary and the reason, and no traceback.
    def forget(data: StoreData) -> None:
        data.connections[served.fb.key].status = "linked"

    served.store.update(forget)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**served.config, "on_auth_error": "fail"}))
    result = subprocess.run(
        [sys.executable, "-m", "tap_creatorsocial", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 1
    assert "on_auth_error" in result.stderr
    assert "Run summary" in result.stderr
    assert "Traceback" not in result.stderr
    assert served.store.load().connections[served.fb.key].status == "reconnect_needed"
    assert served.fb.access_token not in result.stderr + result.stdout


def test_a_marked_connection_is_skipped_by_the_next_run_without_a_call(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    run_tap(served.config, streams=("accounts", "media"))
    caplog.clear()
    before = Counter(token for token, _, _ in served.calls)
    records, _ = run_tap(served.config, streams=("accounts", "connections"))
    after = Counter(token for token, _, _ in served.calls) - before
    assert served.fb.access_token not in after
    assert {r["account_id"] for r in records["accounts"]} == served.ig_accounts
    assert {r["connection_id"]: r["status"] for r in records["connections"]}[served.fb.key] == "reconnect_needed"
    assert f"Reconnect needed for 1 connection(s): {served.fb.name} [{served.fb.key}]" in caplog.text


def test_without_a_store_a_dead_token_still_skips_its_connection() -> None:
    """`sandbox: true` in-process (demo tokens, no store): `token-dies` kills every token after 15 calls."""
    tap, writer = make_tap(
        {"sandbox": True, "sandbox_options": {"accounts": 4, "media": 2, "stories": 0, "scenario": "token-dies"}}
    )
    tap.sync_all()
    records, _ = collect(writer)
    assert tap.oauth is None
    dead = tap.dead_connections()
    assert len(dead) == len(tap.directory.connections)  # every demo creator died, each recorded once
    assert all("190/460" in reason for reason in dead.values())
    assert tap.directory.account_ids() == []
    statuses = {r["connection_id"]: r["status"] for r in records["connections"]}
    assert set(statuses.values()) == {"reconnect_needed"}
    assert all(r["source"] == "sandbox" for r in records["connections"])

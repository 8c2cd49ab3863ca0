"""`account_shard`: N jobs with shards 1/N … N/N extract every sandbox account exactly once, each with its own state."""

from __future__ import annotations

import pytest

from tap_creatorsocial.settings import config_errors
from tap_creatorsocial.sharding import Shard, parse_shard, shard_of
from tests.helpers import run_tap

ACCOUNTS = 23  # an odd count, both login types (even indexes Facebook Login, odd Instagram Login)
SANDBOX = {"sandbox": True, "sandbox_options": {"accounts": ACCOUNTS, "media": 3, "stories": 1}}


def extracted_accounts(config: dict) -> list[str]:
    records, _ = run_tap(config, streams=("accounts",))
    return [r["account_id"] for r in records.get("accounts", [])]


@pytest.fixture(scope="module")
def all_accounts() -> list[str]:
    accounts = extracted_accounts(SANDBOX)
    assert len(accounts) == ACCOUNTS
    return accounts


@pytest.mark.parametrize("count", [1, 2, 3, 5, 8])
def test_shards_partition_the_accounts(all_accounts: list[str], count: int) -> None:
    shards = [extracted_accounts({**SANDBOX, "account_shard": f"{k}/{count}"}) for k in range(1, count + 1)]
    flat = [a for shard in shards for a in shard]
    assert len(flat) == len(set(flat)), "an account was extracted by two shards"
    assert sorted(flat) == sorted(all_accounts), "an account was extracted by no shard"
    for k, shard in enumerate(shards, start=1):  # membership is the documented hash, so any tool can recompute it
        assert all(shard_of(a, count) == k for a in shard)
    if count <= 5:
        assert all(shards), "a shard got no account: the hash does not spread"


def test_a_shard_is_stable_and_independent_of_the_other_accounts(all_accounts: list[str]) -> None:
    shard = extracted_accounts({**SANDBOX, "account_shard": "2/3"})
    assert extracted_accounts({**SANDBOX, "account_shard": "2/3"}) == shard
    subset = all_accounts[::2]  # fewer accounts visible (e.g. a creator disconnected): the others keep their shard
    in_subset = extracted_accounts({**SANDBOX, "account_ids": subset, "account_shard": "2/3"})
    assert in_subset == [a for a in shard if a in subset]


def test_shard_state_holds_only_its_own_accounts(all_accounts: list[str]) -> None:
    bookmarked = []
    for k in (1, 2):
        _, state = run_tap({**SANDBOX, "account_shard": f"{k}/2"}, streams=("media",))
        accounts = {p["context"]["account_id"] for p in state["bookmarks"]["media"]["partitions"]}
        assert accounts == {a for a in all_accounts if shard_of(a, 2) == k}
        bookmarked.append(accounts)
    assert bookmarked[0].isdisjoint(bookmarked[1])

    # A shard resuming from its own state reads only its accounts (and never another shard's bookmarks).
    _, state_1 = run_tap({**SANDBOX, "account_shard": "1/2"}, streams=("media",))
    _, again = run_tap({**SANDBOX, "account_shard": "1/2"}, state_1, streams=("media",))
    assert {p["context"]["account_id"] for p in again["bookmarks"]["media"]["partitions"]} == bookmarked[0]


def test_an_account_named_in_account_ids_but_missing_is_reported_by_its_shard_only() -> None:
    from tests.helpers import make_tap

    missing = "17841400000000099"
    reports = []
    for k in (1, 2, 3):
        tap, _ = make_tap({**SANDBOX, "account_ids": [missing], "account_shard": f"{k}/3"})
        assert tap.directory.account_ids() == []
        reports.append([p.subject for p in tap.directory.problems])
    owner = shard_of(missing, 3)
    assert reports == [[f"account {missing}"] if k == owner else [] for k in (1, 2, 3)]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2/8", Shard(2, 8)), (" 1 / 1 ", Shard(1, 1)), ("8/8", Shard(8, 8)), ("", None), (None, None)],
)
def test_parse_shard(value: str | None, expected: Shard | None) -> None:
    assert parse_shard(value) == expected


@pytest.mark.parametrize("value", ["0/8", "9/8", "2/0", "2", "2-8", "a/b", "-1/2", "1/2/3"])
def test_a_bad_shard_names_the_setting_and_the_fix(value: str) -> None:
    errors = config_errors({"sandbox": True, "account_shard": value})
    assert len(errors) == 1
    assert errors[0].startswith(f"Setting `account_shard` is {value!r}")
    assert 'Fix: use "k/n" with 1 <= k <= n, e.g. "2/8"' in errors[0]


def test_a_non_string_shard_is_refused_with_the_fix() -> None:
    errors = config_errors({"sandbox": True, "account_shard": 2})
    assert len(errors) == 1
    assert errors[0].startswith("Setting `account_shard`")
    assert 'Fix: use "k/n"' in errors[0]

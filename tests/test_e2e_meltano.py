"""End to end as a user runs it: `meltano run tap-creatorsocial target-duckdb` on the sandbox, rows checked vs truth.

Also: the second (incremental) run upserts, column types do not move between runs or API versions, and shard jobs
(`account_shard`) with their own state ids together land every account exactly once.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from scripts.check_duckdb import table_counts
from tap_creatorsocial.sharding import shard_of
from tests.e2e import (
    bookmarked_accounts,
    expected_rows,
    meltano_run,
    records_sent,
    sandbox_account_ids,
    sandbox_now,
    state_ids,
    stored_state,
)

pytestmark = pytest.mark.e2e

SCHEMA = "creatorsocial"


def column_types(db: Path, schema: str) -> dict[tuple[str, str], str]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "select table_name, column_name, data_type from information_schema.columns where table_schema = ?",
            [schema],
        ).fetchall()
    return {(table, column): data_type for table, column, data_type in rows}


def account_rows(db: Path, schema: str) -> list[str]:
    with duckdb.connect(str(db), read_only=True) as con:
        return sorted(r[0] for r in con.execute(f'select account_id from "{schema}".accounts').fetchall())


@pytest.fixture
def output(meltano_project: Path) -> Path:
    """A fresh output/ directory (the DuckDB file lives there)."""
    out = meltano_project / "output"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    return out


def test_meltano_run_lands_the_sandbox_truth_in_duckdb(meltano_project: Path, output: Path) -> None:
    now = sandbox_now()
    db = output / "creator_data.duckdb"
    expected = expected_rows(now)

    meltano_run(meltano_project, "target-duckdb", now)
    assert table_counts(str(db), SCHEMA, list(expected)) == expected
    types = column_types(db, SCHEMA)
    assert types[("media", "timestamp")].startswith("TIMESTAMP")
    assert types[("account_insights", "value")] in {"BIGINT", "HUGEINT"}  # integer metrics stay integers
    assert types[("media_insights", "value")] == "DOUBLE"
    assert types[("media", "children")] == "JSON"

    # The second run starts from Meltano's stored state (bookmarks per account) and upserts: no table grows.
    assert bookmarked_accounts(stored_state(meltano_project, "sandbox:tap-creatorsocial-to-target-duckdb"), "media")
    rerun = meltano_run(meltano_project, "target-duckdb", now)
    resent = records_sent(rerun)
    assert resent["media"]
    assert resent["account_insights"]
    assert table_counts(str(db), SCHEMA, list(expected)) == expected
    assert column_types(db, SCHEMA) == types

    # Another API version serves fewer metrics (rows) but the same columns with the same types.
    v21_schema = "creatorsocial_v21"
    env = {"TAP_CREATORSOCIAL_API_VERSION": "v21.0", "TARGET_DUCKDB_DEFAULT_TARGET_SCHEMA": v21_schema}
    meltano_run(meltano_project, "target-duckdb", now, "--state-id-suffix", "v21", env=env)
    expected_v21 = expected_rows(now, 21)
    assert expected_v21 != expected
    assert table_counts(str(db), v21_schema, list(expected_v21)) == expected_v21
    assert column_types(db, v21_schema) == types


def test_shard_jobs_with_their_own_state_land_every_account_once(meltano_project: Path, output: Path) -> None:
    now = sandbox_now()
    db = output / "sharded.duckdb"
    accounts = sandbox_account_ids(now)
    count = 2
    by_shard = {k: sorted(a for a in accounts if shard_of(a, count) == k) for k in range(1, count + 1)}
    assert all(by_shard.values()), by_shard  # both jobs have work with the default sandbox

    for k in range(1, count + 1):
        env = {"TAP_CREATORSOCIAL_ACCOUNT_SHARD": f"{k}/{count}", "TARGET_DUCKDB_PATH": str(db)}
        meltano_run(meltano_project, "target-duckdb", now, "--state-id-suffix", f"shard-{k}-of-{count}", env=env)
        loaded_so_far = sorted(a for shard in range(1, k + 1) for a in by_shard[shard])
        assert account_rows(db, SCHEMA) == loaded_so_far

    expected = expected_rows(now)
    assert table_counts(str(db), SCHEMA, list(expected)) == expected  # together: the whole truth, no duplicates
    for k in range(1, count + 1):
        state_id = f"sandbox:tap-creatorsocial-to-target-duckdb:shard-{k}-of-{count}"
        assert state_id in state_ids(meltano_project)
        assert bookmarked_accounts(stored_state(meltano_project, state_id), "media") == set(by_shard[k])

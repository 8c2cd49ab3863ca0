"""`meltano run tap-creatorsocial target-postgres` into a real PostgreSQL server: rows equal the sandbox truth, the
incremental rerun upserts, and column types hold between runs and across API versions.

Needs a server: `.ci/run` starts one with `eval "$(scripts/postgres.sh start)"`, which exports TARGET_POSTGRES_HOST,
_PORT, _USER, _PASSWORD and _DATABASE (Meltano passes them to target-postgres as its settings). Without them the
test is skipped, unless CREATORSOCIAL_REQUIRE_POSTGRES=1 (set by CI) turns a missing server into a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.check_duckdb import COUNT_FILTERS
from tests.e2e import bookmarked_accounts, expected_rows, meltano_run, records_sent, sandbox_now, stored_state

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (pip install -e '.[dev]')")

pytestmark = pytest.mark.e2e

ENV_KEYS = ("HOST", "PORT", "USER", "PASSWORD", "DATABASE")


def _unavailable(reason: str) -> None:
    if os.environ.get("CREATORSOCIAL_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL required (CREATORSOCIAL_REQUIRE_POSTGRES=1) but {reason}")
    pytest.skip(f"no PostgreSQL server: {reason}. Start one with: eval \"$(scripts/postgres.sh start)\"")


@pytest.fixture(scope="session")
def pg() -> Iterator[Any]:
    """A connection to the server Meltano will load into (the same TARGET_POSTGRES_* settings).

    Session-scoped and listed before `meltano_project`, so a missing server skips before plugins are installed."""
    missing = [f"TARGET_POSTGRES_{k}" for k in ENV_KEYS if not os.environ.get(f"TARGET_POSTGRES_{k}")]
    if missing:
        _unavailable(f"{', '.join(missing)} not set")
    env = {k: os.environ[f"TARGET_POSTGRES_{k}"] for k in ENV_KEYS}
    try:
        con = psycopg.connect(
            host=env["HOST"], port=int(env["PORT"]), user=env["USER"], password=env["PASSWORD"],
            dbname=env["DATABASE"], connect_timeout=10, autocommit=True,
        )
    except psycopg.OperationalError as exc:
        _unavailable(f"cannot connect to {env['HOST']}:{env['PORT']} ({str(exc).strip()})")
    with con:
        yield con


@pytest.fixture
def schemas(pg: Any) -> Iterator[list[str]]:
    """Throwaway schema names for this test; dropped afterwards (the database may be someone's real one)."""
    names = [f"creatorsocial_test_{uuid.uuid4().hex[:8]}", f"creatorsocial_test_{uuid.uuid4().hex[:8]}_v21"]
    yield names
    for name in names:
        pg.execute(f'drop schema if exists "{name}" cascade')


def counts(pg: Any, schema: str, tables: list[str]) -> dict[str, int | None]:
    present = {r[0] for r in pg.execute("select table_name from information_schema.tables where table_schema = %s",
                                        [schema]).fetchall()}
    result: dict[str, int | None] = {}
    for table in tables:
        where = f" where {COUNT_FILTERS[table]}" if table in COUNT_FILTERS else ""
        result[table] = pg.execute(f'select count(*) from "{schema}"."{table}"{where}').fetchone()[0] \
            if table in present else None
    return result


def column_types(pg: Any, schema: str) -> dict[tuple[str, str], str]:
    rows = pg.execute(
        "select table_name, column_name, udt_name from information_schema.columns where table_schema = %s", [schema]
    ).fetchall()
    return {(table, column): udt for table, column, udt in rows}


def null_key_rows(pg: Any, schema: str, keys: dict[str, list[str]]) -> dict[str, int]:
    """Rows whose primary key has a NULL part, per table (what an empty-string key turned NULL would cause)."""
    found = {}
    for table, columns in keys.items():
        condition = " or ".join(f'"{c}" is null' for c in columns)
        found[table] = pg.execute(f'select count(*) from "{schema}"."{table}" where {condition}').fetchone()[0]
    return found


def primary_keys(pg: Any, schema: str) -> dict[str, list[str]]:
    rows = pg.execute(
        """select tc.table_name, kcu.column_name from information_schema.table_constraints tc
           join information_schema.key_column_usage kcu
             on tc.constraint_name = kcu.constraint_name and tc.table_schema = kcu.table_schema
           where tc.table_schema = %s and tc.constraint_type = 'PRIMARY KEY' order by kcu.ordinal_position""",
        [schema],
    ).fetchall()
    keys: dict[str, list[str]] = {}
    for table, column in rows:
        keys.setdefault(table, []).append(column)
    return keys


def test_meltano_run_lands_the_sandbox_truth_in_postgres(pg: Any, schemas: list[str], meltano_project: Path) -> None:
    now = sandbox_now()
    schema, v21_schema = schemas
    expected = expected_rows(now)
    env = {"TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema}

    meltano_run(meltano_project, "target-postgres", now, "--state-id-suffix", schema, env=env)
    assert counts(pg, schema, list(expected)) == expected
    types = column_types(pg, schema)
    assert types[("media", "children")] == "_jsonb"  # array of objects: jsonb[], queryable, not a string
    assert types[("media", "timestamp")] == "timestamp"
    assert types[("account_insights", "value")] == "int8"  # integer metrics stay integers
    assert types[("media_insights", "value")] == "numeric"
    assert types[("account_insights", "date")] == "date"
    keys = primary_keys(pg, schema)
    assert keys["account_insights"] == ["account_id", "date", "metric", "breakdown", "breakdown_value"]
    assert set(null_key_rows(pg, schema, keys).values()) == {0}

    # The rerun starts from the stored bookmarks, re-reads the lookback windows and upserts them: nothing grows.
    state = stored_state(meltano_project, f"sandbox:tap-creatorsocial-to-target-postgres:{schema}")
    assert bookmarked_accounts(state, "media")
    rerun = meltano_run(meltano_project, "target-postgres", now, "--state-id-suffix", schema, env=env)
    resent = records_sent(rerun)
    assert resent["media"]
    assert resent["account_insights"]
    assert counts(pg, schema, list(expected)) == expected
    assert column_types(pg, schema) == types
    deleted = pg.execute(f'select count(*) from "{schema}".media where _sdc_deleted_at is not null').fetchone()[0]
    assert deleted == 0

    # v21.0 serves fewer metrics, so fewer rows, but exactly the same tables, columns and types.
    env_v21 = {"TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": v21_schema, "TAP_CREATORSOCIAL_API_VERSION": "v21.0"}
    meltano_run(meltano_project, "target-postgres", now, "--state-id-suffix", v21_schema, env=env_v21)
    expected_v21 = expected_rows(now, 21)
    assert counts(pg, v21_schema, list(expected_v21)) == expected_v21
    assert column_types(pg, v21_schema) == types

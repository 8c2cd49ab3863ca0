"""Crash safety: the tap killed at random points and restarted from the state its target last emitted ends with the
target (DuckDB, through target-duckdb) holding every expected record, and no primary key twice.

Each run pipes `tap-creatorsocial` (in-process sandbox, fixed clock) into `target-duckdb`, as `meltano run` does. A
run is interrupted by SIGKILL after a seeded random number of output lines; the target then gets end-of-input,
commits what it received and emits the last state it saw, which the next run starts from. The loop ends with a run
that completes.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import duckdb
import pytest

from scripts.check_duckdb import expected_counts, table_counts
from tap_creatorsocial.sandbox import create_emulator
from tap_creatorsocial.sandbox.truth import build_truth
from tap_creatorsocial.tap import STREAM_TYPES
from tests.e2e import REPO

pytestmark = pytest.mark.e2e

NOW = "2026-11-23T14:00:00+00:00"
OPTIONS = {"accounts": 3, "media": 3, "stories": 1, "now": NOW}
SCHEMA = "creatorsocial"
TARGET = Path(".meltano/loaders/target-duckdb/venv/bin/target-duckdb")


@pytest.fixture(scope="module")
def target_duckdb(request: pytest.FixtureRequest) -> Path:
    """target-duckdb as `meltano install` set it up: the repo's own install, else the test session's project."""
    if (REPO / TARGET).exists():
        return REPO / TARGET
    project: Path = request.getfixturevalue("meltano_project")
    return project / TARGET


def pipeline(
    tmp: Path, target: Path, state: dict[str, Any] | None, kill_after: int | None, how: int = signal.SIGKILL
) -> dict[str, Any]:
    """One tap | target run, signalling the tap (`how`) after `kill_after` lines; returns the target's last emitted
    state and whether the tap finished. After SIGKILL nothing more reaches the target; after SIGTERM whatever the
    tap still writes (singer-sdk writes its state) does."""
    config = tmp / "tap.json"
    config.write_text(json.dumps({"sandbox": True, "sandbox_options": OPTIONS, "retry_base_seconds": 0.001}))
    target_config = tmp / "target.json"
    target_config.write_text(json.dumps({"path": str(tmp / "out.duckdb"), "default_target_schema": SCHEMA}))
    args = [sys.executable, "-m", "tap_creatorsocial", "--config", str(config)]
    if state is not None:
        (tmp / "state.json").write_text(json.dumps(state))
        args += ["--state", str(tmp / "state.json")]
    with (tmp / "tap.log").open("a") as tap_log, (tmp / "target.log").open("a") as target_log:
        tap = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=tap_log, stdin=subprocess.DEVNULL)
        loader = subprocess.Popen(
            [str(target), "--config", str(target_config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=target_log,
        )
        assert tap.stdout is not None
        assert loader.stdin is not None
        assert loader.stdout is not None
        emitted: list[bytes] = []
        reader = threading.Thread(target=lambda: emitted.extend(loader.stdout or []))  # type: ignore[arg-type]
        reader.start()
        killed = False
        for count, line in enumerate(tap.stdout, start=1):
            loader.stdin.write(line)
            if kill_after is not None and count == kill_after:
                tap.send_signal(how)
                killed = True
                if how == signal.SIGKILL:
                    break
        loader.stdin.close()
        tap.stdout.close()
        tap_status = tap.wait(timeout=120)
        assert loader.wait(timeout=300) == 0, (tmp / "target.log").read_text()[-3000:]
        reader.join(timeout=60)
    if not killed:
        assert tap_status == 0, (tmp / "tap.log").read_text()[-3000:]
    states = [json.loads(line) for line in emitted if line.strip()]
    return {"state": states[-1] if states else state, "finished": not killed}


def duplicate_keys(db: Path) -> dict[str, int]:
    """Rows beyond one per primary key, per table."""
    found: dict[str, int] = {}
    with duckdb.connect(str(db), read_only=True) as con:
        for stream in STREAM_TYPES:
            keys = ", ".join(f'"{k}"' for k in stream.primary_keys or [])
            query = f'select count(*) - count(distinct ({keys})) from "{SCHEMA}"."{stream.name}"'
            found[stream.name] = (con.execute(query).fetchone() or [0])[0]
    return found


def test_killed_runs_resumed_from_their_state_land_every_record_once(tmp_path: Path, target_duckdb: Path) -> None:
    rng = random.Random(20261123)
    # Early (profiles, media, comments), middle (insights) and late (account insights) interruptions.
    kills = [
        (rng.randint(15, 120), signal.SIGKILL),
        (rng.randint(120, 1500), signal.SIGTERM),
        (rng.randint(1500, 9000), signal.SIGKILL),
    ]
    state: dict[str, Any] | None = None
    runs = []
    for kill_after, how in [*kills, (None, signal.SIGKILL)]:
        result = pipeline(tmp_path, target_duckdb, state, kill_after, how)
        runs.append((kill_after, result["finished"]))
        state = result["state"]
    assert [finished for _, finished in runs] == [False, False, False, True], runs

    now = dt.datetime.fromisoformat(NOW)
    truth = build_truth(create_emulator(seed=7, accounts=3, media=3, stories=1, now=now).dataset, 25)
    expected = expected_counts(truth)
    db = tmp_path / "out.duckdb"
    assert table_counts(str(db), SCHEMA, list(expected)) == expected
    assert set(duplicate_keys(db).values()) == {0}
    assert "Traceback" not in (tmp_path / "tap.log").read_text()


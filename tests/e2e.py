"""Helpers for end-to-end runs through Meltano into real targets (DuckDB, PostgreSQL) on the sandbox data."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from scripts.check_duckdb import expected_counts
from tap_creatorsocial.sandbox import create_emulator
from tap_creatorsocial.sandbox.truth import build_truth

REPO = Path(__file__).resolve().parents[1]
MELTANO = str(Path(sys.executable).with_name("meltano"))
#: what the tap config would otherwise pick up from the developer's shell (e.g. a real token) or Meltano settings
ISOLATED_PREFIXES = ("TAP_CREATORSOCIAL_", "MELTANO_", "TARGET_DUCKDB_")


def sandbox_now() -> dt.datetime:
    """One fixed sandbox clock per run pair, so the expected rows do not move between two runs."""
    return dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)


def expected_rows(now: dt.datetime, version: int = 25) -> dict[str, int]:
    return expected_counts(build_truth(create_emulator(now=now).dataset, version))


def sandbox_account_ids(now: dt.datetime) -> list[str]:
    return [str(a["id"]) for a in build_truth(create_emulator(now=now).dataset)["accounts"]]


def install_project(root: Path) -> Path:
    """A copy of the repo's Meltano project whose extractor installs this checkout, plugins installed."""
    text = (REPO / "meltano.yml").read_text().replace("pip_url: -e .", f"pip_url: -e {REPO}")
    (root / "meltano.yml").write_text(text)
    done = subprocess.run([MELTANO, "install"], cwd=root, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    return root


def meltano(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(ISOLATED_PREFIXES)}
    full_env = {**base, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", **(env or {})}
    return subprocess.run(
        [MELTANO, *args], cwd=project, env=full_env, capture_output=True, text=True, timeout=900, check=False
    )


def meltano_run(
    project: Path, loader: str, now: dt.datetime, *run_args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`meltano run tap-creatorsocial <loader>` on the sandbox at `now`; fails the test with Meltano's log tail."""
    sandbox_env = {"TAP_CREATORSOCIAL_SANDBOX_OPTIONS": json.dumps({"now": now.isoformat()}), **(env or {})}
    done = meltano(project, "run", *run_args, "tap-creatorsocial", loader, env=sandbox_env)
    assert done.returncode == 0, done.stderr[-4000:]
    return done


def records_sent(done: subprocess.CompletedProcess[str]) -> Counter[str]:
    """Records the tap emitted per stream in a `meltano run`, from singer-sdk's `record_count` metrics in the log."""
    sent: Counter[str] = Counter()
    for line in done.stderr.splitlines():
        if "METRIC: " in line and '"record_count"' in line:
            metric = json.loads(line.split("METRIC: ", 1)[1])
            sent[metric["tags"]["stream"]] += int(metric["value"])
    return sent


def state_ids(project: Path) -> list[str]:
    done = meltano(project, "state", "list")
    assert done.returncode == 0, done.stderr[-2000:]
    return sorted(line.strip() for line in done.stdout.splitlines() if line.strip())


def stored_state(project: Path, state_id: str) -> dict[str, Any]:
    done = meltano(project, "state", "get", state_id)
    assert done.returncode == 0, done.stderr[-2000:]
    value = json.loads(done.stdout)
    assert isinstance(value, dict)
    return value


def bookmarked_accounts(state: dict[str, Any], stream: str) -> set[str]:
    """Account ids that have a bookmark partition for `stream` in a Meltano state (`{"singer_state": …}`)."""
    partitions = state["singer_state"]["bookmarks"][stream]["partitions"]
    return {str(p["context"]["account_id"]) for p in partitions}

"""End to end as a user runs it: `meltano run tap-creatorsocial target-duckdb` on the sandbox, rows checked vs truth."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.check_duckdb import expected_counts, table_counts
from tap_creatorsocial.sandbox import create_emulator
from tap_creatorsocial.sandbox.truth import build_truth

REPO = Path(__file__).resolve().parents[1]
MELTANO = str(Path(sys.executable).with_name("meltano"))

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repo's Meltano project whose extractor installs this checkout; plugins installed once."""
    root = tmp_path_factory.mktemp("meltano")
    text = (REPO / "meltano.yml").read_text().replace("pip_url: -e .", f"pip_url: -e {REPO}")
    (root / "meltano.yml").write_text(text)
    subprocess.run([MELTANO, "install"], cwd=root, check=True, capture_output=True, timeout=600)
    return root


def meltano_run(project: Path, now: dt.datetime, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TAP_CREATORSOCIAL_SANDBOX_OPTIONS": json.dumps({"now": now.isoformat()}),
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    return subprocess.run(
        [MELTANO, "run", *extra, "tap-creatorsocial", "target-duckdb"],
        cwd=project, env=env, capture_output=True, text=True, timeout=900, check=False,
    )


def test_meltano_run_lands_the_sandbox_truth_in_duckdb(project: Path) -> None:
    now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    db = project / "output" / "creator_data.duckdb"
    shutil.rmtree(project / "output", ignore_errors=True)
    db.parent.mkdir()

    first = meltano_run(project, now)
    assert first.returncode == 0, first.stderr[-4000:]
    expected = expected_counts(build_truth(create_emulator(now=now).dataset, 25))
    assert table_counts(str(db), "creatorsocial", list(expected)) == expected

    # The second run starts from Meltano's stored state and upserts: no table grows.
    second = meltano_run(project, now)
    assert second.returncode == 0, second.stderr[-4000:]
    assert table_counts(str(db), "creatorsocial", list(expected)) == expected

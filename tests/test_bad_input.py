"""Bad input gets one clear message each: the tap's CLI names the setting or file and the fix, exits non-zero (2),
and never shows a traceback.

Each case runs the real CLI in a subprocess, as Meltano or a scheduler would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SANDBOX = {"sandbox": True, "sandbox_options": {"accounts": 2, "media": 1, "stories": 0, "now": "2026-11-23T14:00:00Z"}}
NO_TOKEN = {"sandbox": False, "initiate_oauth": "REFRESH"}


def store(tmp: Path, text: str | None) -> dict[str, Any]:
    path = tmp / "oauth.json"
    if text is None:
        path.mkdir()  # a directory where the store file should be: cannot be opened
    else:
        path.write_text(text)
    return {"oauth_settings_location": str(path)}


# (case id, config, state file text or None, what the one ERROR line must contain)
CASES: list[tuple[str, Any, str | None, list[str]]] = [
    ("wrong-type-page-size", {**SANDBOX, "page_size": "abc"}, None, ["`page_size`", "Fix:"]),
    ("wrong-type-account-ids", {**SANDBOX, "account_ids": "17841400000000001"}, None, ["`account_ids`", "Fix:"]),
    ("wrong-type-timeout", {**SANDBOX, "request_timeout": "fast"}, None, ["`request_timeout`", "Fix:"]),
    ("unknown-auth-provider", {**SANDBOX, "auth_provider": "tiktok"}, None, ["`auth_provider`", "facebook"]),
    ("unknown-initiate-oauth", {**SANDBOX, "initiate_oauth": "ALWAYS"}, None, ["`initiate_oauth`", "GETANDREFRESH"]),
    ("unknown-api-version", {**SANDBOX, "api_version": "v99.0"}, None, ["api_version", "v25.0"]),
    ("negative-timeout", {**SANDBOX, "request_timeout": -1}, None, ["`request_timeout` is -1", "Fix:"]),
    ("too-many-retries", {**SANDBOX, "max_retries": 1000}, None, ["`max_retries` is 1000", "Fix:"]),
    ("negative-rate-limit-wait", {**SANDBOX, "max_rate_limit_wait": -5}, None, ["`max_rate_limit_wait`", "Fix:"]),
    (
        "wrong-type-breakdowns",
        {**SANDBOX, "media_insight_breakdowns": "off"},
        None,
        ["`media_insight_breakdowns`", "Fix:"],
    ),
    (
        "unknown-account-metric",
        {**SANDBOX, "account_insight_metrics": ["reach", "impresions"]},
        None,
        ["`account_insight_metrics`", "'impresions'", "follower_count", "Fix:"],
    ),
    (
        "unknown-account-breakdown",
        {**SANDBOX, "account_insight_breakdowns": ["gender"]},
        None,
        ["`account_insight_breakdowns`", "'gender'", "contact_button_type", "Fix:"],
    ),
    ("store-corrupt", lambda tmp: {**NO_TOKEN, **store(tmp, "{not")}, None, ["oauth.json", "not valid JSON", "Fix:"]),
    ("store-wrong-shape", lambda tmp: {**NO_TOKEN, **store(tmp, "[1, 2]")}, None, ["oauth.json", "Fix:"]),
    ("store-unreadable", lambda tmp: {**NO_TOKEN, **store(tmp, None)}, None, ["oauth.json", "cannot be opened"]),
    ("state-not-json", SANDBOX, "{bookmarks: nope", ["state.json", "not valid JSON", "Fix:"]),
    ("state-a-list", SANDBOX, "[]", ["state.json", "not an object", "Fix:"]),
    ("state-bookmarks-wrong", SANDBOX, '{"bookmarks": []}', ["state.json", "`bookmarks`", "Fix:"]),
    (
        "state-partitions-wrong",
        SANDBOX,
        '{"bookmarks": {"media": {"partitions": ["17841400000000001"]}}}',
        ["state.json", "`media` partitions", "Fix:"],
    ),
    ("account-ids-not-ids", {**SANDBOX, "account_ids": ["@rosa.bakery"]}, None, ["`account_ids`", "not an Instagram"]),
    (
        "account-ids-unknown",
        {**SANDBOX, "account_ids": ["17841400000009999"]},
        None,
        ["`account_ids`", "17841400000009999", "Fix:"],
    ),
]


@pytest.mark.parametrize(("config", "state", "needles"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gets_one_clear_message(
    tmp_path: Path, config: Any, state: str | None, needles: list[str]
) -> None:
    settings = config(tmp_path) if callable(config) else config
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(settings))
    args = [sys.executable, "-m", "tap_creatorsocial", "--config", str(config_path)]
    if state is not None:
        (tmp_path / "state.json").write_text(state)
        args += ["--state", str(tmp_path / "state.json")]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, check=False)

    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1, errors
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    assert '"type":"RECORD"' not in done.stdout.replace(" ", "")  # refused before extracting anything


def test_a_config_file_that_is_not_json_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text("sandbox: true")
    done = subprocess.run(
        [sys.executable, "-m", "tap_creatorsocial", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "--config" in done.stderr
    assert "Fix:" in done.stderr

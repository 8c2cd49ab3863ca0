"""Bad settings fail fast with one clear line naming the setting and the fix, never a traceback or a secret."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tap_creatorsocial.settings import CONFIG_SCHEMA, config_errors

SECRET = "SECRET-TOKEN-VALUE-1234567890"


def run_tap(tmp_path: Path, config: dict, *args: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return subprocess.run(
        [sys.executable, "-m", "tap_creatorsocial", "--config", str(path), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("config", "setting", "fix"),
    [
        ({"sandbox": True, "api_version": "v99.0"}, "api_version", "v25.0"),
        ({"sandbox": True, "api_version": "latest"}, "api_version", "v25.0"),
        ({"sandbox": True, "account_ids": "17841400000000001"}, "account_ids", "list of IG user ids"),
        ({"sandbox": True, "account_ids": ["not-an-id"]}, "account_ids", "list of IG user ids"),
        ({"sandbox": True, "start_date": "yesterday"}, "start_date", "ISO-8601"),
        ({"sandbox": True, "auth_provider": "tiktok"}, "auth_provider", "facebook"),
        ({"sandbox": True, "page_size": 500}, "page_size", "1 to 100"),
        ({"sandbox": True, "media_insight_breakdowns": "no"}, "media_insight_breakdowns", "true or false"),
        ({"sandbox": True, "facebook_share_metrics": "yes"}, "facebook_share_metrics", "true or false"),
        ({"sandbox": True, "account_insight_metrics": "reach"}, "account_insight_metrics", "list of metric names"),
        ({"sandbox": True, "account_insight_metrics": ["reach", "reech"]}, "account_insight_metrics", "follower_count"),
        ({"sandbox": True, "account_insight_metrics": []}, "account_insight_metrics", "deselect"),
        ({"sandbox": True, "account_insight_breakdowns": ["age"]}, "account_insight_breakdowns", "follow_type"),
        ({"sandbox": True, "account_insight_breakdowns": "follow_type"}, "account_insight_breakdowns", "[] for none"),
        ({}, "access_token", "sandbox: true"),
        ({"sandbox": False, "client_id": "123"}, "access_token", "TAP_CREATORSOCIAL_ACCESS_TOKEN"),
    ],
)
def test_bad_setting_is_named_with_its_fix(config: dict, setting: str, fix: str) -> None:
    errors = config_errors(config)
    assert len(errors) == 1, errors
    assert setting in errors[0]
    assert fix in errors[0]


def test_good_sandbox_config_has_no_errors() -> None:
    assert config_errors({"sandbox": True, "api_version": "21", "account_ids": ["17841400000000001"]}) == []


def test_insight_selection_settings() -> None:
    lean = {
        "sandbox": True,
        "media_insight_breakdowns": False,
        "facebook_share_metrics": True,
        "account_insight_metrics": ["reach", "follower_count", "impressions"],  # retired: a run-time warning
        "account_insight_breakdowns": [],
    }
    assert config_errors(lean) == []
    errors = config_errors({"sandbox": True, "account_insight_metrics": ["reech", "folower_count"]})
    assert len(errors) == 1
    assert "'reech', 'folower_count'" in errors[0]  # every unknown name, on one line
    assert "reach, views" in errors[0]  # with the valid names


def test_insight_settings_explain_their_api_call_cost() -> None:
    properties = CONFIG_SCHEMA["properties"]
    for name in ("media_insight_breakdowns", "facebook_share_metrics"):
        assert "call" in properties[name]["description"]
    assert properties["media_insight_breakdowns"]["default"] is True
    assert properties["facebook_share_metrics"]["default"] is False
    assert "total_views" in properties["facebook_share_metrics"]["description"]
    for name in ("account_insight_metrics", "account_insight_breakdowns"):
        assert "default" not in properties[name]  # unset = the catalog decides
        assert "call" in properties[name]["description"]


def test_wrong_type_of_secret_is_not_echoed() -> None:
    errors = config_errors({"access_token": ["x", SECRET]})
    assert errors
    assert "`access_token`" in errors[0]
    assert SECRET not in " ".join(errors)


def test_cli_fails_fast_without_traceback(tmp_path: Path) -> None:
    result = run_tap(tmp_path, {"api_version": "v99.0", "client_secret": SECRET})
    assert result.returncode != 0
    assert "api_version" in result.stderr
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stderr + result.stdout


def test_cli_about_lists_every_setting(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tap_creatorsocial", "--about", "--format=json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    about = json.loads(result.stdout)
    settings = set(about["settings"]["properties"])
    assert {
        "access_token",
        "client_id",
        "client_secret",
        "account_ids",
        "start_date",
        "api_version",
        "graph_api_url",
        "instagram_api_url",
        "sandbox",
    } <= settings
    assert about["settings"]["properties"]["access_token"].get("secret") is True

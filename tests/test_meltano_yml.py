"""meltano.yml is ready for Meltano Hub and self-contained: every plugin and setting defined, nothing looked up."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from typing import Any

import pytest
import yaml

from tests.e2e import REPO

HUB_KINDS = {"string", "integer", "boolean", "date_iso8601", "options", "object", "array"}
# Meltano has no kind for JSON numbers: seconds settings are `integer` in meltano.yml (whole seconds there) and
# `number` in the tap (a config file may give fractions).
JSON_KIND = {"string": {"string", "options", "date_iso8601"}, "integer": {"integer"}, "number": {"integer"},
             "boolean": {"boolean"},
             "object": {"object"}, "array": {"array"}}


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    data = yaml.safe_load((REPO / "meltano.yml").read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def about_settings() -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "tap_creatorsocial", "--about", "--format=json"],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    properties: dict[str, Any] = json.loads(out)["settings"]["properties"]
    return properties


def plugin(project: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    return next(p for p in project["plugins"][kind] if p["name"] == name)


def test_every_plugin_is_fully_defined(project: dict[str, Any]) -> None:
    for kind in ("extractors", "loaders"):
        for p in project["plugins"][kind]:
            missing = [k for k in ("namespace", "pip_url", "executable", "settings") if not p.get(k)]
            assert not missing, (p["name"], missing)
            assert kind == "extractors" or p.get("variant"), p["name"]
            assert "==" in p["pip_url"] or p["pip_url"].startswith("-e "), f"{p['name']}: pin the version"
            for s in p["settings"]:
                absent = [k for k in ("label", "description", "kind", "sensitive") if k not in s]
                assert not absent, (p["name"], s["name"], absent)
                assert s["kind"] in HUB_KINDS, (p["name"], s["name"], s["kind"])
                assert isinstance(s["sensitive"], bool)


def test_extractor_settings_match_the_tap(project: dict[str, Any], about_settings: dict[str, Any]) -> None:
    """Same names as `--about`, the same secrets, compatible kinds and the same defaults."""
    settings = {s["name"]: s for s in plugin(project, "extractors", "tap-creatorsocial")["settings"]}
    assert sorted(settings) == sorted(about_settings)
    for name, schema in about_settings.items():
        setting = settings[name]
        assert setting["sensitive"] is bool(schema.get("secret")), name
        json_type = next(t for t in schema["type"] if t != "null")
        assert setting["kind"] in JSON_KIND[json_type], (name, setting["kind"], json_type)
        if "default" in schema:
            assert setting.get("value") == schema["default"], name
        if setting["kind"] == "options":
            assert sorted(o["value"] for o in setting["options"]) == sorted(schema["enum"]), name


def test_capabilities_commands_and_environments(project: dict[str, Any]) -> None:
    tap = plugin(project, "extractors", "tap-creatorsocial")
    wanted = {"catalog", "discover", "state", "about", "stream-maps", "schema-flattening"}
    assert wanted <= set(tap["capabilities"])
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert {"login", "status", "refresh", "revoke"} <= set(tap["commands"])
    for name, command in tap["commands"].items():
        assert command.get("description"), name
        assert command["executable"] in scripts, (name, command["executable"])
    environments = {e["name"]: e for e in project["environments"]}
    assert {"sandbox", "prod"} <= set(environments)

    def extractor_config(env: str) -> dict[str, Any]:
        extractors = environments[env]["config"]["plugins"]["extractors"]
        return next(p for p in extractors if p["name"] == "tap-creatorsocial")["config"]

    assert extractor_config("sandbox")["sandbox"] is True
    assert extractor_config("prod")["sandbox"] is False
    assert project["default_environment"] == "sandbox"


def test_warehouse_loaders(project: dict[str, Any]) -> None:
    postgres = plugin(project, "loaders", "target-postgres")
    assert postgres["variant"] == "meltanolabs"
    assert postgres["pip_url"].startswith("meltanolabs-target-postgres==")
    secrets = {s["name"] for s in postgres["settings"] if s["sensitive"]}
    assert secrets == {"password", "sqlalchemy_url"}
    assert postgres["config"]["load_method"] == "upsert"
    assert "password" not in postgres["config"]  # secrets come from .env / TARGET_POSTGRES_PASSWORD only
    duckdb = plugin(project, "loaders", "target-duckdb")
    assert duckdb["pip_url"] == "target-duckdb==0.8.0 duckdb==1.0.0"

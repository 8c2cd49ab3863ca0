"""Stream maps and schema flattening (singer-sdk capabilities) on the tap's real streams, asserted on its messages."""

from __future__ import annotations

import json
from typing import Any

from tests.helpers import make_tap, select_only

SANDBOX: dict[str, Any] = {"sandbox": True}


def messages(config: dict[str, Any], *streams: str) -> list[dict[str, Any]]:
    tap, writer = make_tap(config)
    select_only(tap, *streams)
    tap.sync_all()
    return writer.messages


def schema_of(msgs: list[dict[str, Any]], stream: str) -> dict[str, Any]:
    return next(m for m in msgs if m["type"] == "SCHEMA" and m["stream"] == stream)


def records_of(msgs: list[dict[str, Any]], stream: str) -> list[dict[str, Any]]:
    return [m["record"] for m in msgs if m["type"] == "RECORD" and m["stream"] == stream]


def test_maps_drop_and_rename_fields_and_flattening_serialises_children() -> None:
    plain = messages(SANDBOX, "media", "media_insights")
    mapped_config = {
        **SANDBOX,
        "stream_maps": {
            "media": {"post_url": "permalink", "permalink": "__NULL__", "caption": None},  # rename one, drop two
            "media_insights": {"extracted_at": None},
        },
        "flattening_enabled": True,
        "flattening_max_depth": 1,
    }
    mapped = messages(mapped_config, "media", "media_insights")

    plain_schema, schema = schema_of(plain, "media"), schema_of(mapped, "media")
    assert schema["key_properties"] == ["id"]
    properties = schema["schema"]["properties"]
    assert {"permalink", "caption"}.isdisjoint(properties)
    assert properties["post_url"]["type"] == plain_schema["schema"]["properties"]["permalink"]["type"]
    assert plain_schema["schema"]["properties"]["children"]["type"] == ["array", "null"]
    assert properties["children"]["type"] == ["string", "null"]  # arrays are not expanded: one JSON string column

    before = {r["id"]: r for r in records_of(plain, "media")}
    after = records_of(mapped, "media")
    assert len(after) == len(before) > 0
    carousels = 0
    for row in after:
        original = before[row["id"]]
        assert "permalink" not in row
        assert "caption" not in row
        assert row["post_url"] == original["permalink"]
        if original.get("children"):
            carousels += 1
            assert json.loads(row["children"]) == original["children"]
        assert set(row) <= set(properties)
    assert carousels > 0

    insights = records_of(mapped, "media_insights")
    assert len(insights) == len(records_of(plain, "media_insights")) > 0
    assert all("extracted_at" not in r for r in insights)
    assert "extracted_at" not in schema_of(mapped, "media_insights")["schema"]["properties"]


def test_a_map_can_filter_rows_and_drop_a_stream() -> None:
    config = {
        **SANDBOX,
        "stream_maps": {"media": {"__filter__": "media_product_type == 'REELS'"}, "accounts": None},
    }
    msgs = messages(config, "media", "accounts")
    kept = records_of(msgs, "media")
    assert kept
    assert {r["media_product_type"] for r in kept} == {"REELS"}
    assert not [m for m in msgs if m.get("stream") == "accounts"]

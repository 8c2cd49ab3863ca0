"""`--about` documents every stream: key, replication method and what each field means."""

from __future__ import annotations

import json
import subprocess
import sys

from tap_creatorsocial.tap import STREAM_TYPES


def about(fmt: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "tap_creatorsocial", "--about", f"--format={fmt}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout


def test_about_json_lists_every_stream_with_key_replication_and_field_meanings() -> None:
    streams = {s["name"]: s for s in json.loads(about("json"))["streams"]}
    assert list(streams) == [t.name for t in STREAM_TYPES]
    for name, stream in streams.items():
        assert stream["key_properties"], name
        assert stream["replication_method"] in {"FULL_TABLE", "INCREMENTAL"}
        assert (stream["replication_method"] == "INCREMENTAL") == bool(stream["replication_key"])
        assert stream["description"], name
        undocumented = [f["name"] for f in stream["fields"] if not f["description"]]
        assert not undocumented, (name, undocumented)
        assert set(stream["key_properties"]) <= {f["name"] for f in stream["fields"]}
    assert streams["media"]["replication_key"] == "timestamp"
    assert streams["account_insights"]["key_properties"] == [
        "account_id",
        "date",
        "metric",
        "breakdown",
        "breakdown_value",
    ]


def test_about_markdown_has_a_streams_table_and_field_tables() -> None:
    text = about("markdown")
    assert "## Settings" in text
    assert "## Streams" in text
    for stream_type in STREAM_TYPES:
        assert f"### `{stream_type.name}`" in text
    assert "| `like_count` | integer | Likes; null when the owner hides like counts. |" in text

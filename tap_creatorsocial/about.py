"""The streams section of `--about`: each stream's key, replication method and what its fields mean.

singer-sdk's `--about` lists settings only; data teams also need the tables they will get. Built from the stream
classes themselves, so it cannot drift from what the tap emits.
"""

from __future__ import annotations

import inspect
from typing import Any

from singer_sdk import Stream


def _summary(stream_type: type[Stream]) -> str:
    doc = inspect.getdoc(stream_type) or ""
    return " ".join(doc.split("\n\n")[0].split())


def _type_name(schema: dict[str, Any]) -> str:
    types = schema.get("type", "")
    names = [t for t in ([types] if isinstance(types, str) else types) if t != "null"]
    name = "/".join(names) or "any"
    if schema.get("format") == "date-time":
        name = "date-time"
    return name


def stream_info(stream_types: list[type[Stream]]) -> list[dict[str, Any]]:
    """One entry per stream: name, key, replication method and key, description, and fields with their meaning."""
    info = []
    for stream_type in stream_types:
        schema: dict[str, Any] = stream_type.schema  # type: ignore[assignment]
        replication_key = getattr(stream_type, "replication_key", None)
        info.append(
            {
                "name": str(stream_type.name),  # type: ignore[misc]  # class attribute on our streams
                "key_properties": list(getattr(stream_type, "primary_keys", None) or []),
                "replication_method": "INCREMENTAL" if replication_key else "FULL_TABLE",
                "replication_key": replication_key,
                "description": _summary(stream_type),
                "fields": [
                    {"name": name, "type": _type_name(prop), "description": prop.get("description", "")}
                    for name, prop in schema.get("properties", {}).items()
                ],
            }
        )
    return info


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def streams_markdown(stream_types: list[type[Stream]]) -> str:
    """A summary table of the streams, then each stream's fields."""
    info = stream_info(stream_types)
    lines = ["## Streams", "", "| Stream | Key | Replication | What it holds |", "|:--|:--|:--|:--|"]
    for s in info:
        replication = f"incremental on `{s['replication_key']}`" if s["replication_key"] else "full table"
        key = ", ".join(f"`{k}`" for k in s["key_properties"])
        lines.append(f"| `{s['name']}` | {key} | {replication} | {_cell(s['description'])} |")
    for s in info:
        lines += ["", f"### `{s['name']}`", "", "| Field | Type | Meaning |", "|:--|:--|:--|"]
        lines += [f"| `{f['name']}` | {f['type']} | {_cell(f['description'])} |" for f in s["fields"]]
    return "\n".join(lines) + "\n"

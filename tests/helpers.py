"""Run the tap in-process and capture its Singer output, so tests assert on what a target would receive."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from singer_sdk.io_base import GenericSingerWriter

from tap_creatorsocial.tap import TapCreatorSocial


class CapturingWriter(GenericSingerWriter[dict[str, Any], Any]):
    """Keeps every message as the JSON-compatible dict a target would parse (round-tripped through JSON)."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def serialize_message(self, message: Any) -> dict[str, Any]:
        return json.loads(json.dumps(message.to_dict(), default=str))

    def write_message(self, message: Any) -> None:
        self.messages.append(self.serialize_message(message))


def make_tap(config: dict[str, Any], state: dict[str, Any] | None = None) -> tuple[TapCreatorSocial, CapturingWriter]:
    """A tap wired to a capturing writer (its `sandbox_emulator` is the one the run will talk to)."""
    writer = CapturingWriter()
    tap = TapCreatorSocial(config=config, state=state, parse_env_config=False, message_writer=writer)
    return tap, writer


def collect(writer: CapturingWriter) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """Records by stream and the last STATE message's value."""
    records: dict[str, list[dict[str, Any]]] = defaultdict(list)
    state: dict[str, Any] = {}
    for message in writer.messages:
        if message.get("type") == "RECORD":
            records[message["stream"]].append(message["record"])
        elif message.get("type") == "STATE":
            state = message["value"]
    return dict(records), state


def select_only(tap: TapCreatorSocial, *stream_names: str) -> None:
    """Deselect every stream except `stream_names` (keeps runs fast and focused)."""
    for name, stream in tap.streams.items():
        stream.selected = name in stream_names


def run_tap(
    config: dict[str, Any], state: dict[str, Any] | None = None, *, streams: tuple[str, ...] = ()
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """Run a full sync in-process: (records_by_stream, final_state). `streams` limits the selection."""
    tap, writer = make_tap(config, state)
    if streams:
        select_only(tap, *streams)
    tap.sync_all()
    return collect(writer)

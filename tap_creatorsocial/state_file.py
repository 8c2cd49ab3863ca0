"""The `--state` file: read and checked before the run, so a bad one is one clear line instead of a traceback."""

from __future__ import annotations

import json
import typing as t


class BadInputError(Exception):
    """Input the user must fix (a state file, …): reported as one line with the fix."""


def read_state_file(handle: t.IO[str]) -> dict[str, t.Any]:
    """The `--state` file as Singer state, or `BadInputError` saying what is wrong with it and how to fix it."""
    name = getattr(handle, "name", "the state file")
    fix = (
        "Fix: pass the last STATE message's value (an object with `bookmarks`), e.g. from `meltano state get`, or "
        "drop `--state` for a full run"
    )
    try:
        text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(f"State file {name} cannot be read ({exc}). {fix}.") from None
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise BadInputError(f"State file {name} is not valid JSON ({exc}). {fix}.") from None
    if isinstance(value, dict) and "singer_state" in value and "bookmarks" not in value:
        value = value["singer_state"]  # Meltano's `state get` wrapper: take the Singer state inside
    problem = _state_shape_problem(value)
    if problem:
        raise BadInputError(f"State file {name} {problem}. {fix}.")
    return t.cast("dict[str, t.Any]", value)


def _state_shape_problem(value: t.Any) -> str | None:
    """What is wrong with a decoded state's shape (None when it is a Singer state the tap can resume from)."""
    if not isinstance(value, dict):
        return f"holds a JSON {type(value).__name__}, not an object"
    bookmarks = value.get("bookmarks", {})
    if not isinstance(bookmarks, dict):
        return "has `bookmarks` that is not an object"
    for stream, entry in bookmarks.items():
        if not isinstance(entry, dict):
            return f"has a bookmark for `{stream}` that is not an object"
        partitions = entry.get("partitions", [])
        if not isinstance(partitions, list) or not all(
            isinstance(p, dict) and isinstance(p.get("context"), dict) for p in partitions
        ):
            return f"has `{stream}` partitions that are not a list of objects with a `context`"
    return None

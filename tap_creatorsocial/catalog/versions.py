"""Graph API versions the tap knows the metric rules for.

Source: reference/graph-api.md §0 (Meta's versions page, newest localized snapshot). Meta keeps each version for at
least two years; a call to an expired version is silently served by the next oldest usable version, which is why the
tap can tell which rules really apply (`serving_version`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

__all__ = [
    "DEFAULT_API_VERSION",
    "NEWEST_KNOWN_VERSION",
    "SUPPORTED_VERSIONS",
    "SUPPORTED_VERSION_LABELS",
    "VERSIONS",
    "VersionInfo",
    "format_api_version",
    "is_version_expired",
    "parse_api_version",
    "serving_version",
]


@dataclass(frozen=True)
class VersionInfo:
    """One Graph API version as listed on Meta's versions page."""

    number: int
    released: date
    available_until: date | None  # None = "TBD" on the versions page

    @property
    def label(self) -> str:
        """The spelling used in URL paths, e.g. ``v25.0``."""
        return format_api_version(self.number)


VERSIONS: tuple[VersionInfo, ...] = (
    VersionInfo(18, date(2023, 9, 12), date(2026, 1, 26)),
    VersionInfo(19, date(2024, 1, 23), date(2026, 5, 21)),
    VersionInfo(20, date(2024, 5, 21), date(2026, 9, 24)),
    VersionInfo(21, date(2024, 10, 2), date(2027, 1, 21)),
    VersionInfo(22, date(2025, 1, 21), date(2027, 5, 20)),
    VersionInfo(23, date(2025, 5, 29), date(2027, 10, 8)),
    VersionInfo(24, date(2025, 10, 8), date(2028, 2, 18)),
    VersionInfo(25, date(2026, 2, 18), date(2028, 7, 29)),
    VersionInfo(26, date(2026, 7, 29), None),
)
_BY_NUMBER = {v.number: v for v in VERSIONS}

SUPPORTED_VERSIONS: tuple[int, ...] = tuple(v.number for v in VERSIONS)
"""Version numbers whose metric rules are in the catalog (v18.0 … v26.0)."""

NEWEST_KNOWN_VERSION: int = SUPPORTED_VERSIONS[-1]

DEFAULT_API_VERSION = "v25.0"
"""Newest version with a published end date (v26.0 is known but still "TBD" on the versions page)."""


def format_api_version(number: int) -> str:
    """``25`` → ``"v25.0"`` (Meta only ships ``.0`` versions)."""
    return f"v{number}.0"


SUPPORTED_VERSION_LABELS: tuple[str, ...] = tuple(format_api_version(n) for n in SUPPORTED_VERSIONS)

_VERSION_RE = re.compile(r"^v?(\d+)(?:\.0)?$", re.IGNORECASE)


def _accepted_values_text() -> str:
    return (
        f"{SUPPORTED_VERSION_LABELS[0]} … {SUPPORTED_VERSION_LABELS[-1]} "
        f"(written as 'v25.0', '25.0' or '25')"
    )


def parse_api_version(text: str) -> int:
    """Parse the ``api_version`` setting into a version number.

    Accepts ``"v25.0"``, ``"25.0"`` and ``"25"``; raises ``ValueError`` naming the setting, the accepted values and
    the fix, because a silently wrong version would change which metrics the tap asks for.
    """
    raw = text.strip() if isinstance(text, str) else text
    match = _VERSION_RE.match(raw) if isinstance(raw, str) else None
    fix = f"Fix: set api_version to one of these, e.g. '{DEFAULT_API_VERSION}' (the default), or remove the setting."
    if match is None:
        raise ValueError(
            f"Invalid setting api_version={text!r}: not a Graph API version. "
            f"Accepted values: {_accepted_values_text()}. {fix}"
        )
    number = int(match.group(1))
    if number not in _BY_NUMBER:
        raise ValueError(
            f"Unsupported setting api_version={text!r}: the tap only knows the metric rules of "
            f"{_accepted_values_text()}. {fix}"
        )
    return number


def is_version_expired(number: int, on: date) -> bool:
    """True when Meta no longer serves ``number`` on date ``on`` (the day after its "available until" date)."""
    until = _BY_NUMBER[number].available_until
    return until is not None and on > until


def serving_version(number: int, on: date) -> int:
    """The version Meta actually answers with: an expired version is served by the oldest still-usable one.

    The tap should apply the metric rules of this version (the ``facebook-api-version`` response header confirms it).
    """
    if not is_version_expired(number, on):
        return number
    for info in VERSIONS:
        if info.number > number and not is_version_expired(info.number, on):
            return info.number
    return NEWEST_KNOWN_VERSION

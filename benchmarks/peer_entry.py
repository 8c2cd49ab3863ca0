"""Entry point for tap-instagram 0.4.6 (runs under ``benchmarks/.venv-peer/bin/python``; never imported by the tap).

tap-instagram hard-codes its API host in the module global ``tap_instagram.client.BASE_URL`` (and
``tap_instagram.tap.BASE_URL`` for its unused token exchange). This script points both at the sandbox, then hands
every remaining argument to the tap's own CLI:

    PEER_BASE_URL=http://127.0.0.1:P/graph.facebook.com python peer_entry.py --config peer.json

``PEER_COMPAT`` (optional, JSON ``{"media_metrics": [...], "user_metrics": [...]}``) switches on *compat mode*, used
only to measure tap-instagram's request pattern when the unmodified tap dies on the current API version:

* ``ig_id`` is removed from the IG Media field lists (the current IG Media node has no such field, so the first
  ``/media`` page fails with ``(#100) Tried accessing nonexisting field (ig_id)``);
* every metric list is filtered to the names the API version accepts (``impressions``, ``video_views``, ``plays``,
  ``exits``, ``taps_*``, ``email_contacts``... were removed);
* a 4xx answer or a pagination loop ends that one partition with a warning instead of the whole run (what the tap
  already does for ``Unsupported get request``).

Every request the tap would make is still made, one HTTP request per call, in the tap's order, with its page sizes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from typing import Any

import tap_instagram.client as peer_client
import tap_instagram.streams as peer_streams
import tap_instagram.tap as peer_tap
from singer_sdk.exceptions import FatalAPIError

MEDIA_NODE_STREAMS = ("MediaStream", "StoriesStream", "MediaChildrenStream")
USER_INSIGHT_STREAMS = (
    "UserInsightsOnlineFollowersStream",
    "UserInsightsFollowersStream",
    "UserInsightsDailyStream",
    "UserInsightsWeeklyStream",
    "UserInsights28DayStream",
)


def _filter_metrics(original: Callable[[str, str], list[str]], accepted: set[str]) -> Callable[[str, str], list[str]]:
    def metrics(media_type: str, media_product_type: str) -> list[str]:
        return [m for m in original(media_type, media_product_type) if m in accepted]

    return metrics


def apply_compat(spec: dict[str, list[str]]) -> None:
    """Patch tap-instagram so that it survives the current API version (see the module docstring)."""
    for name in MEDIA_NODE_STREAMS:
        cls = getattr(peer_streams, name)
        cls.fields = [f for f in cls.fields if f != "ig_id"]
    media_ok = set(spec["media_metrics"])
    for name in ("MediaInsightsStream", "StoryInsightsStream"):
        cls = getattr(peer_streams, name)
        cls._metrics_for_media_type = staticmethod(_filter_metrics(cls._metrics_for_media_type, media_ok))
    user_ok = set(spec["user_metrics"])
    for name in USER_INSIGHT_STREAMS:
        cls = getattr(peer_streams, name)
        cls.metrics = [m for m in cls.metrics if m in user_ok]

    base = peer_client.InstagramStream
    original_get_records = base.get_records

    def get_records(self: Any, context: dict | None) -> Iterable[dict]:
        try:
            yield from original_get_records(self, context)
        except (FatalAPIError, RuntimeError) as exc:  # 4xx or "Loop detected in pagination"
            self.logger.warning("BENCH-COMPAT skipped partition %s of %s: %s", context, self.name, exc)

    base.get_records = get_records


def main() -> None:
    """Point tap-instagram at ``PEER_BASE_URL``, optionally apply compat mode, run its CLI."""
    base_url = os.environ["PEER_BASE_URL"].rstrip("/")
    peer_client.BASE_URL = base_url
    peer_tap.BASE_URL = base_url + "/{ig_user_id}"
    compat = os.environ.get("PEER_COMPAT")
    if compat:
        apply_compat(json.loads(compat))
    peer_tap.TapInstagram.cli()


if __name__ == "__main__":
    main()

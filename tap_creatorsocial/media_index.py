"""The media each account has in this run's window, listed once and shared by the streams that need media ids.

`media` fills it as it syncs; `media_insights` and `comments` read it, so `/media` is walked once per run. When the
`media` stream is not selected, the first reader lists the window itself with the few fields the others need.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class MediaRef:
    """What other streams need to know about one media object."""

    id: str
    account_id: str
    media_type: str
    media_product_type: str
    timestamp: dt.datetime
    comments_count: int | None = None


MEDIA_REF_FIELDS = "id,media_type,media_product_type,timestamp,comments_count"


def covers(start: dt.datetime | None, wanted: dt.datetime | None) -> bool:
    """Whether media listed from `start` on include every media from `wanted` on (None = from the first post)."""
    return start is None or (wanted is not None and start <= wanted)


class MediaIndex:
    """Media refs per account for this run, with the window each list covers (thread-safe)."""

    def __init__(self) -> None:
        self._refs: dict[str, list[MediaRef]] = {}
        self._starts: dict[str, dt.datetime | None] = {}
        self._lock = threading.Lock()

    def record(self, account_id: str, refs: list[MediaRef], start: dt.datetime | None = None) -> None:
        """Store the complete list for one account from `start` on (called once the account's media are all read)."""
        with self._lock:
            self._refs[account_id] = list(refs)
            self._starts[account_id] = start

    def refs(self, account_id: str, lister: Callable[[str], list[MediaRef]]) -> list[MediaRef]:
        """The account's media in the run window, listing them with `lister` if `media` did not."""
        with self._lock:
            known = self._refs.get(account_id)
        if known is None:
            known = lister(account_id)
            self.record(account_id, known)
        return known

    def covering(
        self, account_id: str, start: dt.datetime | None, lister: Callable[[dt.datetime | None], list[MediaRef]]
    ) -> list[MediaRef]:
        """The account's media from `start` on: from the index when its list reaches back that far, else listed
        with `lister(start)` (and kept when it reaches further back than what the index held)."""
        with self._lock:
            known = self._refs.get(account_id)
            known_start = self._starts.get(account_id)
        if known is None or not covers(known_start, start):
            listed = lister(start)
            if known is None or covers(start, known_start):
                self.record(account_id, listed, start)
            known = listed
        return [ref for ref in known if start is None or ref.timestamp >= start]

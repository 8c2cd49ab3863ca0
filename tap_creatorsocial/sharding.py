"""`account_shard`: split the creators between N independent runs, deterministically, each account in exactly one.

An account belongs to shard `k` of `n` when `sha256(account_id) mod n == k - 1`. The hash depends on nothing but the
id (not on discovery order, the set of connected creators, the machine or the Python hash seed), so N jobs started
by an orchestrator with `k/n` for k = 1..n cover every account exactly once, and an account stays in its shard from
run to run, which keeps each shard's Singer state (its bookmarks) valid.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

SHARD_PATTERN = re.compile(r"^\s*([0-9]+)\s*/\s*([0-9]+)\s*$")
SHARD_HINT = 'use "k/n" with 1 <= k <= n, e.g. "2/8" for the second of 8 jobs (or leave it empty for all accounts)'


@dataclass(frozen=True)
class Shard:
    """Shard `index` (1-based) of `count`."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def contains(self, account_id: str) -> bool:
        return shard_of(account_id, self.count) == self.index


def shard_of(account_id: str, count: int) -> int:
    """The 1-based shard an account id falls in when the accounts are split `count` ways."""
    digest = hashlib.sha256(str(account_id).encode()).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def parse_shard(value: object) -> Shard | None:
    """`"k/n"` as a Shard; None/"" means no sharding. Raises ValueError naming the setting and the fix."""
    if value is None or str(value).strip() == "":
        return None
    match = SHARD_PATTERN.match(str(value))
    index, count = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    if not match or count < 1 or not 1 <= index <= count:
        raise ValueError(f"Setting `account_shard` is {str(value)!r}, which is not a shard. Fix: {SHARD_HINT}.")
    return Shard(index, count)

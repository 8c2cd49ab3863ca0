"""Accounts read at once (`max_workers`): records still come out in partition order from one writer, and the
Singer output and state are exactly those of a one-at-a-time run."""

from __future__ import annotations

import threading
import time
import typing as t

import pytest

from tap_creatorsocial.account_pool import CHUNK, AccountPool
from tests.helpers import run_tap


class Reader:
    """`read(key)` yields `key:0..n-1` slowly, recording how many keys are read at once."""

    def __init__(self, n: int = 3, delay: float = 0.02, fail: str | None = None) -> None:
        self.n, self.delay, self.fail = n, delay, fail
        self.active = 0
        self.peak = 0
        self.produced: dict[str, int] = {}
        self.lock = threading.Lock()

    def __call__(self, key: str) -> t.Iterator[str]:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            for i in range(self.n):
                time.sleep(self.delay)
                if key == self.fail and i == 1:
                    raise ValueError(f"{key} broke")
                with self.lock:
                    self.produced[key] = i + 1
                yield f"{key}:{i}"
        finally:
            with self.lock:
                self.active -= 1


def test_records_in_partition_order_with_bounded_concurrency() -> None:
    reader = Reader(n=3, delay=0.05)
    keys = [f"a{i}" for i in range(8)]
    started = time.monotonic()
    pool = AccountPool(keys, reader, workers=4)
    out = [record for key in keys for record in pool.records(key)]
    elapsed = time.monotonic() - started
    assert out == [f"{key}:{i}" for key in keys for i in range(3)]
    assert reader.peak == 4
    assert elapsed < 8 * 3 * 0.05 * 0.6  # well under one account after another (1.2 s)


def test_an_account_failure_surfaces_after_its_earlier_records_and_others_go_on() -> None:
    reader = Reader(n=3, fail="b")
    pool = AccountPool(["a", "b", "c"], reader, workers=3)
    assert list(pool.records("a")) == ["a:0", "a:1", "a:2"]
    records = pool.records("b")
    assert next(records) == "b:0"
    with pytest.raises(ValueError, match="b broke"):
        next(records)
    assert list(pool.records("c")) == ["c:0", "c:1", "c:2"]


def test_readers_stay_a_bounded_distance_ahead_and_close_stops_them() -> None:
    reader = Reader(n=CHUNK * 50, delay=0)
    pool = AccountPool(["a", "b"], reader, workers=2, buffer=2)
    first = next(iter(pool.records("a")))
    time.sleep(0.3)  # let the readers run into their full buffers
    assert first == "a:0"
    # buffer (2 chunks) + the chunk being handed over + the one being filled, and the writer's chunk
    assert reader.produced["a"] <= 5 * CHUNK
    assert reader.produced["b"] <= 4 * CHUNK
    pool.close()
    time.sleep(0.5)
    assert not any(thread.is_alive() for thread in pool._threads)


def _without_times(records: dict[str, list[dict[str, t.Any]]]) -> dict[str, list[dict[str, t.Any]]]:
    return {s: [{k: v for k, v in r.items() if k != "extracted_at"} for r in rows] for s, rows in records.items()}


def test_concurrent_run_writes_exactly_what_a_sequential_run_writes() -> None:
    """Same records in the same order, same final state, with 1 and 8 accounts read at once."""
    options = {"accounts": 6, "media": 30, "stories": 2, "now": "2026-11-20T12:00:00Z"}
    base = {"sandbox": True, "sandbox_options": options, "start_date": "2026-09-20T00:00:00Z"}
    sequential, state_1 = run_tap({**base, "max_workers": 1})
    concurrent, state_8 = run_tap({**base, "max_workers": 8})
    assert _without_times(concurrent) == _without_times(sequential)
    assert sum(len(rows) for rows in concurrent.values()) > 5000
    assert state_8 == state_1

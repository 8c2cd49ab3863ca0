"""Several accounts of one stream read at once, their records written in partition order by one thread.

singer-sdk syncs a stream's partitions (one per account) one after another on one thread, which writes every
message and updates the state. The pool keeps that: only each account's reading (its Graph calls, and turning the
answers into records) runs ahead on worker threads, at most `workers` accounts at a time, in partition order. The
writer thread takes each account's records in turn, and an exception an account's reading raised surfaces on the
writer thread when it reaches that point, where the stream's per-account error handling runs as before.

Each account buffers at most `buffer` chunks of records, so memory stays bounded however far the workers get ahead.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

CHUNK = 200  # records per hand-over between threads (one queue operation per chunk, not per record)


@dataclass(frozen=True)
class _Failed:
    error: BaseException


_END = object()


class AccountPool(Generic[T]):
    """Runs `read(key)` for each key on up to `workers` daemon threads, started in the order given."""

    def __init__(self, keys: list[str], read: Callable[[str], Iterable[T]], *, workers: int, buffer: int = 8) -> None:
        self._read = read
        self._outputs: dict[str, queue.Queue[object]] = {key: queue.Queue(maxsize=buffer) for key in keys}
        self._tasks: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._stopped = threading.Event()
        for key in keys:  # FIFO: the account the writer waits for is always started before later ones
            self._tasks.put(key)
        count = max(1, min(workers, len(keys)))
        for _ in range(count):
            self._tasks.put(None)
        self._threads = [
            threading.Thread(target=self._work, name=f"account-reader-{i}", daemon=True) for i in range(count)
        ]
        for thread in self._threads:
            thread.start()

    def __contains__(self, key: str) -> bool:
        return key in self._outputs

    def records(self, key: str) -> Iterator[T]:
        """The records `read(key)` produced, in order; re-raises its exception where it stopped."""
        output = self._outputs[key]
        while True:
            item = output.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield from item  # type: ignore[misc]  # a chunk: list[T]

    def close(self) -> None:
        """Stop reading ahead (the run stopped): workers finish their current call and exit."""
        self._stopped.set()

    def _work(self) -> None:
        while (key := self._tasks.get()) is not None:
            output = self._outputs[key]
            chunk: list[T] = []
            try:
                for record in self._read(key):
                    chunk.append(record)
                    if len(chunk) >= CHUNK:
                        if not self._put(output, chunk):
                            return
                        chunk = []
                if chunk and not self._put(output, chunk):
                    return
                end: object = _END
            except BaseException as exc:  # handed to the writer thread, which handles or raises it
                end = _Failed(exc)
                if chunk and not self._put(output, chunk):
                    return
            if not self._put(output, end):
                return

    def _put(self, output: queue.Queue[object], item: object) -> bool:
        """Hand `item` to the writer, waiting while the account's buffer is full; False once the pool is closed."""
        while not self._stopped.is_set():
            try:
                output.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

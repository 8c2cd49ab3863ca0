"""Look-ahead throttling from Meta's usage headers (graph-api.md §6c), per Instagram account and for the app.

Meta reports usage as percentages on every response (`X-App-Usage`, `X-Business-Use-Case-Usage`) and throttles at
100%. The limiter slows an account down as its usage approaches 100%, honours `estimated_time_to_regain_access`
after a throttling error, and never waits longer than `max_wait`: past that the account is deferred to the next run.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

APP = "__app__"  # usage key of the app-level (platform) limit

# Usage at which slowing down starts, and the pause at 100% (as a share of max_wait, capped by MAX_USAGE_PAUSE).
SLOWDOWN_FROM_PERCENT = 80.0
MAX_USAGE_PAUSE = 30.0


class AccountDeferred(Exception):
    """An account cannot be finished in this run (rate-limited too long, or Meta kept failing): it is left for the
    next run, which starts from the bookmarks this run did not advance."""

    def __init__(self, account_id: str, wait_seconds: float = 0.0, reason: str | None = None) -> None:
        super().__init__(
            reason
            or f"account {account_id} is rate-limited for about {max(wait_seconds / 60, 1):.0f} min, longer than "
            f"`max_rate_limit_wait` ({wait_seconds:.0f}s needed); deferred to the next run"
        )
        self.account_id = account_id
        self.wait_seconds = wait_seconds


@dataclass
class _Usage:
    percent: float = 0.0
    blocked_until: float = 0.0
    throttle_count: int = 0


def _percent(entry: Mapping[str, Any]) -> float:
    keys = ("call_count", "total_time", "total_cputime")
    return max((float(entry.get(k) or 0) for k in keys), default=0.0)


def parse_usage_headers(headers: Mapping[str, str]) -> tuple[float | None, dict[str, tuple[float, float]]]:
    """(app usage %, {object id: (usage %, minutes to regain access)}) from a response's headers; bad JSON ignored."""
    app: float | None = None
    objects: dict[str, tuple[float, float]] = {}
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        if "x-app-usage" in lowered:
            app = _percent(json.loads(lowered["x-app-usage"]))
    except (ValueError, TypeError, AttributeError):
        app = None
    try:
        buc = json.loads(lowered.get("x-business-use-case-usage") or "{}")
        for object_id, entries in buc.items():
            usage = max((_percent(e) for e in entries), default=0.0)
            regain = max((float(e.get("estimated_time_to_regain_access") or 0) for e in entries), default=0.0)
            objects[str(object_id)] = (usage, regain)
    except (ValueError, TypeError, AttributeError):
        pass
    return app, objects


@dataclass
class RateLimiter:
    """Usage per account (and the app) seen on responses, and the pauses that keep calls under the limits."""

    max_wait: float = 600.0
    base_pause: float = 5.0  # with no regain estimate, a throttled account waits this long (doubling per repeat)
    max_usage_pause: float = MAX_USAGE_PAUSE  # the pause before each call at 100% usage (scaled down in tests)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    #: pauses taken before calls this run and their total length (for the run summary and tests)
    pauses: int = 0
    paused_seconds: float = 0.0
    _usage: dict[str, _Usage] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _get(self, key: str) -> _Usage:
        return self._usage.setdefault(key, _Usage())

    def pause_for(self, account_id: str | None) -> float:
        """Seconds to wait before the next call for this account; raises `AccountDeferred` past `max_wait`."""
        now = self.clock()
        with self._lock:
            keys = [APP] + ([account_id] if account_id else [])
            blocked = max(self._get(k).blocked_until for k in keys) - now
            usage = max(self._get(k).percent for k in keys)
        if blocked > self.max_wait and account_id:
            raise AccountDeferred(account_id, blocked)
        slowdown = 0.0
        if usage >= SLOWDOWN_FROM_PERCENT:
            share = min(1.0, (usage - SLOWDOWN_FROM_PERCENT) / (100.0 - SLOWDOWN_FROM_PERCENT))
            slowdown = share**2 * min(self.max_usage_pause, self.max_wait)
        pause = max(blocked, slowdown, 0.0)
        return pause if account_id else min(pause, self.max_wait)  # no account to defer: wait at most max_wait

    def before_call(self, account_id: str | None) -> None:
        """Wait as long as the account's (and the app's) usage asks; raises `AccountDeferred` past `max_wait`."""
        pause = self.pause_for(account_id)
        if pause > 0:
            with self._lock:
                self.pauses += 1
                self.paused_seconds += pause
            self.sleep(pause)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Record the usage a response reports."""
        app, objects = parse_usage_headers(headers)
        now = self.clock()
        with self._lock:
            if app is not None:
                self._get(APP).percent = app
            for object_id, (usage, regain_minutes) in objects.items():
                entry = self._get(object_id)
                entry.percent = usage
                if regain_minutes > 0:
                    entry.blocked_until = max(entry.blocked_until, now + regain_minutes * 60)

    def throttled(self, account_id: str | None, headers: Mapping[str, str], app_level: bool) -> None:
        """A throttling error: block the account (or the app) until Meta's estimate, or a growing default pause."""
        self.observe(headers)
        now = self.clock()
        key = account_id if account_id and not app_level else APP
        with self._lock:
            entry = self._get(key)
            entry.throttle_count += 1
            if entry.blocked_until <= now:
                entry.blocked_until = now + self.base_pause * 2 ** (entry.throttle_count - 1)
            wait = entry.blocked_until - now
        if wait > self.max_wait and account_id:
            raise AccountDeferred(account_id, wait)

    def succeeded(self, account_id: str | None) -> None:
        """A call went through: the next throttle without an estimate starts again from `base_pause`."""
        with self._lock:
            for key in (APP, account_id) if account_id else (APP,):
                entry = self._usage.get(key)
                if entry is not None:
                    entry.throttle_count = 0

    def usage(self, account_id: str) -> float:
        with self._lock:
            return self._get(account_id).percent

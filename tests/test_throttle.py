"""Look-ahead throttling: usage headers slow an account down, regain estimates are honoured, long waits defer."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pytest
import requests

from tap_creatorsocial.graph import GraphClient, RetriesExhaustedError
from tap_creatorsocial.throttle import AccountDeferred, RateLimiter, parse_usage_headers

ACCOUNT = "17841400000000001"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def buc(percent: int, regain_minutes: int = 0, account: str = ACCOUNT) -> dict[str, str]:
    entry = {
        "type": "instagram",
        "call_count": percent,
        "total_cputime": 1,
        "total_time": 1,
        "estimated_time_to_regain_access": regain_minutes,
    }
    return {"X-Business-Use-Case-Usage": json.dumps({account: [entry]})}


def limiter(max_wait: float = 600.0) -> tuple[RateLimiter, FakeClock]:
    clock = FakeClock()
    return RateLimiter(max_wait=max_wait, clock=clock, sleep=clock.sleep), clock


def test_parse_usage_headers_reads_both_headers_case_insensitively() -> None:
    app, objects = parse_usage_headers(
        {"x-app-usage": '{"call_count":28,"total_time":45,"total_cputime":25}', **buc(91, 3)}
    )
    assert app == 45
    assert objects == {ACCOUNT: (91, 3)}
    assert parse_usage_headers({"X-App-Usage": "not json"}) == (None, {})


def test_no_pause_under_80_percent_and_growing_pause_towards_100() -> None:
    rl, _ = limiter()
    rl.observe(buc(50))
    assert rl.pause_for(ACCOUNT) == 0
    rl.observe(buc(90))
    at_90 = rl.pause_for(ACCOUNT)
    rl.observe(buc(99))
    at_99 = rl.pause_for(ACCOUNT)
    assert 0 < at_90 < at_99 <= 30
    assert rl.pause_for("17841400000000002") == 0  # other accounts are not slowed down


def test_app_usage_slows_every_account() -> None:
    rl, _ = limiter()
    rl.observe({"X-App-Usage": '{"call_count":95,"total_time":1,"total_cputime":1}'})
    assert rl.pause_for(ACCOUNT) > 0
    assert rl.pause_for("17841400000000002") > 0


def test_regain_estimate_is_honoured_then_released() -> None:
    rl, clock = limiter()
    rl.throttled(ACCOUNT, buc(100, regain_minutes=2), app_level=False)
    rl.before_call(ACCOUNT)
    assert clock.slept == [120.0]
    rl.observe(buc(10))
    assert rl.pause_for(ACCOUNT) == 0


def test_wait_longer_than_max_defers_the_account_only() -> None:
    rl, clock = limiter(max_wait=60)
    with pytest.raises(AccountDeferred, match="max_rate_limit_wait"):
        rl.throttled(ACCOUNT, buc(100, regain_minutes=5), app_level=False)
    with pytest.raises(AccountDeferred):
        rl.before_call(ACCOUNT)
    rl.before_call("17841400000000002")
    assert clock.slept == []


def test_without_estimate_pauses_double() -> None:
    rl, clock = limiter()
    rl.base_pause = 1.0
    for _ in range(3):
        rl.throttled(ACCOUNT, {}, app_level=False)
        rl.before_call(ACCOUNT)
    assert clock.slept == [1.0, 2.0, 4.0]


def test_a_call_that_goes_through_resets_the_doubling() -> None:
    rl, clock = limiter()
    rl.base_pause = 1.0
    rl.throttled(ACCOUNT, {}, app_level=False)
    rl.before_call(ACCOUNT)
    rl.succeeded(ACCOUNT)
    rl.throttled(ACCOUNT, {}, app_level=False)
    rl.before_call(ACCOUNT)
    assert clock.slept == [1.0, 1.0]
    assert (rl.pauses, rl.paused_seconds) == (2, 2.0)


def test_a_call_for_no_account_waits_at_most_max_wait() -> None:
    rl, clock = limiter(max_wait=60)
    rl.base_pause = 1000.0
    rl.throttled(None, {}, app_level=True)  # the app is blocked for 1000 s
    rl.before_call(None)  # discovery: no account to defer, so it waits the most it may
    assert clock.slept == [60.0]
    with pytest.raises(AccountDeferred):
        rl.before_call(ACCOUNT)  # an account call is deferred instead


# -- the HTTP layer: timeouts and bounded retries ------------------------------------------------------------------


class FlakyAdapter(requests.adapters.BaseAdapter):
    """Times out `failures` times, then answers 200 with a small JSON body; records each send's timeout."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.timeouts: list[Any] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.timeouts.append(kwargs.get("timeout"))
        if len(self.timeouts) <= self.failures:
            raise requests.exceptions.ReadTimeout("read timed out")
        response = requests.Response()
        response.status_code = 200
        response.raw = io.BytesIO(b'{"id": "1"}')
        response.request = request
        return response

    def close(self) -> None:
        """Nothing to release."""


def client(adapter: FlakyAdapter, **kwargs: Any) -> GraphClient:
    session = requests.Session()
    session.mount("https://", adapter)
    return GraphClient(session, api_version="v25.0", retry_base_seconds=0.001, **kwargs)


def test_timeouts_are_the_settings_and_are_retried() -> None:
    adapter = FlakyAdapter(failures=2)
    graph = client(adapter, timeout=(3.0, 7.0))
    assert graph.get("https://graph.facebook.com/v25.0/1", "token", account_id=ACCOUNT) == {"id": "1"}
    assert adapter.timeouts == [(3.0, 7.0)] * 3


def test_retries_are_bounded_then_the_account_is_deferred() -> None:
    adapter = FlakyAdapter(failures=100)
    graph = client(adapter, max_tries=4)
    with pytest.raises(AccountDeferred, match=r"after 4 tries .*read timed out.*deferred to the next run"):
        graph.get("https://graph.facebook.com/v25.0/1", "token", account_id=ACCOUNT)
    assert len(adapter.timeouts) == 4
    with pytest.raises(RetriesExhaustedError):  # a call for no account (discovery) fails as a Graph error instead
        graph.get("https://graph.facebook.com/v25.0/me", "token")


def test_retry_time_is_bounded() -> None:
    adapter = FlakyAdapter(failures=100)
    graph = client(adapter, max_tries=1000, max_retry_seconds=0.05)
    started = time.monotonic()
    with pytest.raises(AccountDeferred, match="max_retry_seconds"):
        graph.get("https://graph.facebook.com/v25.0/1", "token", account_id=ACCOUNT)
    assert time.monotonic() - started < 2
    assert len(adapter.timeouts) < 1000

"""Look-ahead throttling: usage headers slow an account down, regain estimates are honoured, long waits defer."""

from __future__ import annotations

import json

import pytest

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

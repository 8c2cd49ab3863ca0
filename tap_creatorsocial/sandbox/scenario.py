"""Fault scenarios: named knobs that make the emulator misbehave the way Meta does in production.

The tap's retry, backoff and re-auth paths are only trustworthy if they are exercised; each preset here turns one
documented failure mode on (rate-limit codes with ``estimated_time_to_regain_access``, high usage headers, transient
5xx / code 1 / code 2 errors, tokens dying mid-run, latency, truncated bodies, mandatory ``appsecret_proof``).
Randomness is seeded so a scenario replays identically.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

THROTTLE_CODES = (4, 17, 32, 613, 80002)


@dataclass
class Scenario:
    """Fault-injection settings for one emulator instance (all off by default)."""

    name: str = "default"
    # Rate limiting: after ``throttle_after`` counted API calls (per IG account for 80002, app-wide otherwise; only
    # calls for ``throttle_account`` when set) calls fail with ``throttle_code`` and the BUC header reports
    # ``throttle_minutes`` as estimated_time_to_regain_access. Access returns when that much clock time has passed or,
    # if ``throttle_failures`` is set, after that many rejected calls (so a client that backs off recovers in a test
    # without waiting real minutes); then the counter starts over.
    throttle_code: int | None = None
    throttle_after: int = 0
    throttle_minutes: int = 1
    throttle_account: str | None = None
    throttle_failures: int | None = None
    # Report usage headers at this percentage (e.g. 95) instead of the computed value.
    usage_percent: int | None = None
    # Fraction of API calls failing with a transient error (HTTP 500 code 1/2, or 400 with is_transient).
    transient_rate: float = 0.0
    # After this many API calls, tokens of ``token_dies_for`` (IG account id, FB user id or page id; None = all)
    # become invalid with 190/460.
    token_dies_after: int | None = None
    token_dies_for: str | None = None
    # Added latency per HTTP request, slept outside any lock.
    latency_ms: int = 0
    # Fraction of successful JSON responses whose body is cut off mid-document (HTTP 200).
    truncated_rate: float = 0.0
    require_appsecret_proof: bool = False
    # Instagram-Login code exchange answers the flat {"access_token","user_id","permissions":[...]} shape instead of
    # the documented {"data":[{...}]} wrapper (clients must handle both).
    ig_flat_token_response: bool = False
    seed: int = 7

    @classmethod
    def named(cls, name: str) -> Scenario:
        """A preset by name (see ``PRESETS``); unknown names raise ``KeyError`` listing the valid ones."""
        try:
            preset = PRESETS[name]
        except KeyError:
            raise KeyError(f"unknown scenario {name!r}; known: {', '.join(sorted(PRESETS))}") from None
        return replace(preset)

    @staticmethod
    def names() -> list[str]:
        """All preset names."""
        return sorted(PRESETS)


def _throttle(code: int) -> Scenario:
    return Scenario(
        name=f"throttle-{code}", throttle_code=code, throttle_after=20, throttle_minutes=1, throttle_failures=3
    )


PRESETS: dict[str, Scenario] = {
    "default": Scenario(),
    "throttle-4": _throttle(4),
    "throttle-17": _throttle(17),
    "throttle-32": _throttle(32),
    "throttle-613": _throttle(613),
    "throttle-80002": _throttle(80002),
    "usage-95": Scenario(name="usage-95", usage_percent=95),
    "transient-10pct": Scenario(name="transient-10pct", transient_rate=0.10),
    "token-dies": Scenario(name="token-dies", token_dies_after=15),
    "slow": Scenario(name="slow", latency_ms=250),
    "truncated": Scenario(name="truncated", truncated_rate=0.10),
    "appsecret-proof": Scenario(name="appsecret-proof", require_appsecret_proof=True),
    "ig-flat-token": Scenario(name="ig-flat-token", ig_flat_token_response=True),
}

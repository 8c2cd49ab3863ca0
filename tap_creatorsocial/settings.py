"""The tap's settings: their JSON schema (the public interface) and checks that turn bad input into a clear fix.

singer-sdk validates config against the schema but reports raw jsonschema messages (which may echo a secret value);
`config_errors` reports every problem as "setting `name`: what is wrong. Fix: what to do" and never prints a secret.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft7Validator
from singer_sdk import typing as th

from tap_creatorsocial.catalog.metrics import (
    ACCOUNT_METRICS,
    ALL_ACCOUNT_BREAKDOWNS,
    ALL_ACCOUNT_METRIC_NAMES,
    MEDIA_METRICS,
)
from tap_creatorsocial.catalog.versions import DEFAULT_API_VERSION, SUPPORTED_VERSIONS, parse_api_version
from tap_creatorsocial.sharding import SHARD_HINT, parse_shard

# The two Graph hosts; with both at their defaults and `sandbox: true`, the sandbox runs in-process.
DEFAULT_URLS = {"graph_api_url": "https://graph.facebook.com", "instagram_api_url": "https://graph.instagram.com"}
SECRET_SETTINGS = frozenset({"access_token", "client_secret"})
IG_USER_ID = re.compile(r"^[0-9]{5,20}$")
_CURRENT_ACCOUNT_METRICS = ", ".join(m.name for m in ACCOUNT_METRICS if not m.retired)
_BREAKDOWN_METRICS = " and ".join(
    f"`{m.name}` by `{m.breakdown}` ({', '.join(sorted(m.product_types))})" for m in MEDIA_METRICS if m.breakdown
)
_SHARE_METRICS = " and ".join(f"`{m.name}`" for m in MEDIA_METRICS if m.needs_facebook_share)

CONFIG_SCHEMA: dict[str, Any] = th.PropertiesList(
    th.Property(
        "access_token",
        th.StringType,
        secret=True,
        title="Access token",
        description="A Facebook Login user token or an Instagram Login user token (see `auth_provider`). "
        "Not needed with `sandbox: true`.",
    ),
    th.Property(
        "auth_provider",
        th.StringType,
        default="facebook",
        allowed_values=["facebook", "instagram"],
        title="Auth provider",
        description="Which login `access_token` comes from: `facebook` (Instagram API with Facebook Login, "
        "graph.facebook.com) or `instagram` (Instagram API with Instagram Login, graph.instagram.com).",
    ),
    th.Property("client_id", th.StringType, title="Client ID", description="The Meta app id."),
    th.Property(
        "client_secret",
        th.StringType,
        secret=True,
        title="Client secret",
        description="The Meta app secret. When set, every Graph call carries `appsecret_proof`.",
    ),
    th.Property(
        "initiate_oauth",
        th.StringType,
        default="GETANDREFRESH",
        allowed_values=["OFF", "GETANDREFRESH", "REFRESH"],
        title="Initiate OAuth",
        description="How creators' tokens are obtained when `access_token` is empty: `GETANDREFRESH` (log a creator "
        "in through the browser when the OAuth store has none and a terminal is attached, renew tokens before they "
        "expire, persist them), `REFRESH` (never ask anyone to log in; only renew what is stored) or `OFF` (use "
        "`access_token` as given). Connect creators with `tap-creatorsocial-auth login`.",
    ),
    th.Property(
        "oauth_settings_location",
        th.StringType,
        title="OAuth settings location",
        description="The OAuth store holding every connected creator's tokens: a file path (default: "
        "`oauth.json` in the user's config directory, e.g. ~/.config/tap-creatorsocial/oauth.json) or "
        "`memory://` (nothing persisted). Written atomically with mode 0600; shared by concurrent runs.",
    ),
    th.Property(
        "callback_url",
        th.StringType,
        default="http://localhost:33333/callback",
        title="Callback URL",
        description="The OAuth redirect URI (must be listed in the Meta app's Valid OAuth Redirect URIs); "
        "`tap-creatorsocial-auth login` serves it on this machine to receive the login.",
    ),
    th.Property(
        "on_auth_error",
        th.StringType,
        default="skip",
        allowed_values=["skip", "fail"],
        title="On auth error",
        description="When a stored creator connection needs reconnecting: `skip` its accounts and report them in "
        "the run summary, or `fail` the run.",
    ),
    th.Property(
        "account_ids",
        th.ArrayType(th.StringType),
        title="Account IDs",
        description="Instagram professional account ids (IG user ids, `17841…`) to extract. Default: every account "
        "the tokens can see.",
    ),
    th.Property(
        "account_shard",
        th.StringType,
        title="Account shard",
        description="Run only shard `k` of `n` (e.g. `2/8`) of the accounts (after `account_ids`), so `n` jobs "
        "together cover every account exactly once: an account is in shard `sha256(account_id) mod n + 1`. Give "
        "each shard its own state, e.g. `meltano run --state-id-suffix shard-2-of-8`. Default: all accounts.",
    ),
    th.Property(
        "start_date",
        th.DateTimeType,
        title="Start date",
        description="Earliest media timestamp and account-insights date to extract (ISO-8601). "
        "Default: everything the API serves.",
    ),
    th.Property(
        "api_version",
        th.StringType,
        default=DEFAULT_API_VERSION,
        title="Graph API version",
        description=f"Graph API version to call; the tap requests only metrics valid on it. "
        f"Known: {', '.join(f'v{v}.0' for v in SUPPORTED_VERSIONS)}.",
    ),
    th.Property(
        "graph_api_url",
        th.URIType,
        default="https://graph.facebook.com",
        title="Graph API URL",
        description="Base URL of the Facebook Login host (change only to point at a sandbox or a proxy).",
    ),
    th.Property(
        "instagram_api_url",
        th.URIType,
        default="https://graph.instagram.com",
        title="Instagram API URL",
        description="Base URL of the Instagram Login host (change only to point at a sandbox or a proxy).",
    ),
    th.Property(
        "sandbox",
        th.BooleanType,
        default=False,
        title="Sandbox",
        description="Run against the built-in Graph API emulator with seeded demo creators; no credentials needed. "
        "With the default URLs it runs in-process; pointed at a `tap-creatorsocial-sandbox serve` it uses that.",
    ),
    th.Property(
        "sandbox_options",
        th.ObjectType(
            th.Property("seed", th.IntegerType, description="Dataset seed."),
            th.Property("accounts", th.IntegerType, description="Number of creator accounts."),
            th.Property("media", th.IntegerType, description="Media per account."),
            th.Property("stories", th.IntegerType, description="Live stories per account."),
            th.Property("scenario", th.StringType, description="Named fault scenario, e.g. `throttle-80002`."),
            th.Property("now", th.DateTimeType, description="The sandbox clock (default: now, floored to the hour)."),
            th.Property("throttle_after", th.IntegerType, description="Scenario knob: calls before throttling."),
            th.Property(
                "throttle_minutes", th.IntegerType, description="Scenario knob: estimated_time_to_regain_access."
            ),
            th.Property("throttle_account", th.StringType, description="Scenario knob: throttle only this account."),
            th.Property("latency_ms", th.IntegerType, description="Scenario knob: added latency per request."),
        ),
        title="Sandbox options",
        description="Size and fault knobs of the in-process sandbox dataset (only with `sandbox: true`).",
    ),
    th.Property(
        "insights_lookback_days",
        th.IntegerType,
        default=30,
        title="Insights lookback (days)",
        description="Media posted within this many days are re-read on every run (their counts keep changing for "
        "weeks), together with their insights; older media and insights are read once. 0 = only new media.",
    ),
    th.Property(
        "account_insights_lookback_days",
        th.IntegerType,
        default=3,
        title="Account insights lookback (days)",
        description="Days of `account_insights` (and `online_followers`) already extracted that each run reads "
        "again, because Meta revises recent days (data can be 48 h late). 0 = only new days.",
    ),
    th.Property(
        "media_insight_breakdowns",
        th.BooleanType,
        default=True,
        title="Media insight breakdowns",
        description=f"Read {_BREAKDOWN_METRICS}. Meta refuses a breakdown on any other metric, so each costs one "
        "more `/{media-id}/insights` API call per object: 2 calls per FEED media and 3 per story instead of 1. "
        "false: no breakdown calls; both metrics still arrive as totals in the object's main call.",
    ),
    th.Property(
        "facebook_share_metrics",
        th.BooleanType,
        default=False,
        title="Facebook share metrics",
        description=f"Also request {_SHARE_METRICS}. Meta refuses them for media not shared to Facebook (and a "
        "refusal fails the whole call), and says nowhere which media were shared, so each is probed in its own call, "
        "shared or not: 1 extra API call per FEED media and story, 2 per reel. Off by default: with Facebook Login, "
        "`total_views` already includes cross-posted views in aggregate.",
    ),
    th.Property(
        "account_insight_metrics",
        th.ArrayType(th.StringType),
        title="Account insight metrics",
        description='Daily metrics the `account_insights` stream requests, e.g. `["reach", "follower_count"]` '
        "(not `audience` or `online_followers`). Default: every metric the tap requests on `api_version`. A metric "
        "not served on that version is skipped with a warning. Cost: metrics Meta serves only as `total_value` "
        "(views, likes, …) need a one-day call per account per day; when none is selected, the rest (reach, "
        "follower_count) come as `time_series` over 30-day windows: about 3 calls per account for 90 days "
        f"instead of 90+. Known: {_CURRENT_ACCOUNT_METRICS}.",
    ),
    th.Property(
        "account_insight_breakdowns",
        th.ArrayType(th.StringType),
        title="Account insight breakdowns",
        description=f"Breakdowns of `account_insights` to read ({', '.join(ALL_ACCOUNT_BREAKDOWNS)}). Meta serves "
        "a breakdown only as a one-day `total_value`, so each costs one API call per account per day, with the "
        "selected metrics that support it. Default: every breakdown the selected metrics support; `[]` = none "
        "(totals only).",
    ),
    th.Property(
        "request_timeout",
        th.NumberType,
        default=60,
        title="Request timeout (s)",
        description="Read timeout of each Graph API request, in seconds; a request that times out is retried.",
    ),
    th.Property(
        "connect_timeout",
        th.NumberType,
        default=10,
        title="Connect timeout (s)",
        description="Seconds to wait for a connection to Meta; a failed connection is retried.",
    ),
    th.Property(
        "max_retries",
        th.IntegerType,
        default=5,
        title="Max retries",
        description="Retries of a request that failed transiently (HTTP 5xx/429, codes 1/2, `is_transient`, "
        "timeouts, resets, cut-off bodies) before the account is deferred to the next run.",
    ),
    th.Property(
        "max_retry_seconds",
        th.NumberType,
        default=300,
        title="Max retry time (s)",
        description="Longest time one request may spend in retries (backoff doubles from 1 s, with jitter) before "
        "the account is deferred to the next run.",
    ),
    th.Property(
        "max_workers",
        th.IntegerType,
        default=8,
        title="Max workers",
        description="Accounts read at once (each stream's accounts run on this many worker threads; one thread "
        "writes the Singer messages and state, in account order), and requests in flight at once for one account's "
        "objects: batch requests (Facebook Login) or single calls where batch is not available (Instagram Login). "
        "1 reads one account and one request at a time. Throttling still paces every request.",
    ),
    th.Property(
        "max_rate_limit_wait",
        th.NumberType,
        default=600,
        title="Max rate-limit wait (s)",
        description="Longest the tap waits for a rate-limited account (Meta's estimated_time_to_regain_access, or "
        "usage near 100%). An account that would need longer is deferred to the next run with a message, and the "
        "other accounts are finished.",
    ),
    th.Property(
        "fail_on_skipped_accounts",
        th.BooleanType,
        default=False,
        title="Fail on skipped accounts",
        description="Exit with status 3 (after finishing every other account and emitting their state) when an "
        "account was deferred or needs a reconnect. Off by default: under `meltano run` any non-zero exit fails "
        "the run (Meltano keeps the state, but skips later blocks such as dbt).",
    ),
    th.Property(
        "retry_base_seconds",
        th.NumberType,
        default=1,
        title="Retry base (s)",
        description="For tests and the sandbox: the first backoff pause; throttle and usage pauses scale with it. "
        "Leave at 1 in production.",
    ),
    th.Property(
        "page_size",
        th.IntegerType,
        default=100,
        title="Page size",
        description="Items per page for edges that page (`/media`, `/stories`, `/tags`); Meta caps it at 100 "
        "(comments at 50).",
    ),
).to_dict()

_HINTS: dict[str, str] = {
    "access_token": "set it to a user token from Facebook Login or Instagram Login (or set `sandbox: true`)",
    "auth_provider": "use `facebook` or `instagram`",
    "initiate_oauth": "use OFF, GETANDREFRESH or REFRESH",
    "oauth_settings_location": "use a file path, or memory:// to keep nothing",
    "callback_url": "use a redirect URI registered in the Meta app, e.g. http://localhost:33333/callback",
    "on_auth_error": "use `skip` or `fail`",
    "account_ids": 'give a list of IG user ids as strings, e.g. ["17841400000000001"]',
    "account_shard": SHARD_HINT,
    "start_date": "use an ISO-8601 date-time such as 2025-01-01T00:00:00Z",
    "api_version": f"use one of {', '.join(f'v{v}.0' for v in SUPPORTED_VERSIONS)}",
    "graph_api_url": "use an http(s) URL such as https://graph.facebook.com",
    "instagram_api_url": "use an http(s) URL such as https://graph.instagram.com",
    "sandbox": "use true or false",
    "page_size": "use an integer from 1 to 100",
    "account_insights_lookback_days": "use a whole number of days from 0 to 30, e.g. 3",
    "insights_lookback_days": "use a whole number of days from 0 to 730, e.g. 30",
    "media_insight_breakdowns": "use true or false",
    "facebook_share_metrics": "use true or false",
    "account_insight_metrics": 'give a list of metric names, e.g. ["reach", "follower_count"], or leave it unset '
    "for every metric",
    "account_insight_breakdowns": f"give a list of breakdowns from {', '.join(ALL_ACCOUNT_BREAKDOWNS)}, [] for "
    "none, or leave it unset for every supported one",
    "request_timeout": "use a number of seconds above 0 and at most 600, e.g. 60",
    "connect_timeout": "use a number of seconds above 0 and at most 120, e.g. 10",
    "max_retries": "use a whole number from 0 to 20, e.g. 5",
    "max_retry_seconds": "use a number of seconds from 0 to 3600, e.g. 300",
    "max_rate_limit_wait": "use a number of seconds from 0 to 86400, e.g. 600",
    "max_workers": "use a whole number from 1 to 32, e.g. 8",
    "fail_on_skipped_accounts": "use true or false",
    "retry_base_seconds": "use a number of seconds from 0 to 60 (leave 1 in production)",
}

#: numeric settings and their inclusive (low, high) bounds; a low of 0 excluded where a zero would make no sense
_RANGES: dict[str, tuple[float, float, bool]] = {
    "request_timeout": (0, 600, False),
    "connect_timeout": (0, 120, False),
    "max_retries": (0, 20, True),
    "max_retry_seconds": (0, 3600, True),
    "max_rate_limit_wait": (0, 86400, True),
    "max_workers": (1, 32, True),
    "retry_base_seconds": (0, 60, True),
}


def _setting_name(path: Any) -> str:
    return ".".join(str(p) for p in path) or "(config)"


def config_errors(config: Mapping[str, Any]) -> list[str]:
    """Every problem in `config`, one line each, naming the setting and the fix (never echoing a secret)."""
    errors: list[str] = []
    for error in sorted(Draft7Validator(CONFIG_SCHEMA).iter_errors(dict(config)), key=lambda e: list(e.path)):
        name = _setting_name(error.path)
        top = str(error.path[0]) if error.path else ""
        problem = "has the wrong type or value" if top in SECRET_SETTINGS else error.message
        hint = _HINTS.get(top, "see `tap-creatorsocial --about`")
        errors.append(f"Setting `{name}` {problem}. Fix: {hint}.")
    if errors:
        return errors

    if "api_version" in config:
        try:
            parse_api_version(str(config["api_version"]))
        except ValueError as exc:
            errors.append(str(exc))
    for account_id in config.get("account_ids") or []:
        if not IG_USER_ID.match(str(account_id)):
            errors.append(
                f"Setting `account_ids` has {account_id!r}, which is not an Instagram user id. "
                f"Fix: {_HINTS['account_ids']}."
            )
    try:
        parse_shard(config.get("account_shard"))
    except ValueError as exc:
        errors.append(str(exc))
    if config.get("start_date"):
        try:
            dt.datetime.fromisoformat(str(config["start_date"]).replace("Z", "+00:00"))
        except ValueError:
            errors.append(f"Setting `start_date` is not an ISO-8601 date-time. Fix: {_HINTS['start_date']}.")
    account_lookback = config.get("account_insights_lookback_days", 3)
    if not 0 <= int(account_lookback) <= 30:  # more than one 30-day window is never needed to catch up revisions
        fix = _HINTS["account_insights_lookback_days"]
        errors.append(f"Setting `account_insights_lookback_days` is {account_lookback}. Fix: {fix}.")
    page_size = config.get("page_size", 100)
    if not 1 <= int(page_size) <= 100:
        errors.append(f"Setting `page_size` is {page_size}. Fix: {_HINTS['page_size']}.")
    lookback = config.get("insights_lookback_days", 30)
    if not 0 <= int(lookback) <= 730:  # Meta keeps media insights for 2 years (graph-api.md §4a)
        errors.append(f"Setting `insights_lookback_days` is {lookback}. Fix: {_HINTS['insights_lookback_days']}.")
    for name, (low, high, low_ok) in _RANGES.items():
        value = config.get(name)
        if value is not None and not ((low <= value if low_ok else low < value) and value <= high):
            errors.append(f"Setting `{name}` is {value}. Fix: {_HINTS[name]}.")
    errors.extend(_insight_selection_errors(config))
    errors.extend(_credential_errors(config))
    return errors


def _insight_selection_errors(config: Mapping[str, Any]) -> list[str]:
    """`account_insight_metrics` / `account_insight_breakdowns` name things the metric catalog knows."""
    errors = []
    metrics = config.get("account_insight_metrics")
    if metrics is not None:
        unknown = [m for m in dict.fromkeys(metrics) if m not in ALL_ACCOUNT_METRIC_NAMES]
        if unknown:
            errors.append(
                f"Setting `account_insight_metrics` has unknown metric(s) {', '.join(map(repr, unknown))}. "
                f"Fix: use names from {', '.join(ALL_ACCOUNT_METRIC_NAMES)}, or leave it unset for every metric."
            )
        elif not metrics:
            errors.append(
                "Setting `account_insight_metrics` is empty, so `account_insights` would request nothing. Fix: leave "
                "it unset for every metric, list metric names, or deselect the `account_insights` stream."
            )
    breakdowns = config.get("account_insight_breakdowns")
    unknown = [b for b in dict.fromkeys(breakdowns or []) if b not in ALL_ACCOUNT_BREAKDOWNS]
    if unknown:
        errors.append(
            f"Setting `account_insight_breakdowns` has unknown breakdown(s) {', '.join(map(repr, unknown))}. "
            f"Fix: {_HINTS['account_insight_breakdowns']}."
        )
    return errors


def _credential_errors(config: Mapping[str, Any]) -> list[str]:
    """No credentials unless `access_token`, the sandbox, a usable OAuth store, or a way to log a creator in."""
    if config.get("sandbox") or config.get("access_token"):
        return []
    problem = "No credentials: setting `access_token` is empty and `sandbox` is false"
    fix = (
        "set `access_token` (e.g. `meltano config tap-creatorsocial set access_token …` or the "
        "TAP_CREATORSOCIAL_ACCESS_TOKEN environment variable), or set `sandbox: true` to try the demo data"
    )
    mode = str(config.get("initiate_oauth") or "GETANDREFRESH").upper()
    if mode == "OFF":
        return [
            f"{problem}. Fix: {fix}; or set `initiate_oauth` to GETANDREFRESH and connect creators with "
            "`tap-creatorsocial-auth login`."
        ]
    from tap_creatorsocial.oauth import OAuthStoreError, open_store, usable_connection_count

    try:
        if usable_connection_count(config):
            return []
    except OAuthStoreError as exc:
        return [str(exc)]
    if mode == "GETANDREFRESH" and config.get("client_id") and config.get("client_secret"):
        return []  # the run logs a creator in (with a terminal) or stops with the exact login command
    location = open_store(config.get("oauth_settings_location")).location
    return [
        f"{problem}, and the OAuth store {location} has no usable creator connection. Fix: connect creators with "
        "`tap-creatorsocial-auth login` (needs `client_id` and `client_secret`), or "
        f"{fix}."
    ]

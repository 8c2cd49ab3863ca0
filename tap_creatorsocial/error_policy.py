"""What to do about each Graph API error, as data (graph-api.md §5b, §5d, §10).

Every failure is classified once, here, into an `Action`; streams and the HTTP layer act on the action only.
"""

from __future__ import annotations

import enum
import re

import requests

from tap_creatorsocial.errors import GraphAPIError, TruncatedResponseError


class Action(enum.Enum):
    RETRY = "retry"  # transient or throttled: back off and try again
    SKIP_OBJECT = "skip_object"  # this media/story cannot give what we asked: log the reason, go on
    REJECTED_METRIC = "rejected_metric"  # a metric this object/version refuses: drop it, ask again without it
    RECONNECT = "reconnect"  # the token is dead: the creator must log in again; skip the connection's accounts
    PERMISSION = "permission"  # a scope is missing: skip what needs it for this account, name the scope
    FAIL = "fail"  # a bug in the request or an unknown failure: stop


# Codes retried with backoff: unknown/service errors, app/user/page/custom/BUC throttling (§5b, §5d).
RETRY_CODES = frozenset({1, 2, 4, 17, 32, 341, 368, 613, *range(80000, 80015)})
THROTTLE_CODES = frozenset({4, 17, 32, 341, 613, *range(80000, 80015)})
APP_LEVEL_THROTTLE_CODES = frozenset({4, 341})  # the app's own limit: every account waits
# (code, subcode) pairs that mean "this one object has no such data" (§5d).
SKIP_OBJECT = frozenset({(100, 2108006), (100, 33)})
# Code 10 messages that are about one object, not the account's permissions (§4a, §5d, §8).
OBJECT_LEVEL_10 = re.compile(
    r"not enough viewers|does not have permission for this action|not available for stories older",
    re.IGNORECASE,
)
REJECTED_METRIC = re.compile(
    r"does not support the (?P<metrics>[\w, ]+?) metric|metric\[\d+\] must be one of|"
    r"(?P<single>\w+) metric is no longer supported",
    re.IGNORECASE,
)
RECONNECT_CODES = frozenset({102, 190})
# Failures below the Graph layer, retried like a transient error: connect/read timeouts, connection resets, bodies
# cut off mid-document (graph-api.md §10).
RETRIABLE_TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    ConnectionResetError,
    TruncatedResponseError,
)

#: The taxonomy as the README prints it: (what Meta answers, action, what the tap does). `tests/test_error_policy.py`
#: checks a sample of each row against `classify`.
TAXONOMY: tuple[tuple[str, Action, str], ...] = (
    ("1, 2 (unknown / service), HTTP 5xx, HTTP 429, `is_transient: true`", Action.RETRY,
     "retry with jittered exponential backoff (`max_retries`, `max_retry_seconds`), then defer the account"),
    ("timeouts (`connect_timeout`, `request_timeout`), connection resets, truncated JSON bodies", Action.RETRY,
     "retried like a transient error"),
    ("4, 341 (app limit)", Action.RETRY,
     "throttle: every account waits (X-App-Usage); longer than `max_rate_limit_wait`: defer"),
    ("17, 32, 613, 80000-80014 (user / page / custom / BUC limits)", Action.RETRY,
     "throttle the account: wait `estimated_time_to_regain_access` (or a doubling pause); longer than "
     "`max_rate_limit_wait`: defer the account to the next run"),
    ("368 (temporarily blocked)", Action.RETRY, "retry with backoff, then defer"),
    ("100/2108006 (posted before business conversion), 100/33 (object gone), 10 `Not enough viewers`",
     Action.SKIP_OBJECT, "skip that media/story, log why, continue"),
    ("100 naming an unsupported metric", Action.REJECTED_METRIC,
     "drop the metric for the run (one warning), ask again without it"),
    ("190 (any subcode: 458-468, 492, 493), 102", Action.RECONNECT,
     "the connection is dead: skip all its accounts without another call, mark it `reconnect_needed` in the "
     "OAuth store and the `connections` stream"),
    ("10, 200-299 (permission)", Action.PERMISSION,
     "mark the account's stream, name the missing scope, continue with the rest"),
    ("anything else (e.g. 100 invalid parameter)", Action.FAIL, "a bug in the request: stop with the error"),
)


def classify(error: GraphAPIError) -> Action:
    """The action for one error response."""
    code, sub = error.code, error.subcode
    if error.status >= 500 or error.status == 429 or error.is_transient or code in RETRY_CODES:
        return Action.RETRY
    if code in RECONNECT_CODES:
        return Action.RECONNECT
    if (code, sub) in SKIP_OBJECT:
        return Action.SKIP_OBJECT
    if code == 10 and OBJECT_LEVEL_10.search(error.message):
        return Action.SKIP_OBJECT
    if code == 10 or (code is not None and 200 <= code <= 299):
        return Action.PERMISSION
    if code == 100 and REJECTED_METRIC.search(error.message):
        return Action.REJECTED_METRIC
    return Action.FAIL


_METRIC_POSITION = re.compile(r"metric\[(\d+)\] must be one of")


def rejected_metrics(error: GraphAPIError, requested: list[str]) -> list[str] | None:
    """The requested metrics an error rejects, or None when it does not say which (probe them one by one then).

    `metric[i] must be one of <accepted names>` names the culprit by position only: matching names in that message
    would pick the valid metrics it lists.
    """
    position = _METRIC_POSITION.search(error.message)
    if position is not None:
        index = int(position.group(1))
        return [requested[index]] if index < len(requested) else None
    named = [m for m in requested if re.search(rf"\b{re.escape(m)}\b", error.message)]
    if len(requested) == 1:
        return named or list(requested)
    return named or None


_SCOPE = re.compile(r"\b(instagram_[a-z_]+|pages_[a-z_]+|business_management|ads_read|ads_management)\b")


def missing_scope(error: GraphAPIError) -> str | None:
    """The permission a 10/200-299 error names, e.g. `instagram_manage_insights`."""
    match = _SCOPE.search(error.message)
    return match.group(1) if match else None

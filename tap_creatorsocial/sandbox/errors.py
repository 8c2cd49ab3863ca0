"""Graph API error objects and builders for every error body the sandbox serves.

Meta's clients key their retry / skip / fail decisions on ``code``, ``error_subcode``, ``type`` and ``is_transient``
(reference §5), so the emulator must reproduce those bodies exactly, not just "some 400". Each builder below returns a
``GraphError`` carrying the documented (or community-observed, marked UNCERTAIN) text. The API layer raises or returns
them and renders ``body()`` plus ``www_authenticate()``.

Host flavour: graph.instagram.com answers most errors with ``type: "IGApiException"`` (§5a). Builders produce the
graph.facebook.com flavour; call ``err.for_host(host)`` (or ``err.with_type(...)``) to adapt.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import itertools
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

PACIFIC = ZoneInfo("America/Los_Angeles")
IG_HOST = "graph.instagram.com"
RATE_LIMIT_DOC = "https://developers.facebook.com/docs/graph-api/overview/rate-limiting"
GRAPH_DOC = "https://developers.facebook.com/docs/graph-api"
USER_INSIGHTS_DOC = "https://developers.facebook.com/docs/instagram-api/reference/ig-user/insights"

_TRACE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
_trace_counter = itertools.count(1)


def _fbtrace_id(seed: str) -> str:
    """A real-looking 11-char trace id; deterministic per (error, sequence number) so runs are reproducible."""
    digest = hashlib.blake2b(f"{seed}|{next(_trace_counter)}".encode(), digest_size=11).digest()
    return "A" + "".join(_TRACE_ALPHABET[b % len(_TRACE_ALPHABET)] for b in digest[1:])


class GraphError(Exception):
    """One Graph API error: the HTTP status plus the ``{"error": {...}}`` body Meta would send (§5a)."""

    def __init__(
        self,
        message: str,
        *,
        code: int,
        subcode: int | None = None,
        type: str = "OAuthException",
        status: int = 400,
        is_transient: bool | None = None,
        user_title: str | None = None,
        user_msg: str | None = None,
        error_data: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.subcode = subcode
        self.type = type
        self.status = status
        self.is_transient = is_transient
        self.user_title = user_title
        self.user_msg = user_msg
        self.error_data = error_data
        self.fbtrace_id = _fbtrace_id(f"{code}|{subcode}|{message}")

    def body(self) -> dict[str, Any]:
        """The JSON body, keys in Meta's usual order; optional keys only when set (clients test for presence)."""
        err: dict[str, Any] = {"message": self.message, "type": self.type, "code": self.code}
        if self.error_data is not None:
            err["error_data"] = copy.deepcopy(self.error_data)
        if self.subcode is not None:
            err["error_subcode"] = self.subcode
        if self.is_transient is not None:
            err["is_transient"] = self.is_transient
        if self.user_title is not None:
            err["error_user_title"] = self.user_title
        if self.user_msg is not None:
            err["error_user_msg"] = self.user_msg
        err["fbtrace_id"] = self.fbtrace_id
        return {"error": err}

    def www_authenticate(self) -> str:
        """``WWW-Authenticate`` header value Meta attaches to error responses (§5a); ``invalid_token`` for 190."""
        kind = "invalid_token" if self.code == 190 else "invalid_request"
        msg = self.message.replace('"', "'")
        return f'OAuth "Facebook Platform" "{kind}" "{msg}"'

    def _kwargs(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "subcode": self.subcode,
            "type": self.type,
            "status": self.status,
            "is_transient": self.is_transient,
            "user_title": self.user_title,
            "user_msg": self.user_msg,
            "error_data": self.error_data,
        }

    def with_type(self, type: str) -> GraphError:
        """Return a copy with another ``type`` (e.g. ``IGApiException``)."""
        clone = GraphError(self.message, **{**self._kwargs(), "type": type})
        clone.fbtrace_id = self.fbtrace_id
        return clone

    def __reduce__(self) -> tuple[Any, ...]:
        # keyword-only constructor: teach copy/pickle how to rebuild the error
        return (_rebuild, (self.message, self._kwargs(), self.fbtrace_id))

    def for_host(self, host: str) -> GraphError:
        """Adapt to the serving host: graph.instagram.com reports non-token errors as ``IGApiException`` (§5a).

        Token errors (190) stay ``OAuthException`` and batch-level errors stay ``GraphBatchException``.
        """
        if host == IG_HOST and self.code != 190 and self.type in ("OAuthException", "GraphMethodException"):
            return self.with_type("IGApiException")
        return self

    def __repr__(self) -> str:
        return f"GraphError({self.status}, code={self.code}, subcode={self.subcode}, {self.message!r})"


def _rebuild(message: str, kwargs: dict[str, Any], fbtrace_id: str) -> GraphError:
    err = GraphError(message, **kwargs)
    err.fbtrace_id = fbtrace_id
    return err


def _p100(text: str, **kw: Any) -> GraphError:
    return GraphError(f"(#100) {text}", code=100, **kw)


# --- fields / objects (§3, §5c, §7c) ---------------------------------------------------------------------------


def unknown_field(node_type: str, field: str) -> GraphError:
    """Unknown field on a node: ``(#100) Tried accessing nonexisting field (xyz) on node type (IGMedia)``."""
    return _p100(f"Tried accessing nonexisting field ({field}) on node type ({node_type})")


def unknown_fields(names: Iterable[str]) -> GraphError:
    """Unknown field in a generic context (doc example for a bad alias): ``(#100) Unknown fields: x.``."""
    return _p100(f"Unknown fields: {', '.join(names)}.")


def deprecated_field(field: str, since_version: int) -> GraphError:
    """Removed field (e.g. ``video_title`` from v14, §3b) → Graph's code-12 deprecation error."""
    return GraphError(f"(#12) {field} field is deprecated for versions v{since_version}.0 and higher", code=12)


def unsupported_get(object_id: str) -> GraphError:
    """100/33 GraphMethodException: object missing, not visible to this token, or edge unsupported (§5c)."""
    return GraphError(
        f"Unsupported get request. Object with ID '{object_id}' does not exist, cannot be loaded due to missing "
        f"permissions, or does not support this operation. Please read the Graph API documentation at {GRAPH_DOC}",
        code=100,
        subcode=33,
        type="GraphMethodException",
    )


def unsupported_post() -> GraphError:
    """``POST /`` where the host has no such operation (batch on graph.instagram.com, UNCERTAIN wording)."""
    return GraphError(
        "Unsupported post request. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api",
        code=100, type="GraphMethodException",
    )


def unknown_path(component: str) -> GraphError:
    """Path segment that is no edge of the node: ``Unknown path components: /foo`` (code 2500)."""
    comp = component if component.startswith("/") else "/" + component
    return GraphError(f"Unknown path components: {comp}", code=2500)


def active_token_required() -> GraphError:
    """``/me`` without a user token (code 2500)."""
    return GraphError("An active access token must be used to query information about the current user.", code=2500)


def missing_parameter(name: str) -> GraphError:
    """Graph's generic required-parameter error (e.g. ``metric`` on /insights)."""
    return _p100(f"The parameter {name} is required")


def enum_param_invalid(param: str, allowed: Iterable[str]) -> GraphError:
    """Graph's generic enum-parameter error, same shape as ``metric[0] must be one of ...``."""
    return _p100(f"{param} must be one of the following values: {', '.join(allowed)}")


def invalid_parameter(text: str) -> GraphError:
    """Any other ``(#100) <text>`` parameter error."""
    return _p100(text)


# --- insights (§4, §5c) ----------------------------------------------------------------------------------------


def pre_conversion() -> GraphError:
    """100/2108006: insights on media posted before the last business conversion (exact body, §5c)."""
    return GraphError(
        "Invalid parameter",
        code=100,
        subcode=2108006,
        is_transient=False,
        user_title="Media posted before business account conversion",
        user_msg=(
            "The media was posted before the most recent time that the user's account was converted to a business "
            "account from a personal account."
        ),
        error_data={"blame_field_specs": [[""]]},
    )


def not_enough_viewers() -> GraphError:
    """Story insights with fewer than 5 viewers (§4a, §8)."""
    return GraphError("(#10) Not enough viewers for the media to show insights", code=10)


def invalid_metric_for_product_type(metrics: Iterable[str]) -> GraphError:
    """Known metric not valid for this media product type / version; names every offender (§4a)."""
    return _p100(
        f"The Media Insights API does not support the {', '.join(metrics)} metric for this media product type."
    )


def metric_must_be_one_of(index: int, allowed: Iterable[str]) -> GraphError:
    """Unknown or fully retired metric name at position ``index`` (§4a)."""
    return _p100(f"metric[{index}] must be one of the following values: {', '.join(allowed)}")


def impressions_no_longer_supported_user() -> GraphError:
    """``impressions`` on user insights from v22 (exact text, §4b)."""
    return _p100(
        "Starting from version 22 and above, the impressions metric is no longer supported for the queried user. "
        f"Please refer to the documentation at {USER_INSIGHTS_DOC} for a list of supported metrics."
    )


def too_many_days() -> GraphError:
    """since/until further apart than 30 days (§4b)."""
    return _p100("There cannot be more than 30 days (2592000 s) between since and until")


def metric_type_required(metrics: Iterable[str]) -> GraphError:
    """Metrics that only exist as ``metric_type=total_value`` (§4b)."""
    return _p100(
        f"The following metrics ({', '.join(metrics)}) should be specified with parameter metric_type=total_value"
    )


def metric_type_incompatible(metric: str, metric_type: str = "total_value") -> GraphError:
    """Metric that cannot be served with the requested metric_type, e.g. follower_count + total_value (§4b)."""
    return _p100(f"The following metric ({metric}) is incompatible with the metric type ({metric_type})")


def period_invalid() -> GraphError:
    """Period not valid for a metric (community-observed text; UNCERTAIN)."""
    return _p100("The period param is invalid")


def breakdown_invalid(metric: str, breakdown: str) -> GraphError:
    """User-insights breakdown not offered for a metric (wording UNCERTAIN; code 100 is what clients see)."""
    return _p100(f"The breakdown ({breakdown}) is not supported for the metric ({metric})")


def breakdown_needs_total_value() -> GraphError:
    """``breakdown`` given with time_series (wording UNCERTAIN)."""
    return _p100("Breakdowns are only supported for metric_type=total_value")


def timeframe_required(metrics: Iterable[str]) -> GraphError:
    """Demographic metrics without ``timeframe`` (wording UNCERTAIN)."""
    return _p100(f"The following metrics ({', '.join(metrics)}) require the parameter timeframe")


def breakdown_required(metrics: Iterable[str]) -> GraphError:
    """Demographic metrics without ``breakdown`` (wording UNCERTAIN)."""
    return _p100(f"The following metrics ({', '.join(metrics)}) require the parameter breakdown")


def insights_unavailable(reason: str) -> GraphError:
    """Insights not available for this object (album child, ad, expired story). Wording UNCERTAIN (§4a, §8)."""
    return _p100(f"Insights are not available for this media: {reason}")


def story_insights_expired() -> GraphError:
    """Story insights after the 24 h window (§8: "often code 10 or 100"; wording UNCERTAIN, code 10 chosen)."""
    return GraphError("(#10) Insights are not available for stories older than 24 hours", code=10)


def crosspost_required(metric: str) -> GraphError:
    """crossposted_views / facebook_views on media not shared to Facebook (§4a; wording UNCERTAIN)."""
    return _p100(f"The {metric} metric is only available for media shared to Facebook")


def unknown_error(*, is_transient: bool | None = None) -> GraphError:
    """Code 1, HTTP 500: Meta's answer to a metric/breakdown mismatch (§4a) and a random transient failure."""
    return GraphError("An unknown error has occurred.", code=1, status=500, is_transient=is_transient)


def service_error() -> GraphError:
    """Code 2, HTTP 500, transient (§5b)."""
    return GraphError(
        "An unexpected error has occurred. Please retry your request later.", code=2, status=500, is_transient=True
    )


# --- throttling (§5b, §5c, §6) ---------------------------------------------------------------------------------

_THROTTLE_MESSAGES: dict[int, tuple[str, int | None]] = {
    4: ("(#4) Application request limit reached", None),
    17: ("(#17) User request limit reached", None),
    32: ("(#32) Page request limit reached", None),
    613: ("(#613) Calls to this api have exceeded the rate limit.", None),
    80001: (
        "(#80001) There have been too many calls to this Page account. Wait a bit and try again. "
        f"For more info, please refer to {RATE_LIMIT_DOC}.",
        2446079,
    ),
    80002: (
        "(#80002) There have been too many calls to this Instagram account. Wait a bit and try again. "
        f"For more info, please refer to {RATE_LIMIT_DOC}.",
        2446079,
    ),
}
THROTTLE_CODES = tuple(_THROTTLE_MESSAGES)


def throttled(code: int) -> GraphError:
    """Rate-limit error for code 4 / 17 / 32 / 613 / 80001 / 80002 (HTTP 400, ``is_transient: true``)."""
    if code not in _THROTTLE_MESSAGES:
        raise ValueError(f"not a throttling code: {code}")
    message, subcode = _THROTTLE_MESSAGES[code]
    return GraphError(message, code=code, subcode=subcode, is_transient=True)


# --- tokens (§2, §5b) ------------------------------------------------------------------------------------------


def _pacific(ts: dt.datetime) -> str:
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=dt.UTC)
    return ts.astimezone(PACIFIC).strftime("%A, %d-%b-%y %H:%M:%S %Z")


def token_expired(expired_at: dt.datetime, now: dt.datetime) -> GraphError:
    """190/463 with Meta's Pacific-time wording (§5c)."""
    return GraphError(
        f"Error validating access token: Session has expired on {_pacific(expired_at)}. "
        f"The current time is {_pacific(now)}.",
        code=190,
        subcode=463,
    )


_TOKEN_INVALID_MESSAGES: dict[int, str] = {
    458: "Error validating access token: The user has not authorized application {app_id}.",
    460: (
        "Error validating access token: The session has been invalidated because the user changed their password "
        "or Facebook has changed the session for security reasons."
    ),
    467: "Error validating access token: The session is invalid because the user logged out.",
    492: "Error validating access token: The session is invalid because the user is no longer an admin of the Page.",
    493: "The access token is invalid since the user hasn't engaged the app in longer than 90 days.",
}


def token_invalid(subcode: int, *, app_id: str = "") -> GraphError:
    """190 with subcode 458 (app removed) / 460 (password) / 467 (logged out) / 492 (page role) / 493 (data access)."""
    if subcode not in _TOKEN_INVALID_MESSAGES:
        raise ValueError(f"unsupported 190 subcode: {subcode}")
    message = _TOKEN_INVALID_MESSAGES[subcode].format(app_id=app_id).replace("application .", "application.")
    return GraphError(message, code=190, subcode=subcode)


def cannot_parse_token() -> GraphError:
    """Garbage token string (190, no subcode)."""
    return GraphError("Invalid OAuth access token - Cannot parse access token", code=190)


def missing_permission(scope: str, *, code: int = 200) -> GraphError:
    """Permission not granted: ``(#200) Requires <scope> permission`` or the code-10 variant (§5b)."""
    if code == 10:
        return GraphError("(#10) Application does not have permission for this action", code=10)
    return GraphError(f"(#{code}) Requires {scope} permission", code=code)


def appsecret_proof_missing() -> GraphError:
    """App requires appsecret_proof and none was sent (§2d)."""
    return GraphError(
        "API calls from the server require an appsecret_proof argument", code=100, type="GraphMethodException"
    )


def appsecret_proof_invalid() -> GraphError:
    """Wrong or expired appsecret_proof (§2d)."""
    return GraphError("Invalid appsecret_proof provided in the API argument", code=100, type="GraphMethodException")


def batch_too_large() -> GraphError:
    """More than 50 requests in a batch (§7a); code value UNCERTAIN."""
    return GraphError(
        "Too many requests in batch message. Maximum batch size is 50", code=1, type="GraphBatchException"
    )

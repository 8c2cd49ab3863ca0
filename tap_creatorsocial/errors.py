"""Graph API error bodies turned into exceptions the tap can act on, and redaction of secrets in text.

Meta reports almost every failure as HTTP 400 with an `{"error": {code, error_subcode, ...}}` body, so the action
(retry, skip the object, skip the account, fail) depends on the code, not on the HTTP status.
"""

from __future__ import annotations

import json
import re
from typing import Any

import requests

# Query parameters and JSON keys whose values are secrets wherever they appear.
_SECRET_PARAM = re.compile(
    r"(?P<key>access_token|client_secret|appsecret_proof|fb_exchange_token|input_token|code|refresh_token)"
    r"(?P<sep>=|\"\s*:\s*\"|':\s*')(?P<value>[^&\s\"']+)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(?P<key>Bearer|OAuth)\s+(?P<value>[A-Za-z0-9._|\-]{8,})")


def redact(text: str, *secrets: str | None) -> str:
    """`text` with secret query parameters, bearer tokens and every given secret value masked."""
    text = _SECRET_PARAM.sub(lambda m: f"{m['key']}{m['sep']}***", text)
    text = _BEARER.sub(lambda m: f"{m['key']} ***", text)
    for secret in secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, "***")
    return text


class GraphAPIError(Exception):
    """An error response from the Graph API, with its code and subcode; the message is redacted."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: int | None = None,
        subcode: int | None = None,
        is_transient: bool = False,
        error_type: str | None = None,
        user_title: str | None = None,
    ) -> None:
        super().__init__(redact(message))
        self.status = status
        self.code = code
        self.subcode = subcode
        self.is_transient = is_transient
        self.error_type = error_type
        self.user_title = user_title

    @property
    def message(self) -> str:
        return str(self.args[0])

    def __str__(self) -> str:
        sub = f"/{self.subcode}" if self.subcode else ""
        return f"Graph API error {self.code}{sub} (HTTP {self.status}): {self.message}"

    @classmethod
    def from_body(cls, status: int, body: Any) -> GraphAPIError:
        """Build from a decoded error body (`{"error": {...}}` or Instagram's flat `error_message` shape)."""
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict):
            return cls(
                str(err.get("message", "")),
                status=status,
                code=_int(err.get("code")),
                subcode=_int(err.get("error_subcode")),
                is_transient=bool(err.get("is_transient")),
                error_type=err.get("type"),
                user_title=err.get("error_user_title"),
            )
        if isinstance(body, dict) and "error_message" in body:
            return cls(
                str(body["error_message"]),
                status=status,
                code=_int(body.get("code")),
                error_type=body.get("error_type"),
            )
        return cls(f"HTTP {status} without a Graph error body", status=status)

    @classmethod
    def from_response(cls, response: requests.Response) -> GraphAPIError:
        try:
            body = response.json()
        except ValueError:
            body = None
        return cls.from_body(response.status_code, body)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def decode_json(response: requests.Response) -> Any:
    """The JSON body, or a retriable error when Meta (or the network) cut it short."""
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError) as exc:
        raise TruncatedResponseError(f"Response body is not complete JSON (HTTP {response.status_code})") from exc
    # Parsed once: the paginator, batch unpacking and singer-sdk's record extraction read it again.
    response.json = lambda **_: body  # type: ignore[method-assign]
    return body


class TruncatedResponseError(Exception):
    """A 200 response whose body is cut off; retried like a connection reset."""

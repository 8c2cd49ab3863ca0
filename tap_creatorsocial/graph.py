"""The Graph API client shared by every stream: one session, one place for auth, proofs, retries and paging.

Like tap-github's manager, token use and retry policy live here rather than in each stream, so the throttling and
token-refresh work of later issues changes one module.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import backoff
import requests

from tap_creatorsocial.error_policy import APP_LEVEL_THROTTLE_CODES, THROTTLE_CODES, Action, classify
from tap_creatorsocial.errors import GraphAPIError, TruncatedResponseError, decode_json, redact
from tap_creatorsocial.throttle import RateLimiter

RETRIABLE_EXCEPTIONS = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    ConnectionResetError,
    TruncatedResponseError,
)


BATCH_LIMIT = 50  # items per batch request (graph-api.md §7a)


def _batch_outcome(answer: Any) -> Any | GraphAPIError | None:
    """One batch item's decoded body or error; None when Meta did not finish it (timeouts return `null`)."""
    if answer is None:
        return None
    status = int(answer.get("code", 500))
    try:
        body = json.loads(answer.get("body") or "null")
    except ValueError:
        return None
    if status >= 400:
        return GraphAPIError.from_body(status, body)
    return body


class RetriableGraphError(GraphAPIError):
    """A Graph error whose policy is to retry (throttling, transient)."""


@dataclass
class RequestStats:
    """What this run asked Meta for, as Meta counts it (batch items and `ids=` objects count one by one)."""

    http_requests: int = 0
    api_calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, api_calls: int) -> None:
        with self.lock:
            self.http_requests += 1
            self.api_calls += api_calls


def appsecret_proof(token: str, app_secret: str) -> str:
    """HMAC-SHA256 of the token keyed by the app secret (graph-api.md §2d, classic form)."""
    return hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def strip_params(url: str, *names: str) -> str:
    """`url` without the given query parameters (Meta's `next` links carry `access_token`)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in names]
    return urlunsplit(parts._replace(query=urlencode(query)))


class GraphClient:
    """Sends Graph API requests for one run: adds the token header and `appsecret_proof`, retries, decodes errors."""

    def __init__(
        self,
        session: requests.Session,
        *,
        api_version: str,
        app_secret: str | None = None,
        timeout: tuple[float, float] = (10.0, 60.0),
        max_tries: int = 6,
        max_retry_seconds: float = 300.0,
        retry_base_seconds: float = 1.0,
        max_rate_limit_wait: float = 600.0,
        logger: logging.Logger | None = None,
    ) -> None:
        self.session = session
        self.api_version = api_version
        self.app_secret = app_secret
        self.timeout = timeout
        self.max_tries = max_tries
        self.max_retry_seconds = max_retry_seconds
        self.retry_base_seconds = retry_base_seconds
        self.logger = logger or logging.getLogger("tap-creatorsocial")
        self.stats = RequestStats()
        self.limiter = RateLimiter(max_wait=max_rate_limit_wait, base_pause=max(retry_base_seconds, 0.01) * 5)

    # -- building requests -------------------------------------------------------------------------------------
    def url(self, base_url: str, path: str) -> str:
        return f"{base_url.rstrip('/')}/{self.api_version}/{path.lstrip('/')}"

    def authorize(self, request: requests.PreparedRequest, token: str) -> requests.PreparedRequest:
        """Put the token in the Authorization header (never in the URL) and add the proof when the secret is known."""
        assert request.url is not None
        request.prepare_url(strip_params(request.url, "access_token", "appsecret_proof"), None)
        if self.app_secret:
            request.prepare_url(request.url, {"appsecret_proof": appsecret_proof(token, self.app_secret)})
        request.headers["Authorization"] = f"Bearer {token}"
        return request

    # -- sending ---------------------------------------------------------------------------------------------------
    def send(
        self,
        request: requests.PreparedRequest,
        token: str,
        *,
        api_calls: int = 1,
        account_id: str | None = None,
    ) -> requests.Response:
        """Send with retries; return a 2xx response whose body is complete JSON, or raise `GraphAPIError`.

        `account_id` is the IG account the call is for: its usage paces the call, and a throttle whose wait exceeds
        `max_rate_limit_wait` raises `AccountDeferred` for it instead of waiting.
        """

        def on_backoff(details: Any) -> None:
            exc = details.get("exception")
            self.logger.warning(
                "Retrying %s in %.1fs (try %d): %s",
                redact(urlsplit(request.url or "").path),
                details.get("wait", 0.0),
                details.get("tries", 0),
                redact(str(exc), token, self.app_secret),
            )

        @backoff.on_exception(
            backoff.expo,
            (RetriableGraphError, *RETRIABLE_EXCEPTIONS),
            max_tries=self.max_tries,
            max_time=self.max_retry_seconds,
            factor=self.retry_base_seconds,
            on_backoff=on_backoff,
            logger=None,
        )
        def attempt() -> requests.Response:
            self.limiter.before_call(account_id)
            authorized = self.authorize(request.copy(), token)
            response = self.session.send(authorized, timeout=self.timeout)
            self.stats.add(api_calls)
            self.limiter.observe(response.headers)
            if response.status_code >= 400:
                error = GraphAPIError.from_response(response)
                if classify(error) is Action.RETRY:
                    if error.code in THROTTLE_CODES:
                        self.limiter.throttled(account_id, response.headers, error.code in APP_LEVEL_THROTTLE_CODES)
                    raise RetriableGraphError(
                        error.message,
                        status=error.status,
                        code=error.code,
                        subcode=error.subcode,
                        is_transient=True,
                        error_type=error.error_type,
                    )
                raise error
            decode_json(response)  # raises TruncatedResponseError (retried) on a cut-off body
            return response

        return attempt()

    def get(
        self, url: str, token: str, params: Mapping[str, Any] | None = None, *, account_id: str | None = None
    ) -> Any:
        request = requests.Request("GET", url, params=dict(params or {})).prepare()
        return self.send(request, token, account_id=account_id).json()

    def get_many(
        self, base_url: str, token: str, relative_urls: list[str], *, batch: bool, account_id: str | None = None
    ) -> list[Any | GraphAPIError]:
        """Each relative URL's body or its error: batch requests where the host supports them, else one GET each."""
        if batch:
            return self.batch(base_url, token, relative_urls, account_id=account_id)
        outcomes: list[Any | GraphAPIError] = []
        for url in relative_urls:
            try:
                outcomes.append(self.get(self.url(base_url, url), token, account_id=account_id))
            except GraphAPIError as exc:
                outcomes.append(exc)
        return outcomes

    def batch(
        self, base_url: str, token: str, relative_urls: list[str], *, account_id: str | None = None
    ) -> list[Any | GraphAPIError]:
        """GET many objects through batch requests (50 per HTTP request, graph-api.md §7a), in order.

        Each result is the item's decoded body, or its `GraphAPIError` (items fail one by one while the batch
        itself succeeds). Items that come back throttled, transient or unfinished (`null`) are sent again in a
        later batch, up to `max_tries` rounds; what still fails is returned as the error.
        """
        results: list[Any | GraphAPIError] = [None] * len(relative_urls)
        pending = list(range(len(relative_urls)))
        for round_no in range(1, self.max_tries + 1):
            retry: list[int] = []
            for start in range(0, len(pending), BATCH_LIMIT):
                chunk = pending[start : start + BATCH_LIMIT]
                items = [
                    {"method": "GET", "relative_url": f"{self.api_version}/{relative_urls[i].lstrip('/')}"}
                    for i in chunk
                ]
                request = requests.Request(
                    "POST",
                    base_url.rstrip("/") + "/",
                    data={"batch": json.dumps(items, separators=(",", ":")), "include_headers": "false"},
                ).prepare()
                answers = self.send(request, token, api_calls=len(chunk), account_id=account_id).json()
                for index, answer in zip(chunk, answers, strict=True):
                    outcome = _batch_outcome(answer)
                    results[index] = outcome
                    if outcome is None or (isinstance(outcome, GraphAPIError) and classify(outcome) is Action.RETRY):
                        retry.append(index)
                    if isinstance(outcome, GraphAPIError) and outcome.code in THROTTLE_CODES:
                        self.limiter.throttled(account_id, {}, outcome.code in APP_LEVEL_THROTTLE_CODES)
            if not retry:
                break
            pending = retry
            if round_no < self.max_tries:
                delay = self.retry_base_seconds * 2 ** (round_no - 1)
                self.logger.warning("Retrying %d batch item(s) in %.1fs", len(retry), delay)
                time.sleep(delay)
        return [
            r if r is not None else GraphAPIError("Batch item did not complete", status=504, code=2) for r in results
        ]

    def paginate(
        self, url: str, token: str, params: Mapping[str, Any] | None = None, *, account_id: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every page of an edge, following `paging.next` (even past empty pages) until it is absent."""
        next_url: str | None = url
        query: Mapping[str, Any] | None = params
        while next_url:
            page = self.get(next_url, token, query, account_id=account_id)
            yield page
            next_url = (page.get("paging") or {}).get("next")
            query = None

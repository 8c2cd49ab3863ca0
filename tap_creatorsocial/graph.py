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
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import backoff
import requests

from tap_creatorsocial.error_policy import (
    APP_LEVEL_THROTTLE_CODES,
    RETRIABLE_TRANSPORT_ERRORS,
    THROTTLE_CODES,
    Action,
    classify,
)
from tap_creatorsocial.errors import GraphAPIError, decode_json, redact
from tap_creatorsocial.throttle import AccountDeferred, RateLimiter

T = TypeVar("T")
R = TypeVar("R")

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


class ThrottledError(RetriableGraphError):
    """A throttling error (codes 4, 17, 32, 613, 80000-80014): retried once the limiter's wait is over."""


class RetriesExhaustedError(GraphAPIError):
    """A call not made for one account (discovery, token checks) kept failing past `max_retries`/`max_retry_seconds`."""


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
        max_workers: int = 1,
        logger: logging.Logger | None = None,
    ) -> None:
        self.session = session
        self.max_workers = max_workers
        #: tokens Meta rejected this run (190/102) and its answer: accounts read at once share a login's token, and
        #: once one of them learns it is dead the others must not call with it again
        self._rejected_tokens: dict[str, GraphAPIError] = {}
        self._proxies: dict[str, dict[str, str]] = {}  # per scheme://host, see `proxies_for`
        self.api_version = api_version
        self.app_secret = app_secret
        self.timeout = timeout
        self.max_tries = max_tries
        self.max_retry_seconds = max_retry_seconds
        self.retry_base_seconds = retry_base_seconds
        self.logger = logger or logging.getLogger("tap-creatorsocial")
        self.stats = RequestStats()
        # Every wait scales with `retry_base_seconds` (1 s in production), so tests and the sandbox can run fast.
        self.limiter = RateLimiter(
            max_wait=max_rate_limit_wait,
            base_pause=retry_base_seconds * 5,
            max_usage_pause=min(30.0, retry_base_seconds * 30),
        )

    # -- building requests -------------------------------------------------------------------------------------
    def url(self, base_url: str, path: str) -> str:
        return f"{base_url.rstrip('/')}/{self.api_version}/{path.lstrip('/')}"

    def authorize(self, request: requests.PreparedRequest, token: str) -> requests.PreparedRequest:
        """Put the token in the Authorization header (never in the URL) and add the proof when the secret is known."""
        assert request.url is not None
        if "access_token=" in request.url or "appsecret_proof=" in request.url:
            request.prepare_url(strip_params(request.url, "access_token", "appsecret_proof"), None)
        if self.app_secret:
            request.prepare_url(request.url, {"appsecret_proof": appsecret_proof(token, self.app_secret)})
        request.headers["Authorization"] = f"Bearer {token}"
        return request

    def proxies_for(self, request: requests.PreparedRequest) -> dict[str, str]:
        """The proxies for the request's host (session's, then HTTPS_PROXY / NO_PROXY from the environment).

        Resolved once per host and run: requests would otherwise scan the whole environment on every call (about
        0.24 ms of CPU each here, with thousands of single calls to graph.instagram.com in a run)."""
        parts = urlsplit(request.url or "")
        key = f"{parts.scheme}://{parts.netloc}"
        if key not in self._proxies:
            session = self.session
            self._proxies[key] = requests.utils.resolve_proxies(request, dict(session.proxies), session.trust_env)
        return self._proxies[key]

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
        `max_rate_limit_wait` raises `AccountDeferred` for it instead of waiting. Transient failures (5xx, 429, codes
        1/2, `is_transient`, timeouts, resets, cut-off bodies) are retried with jittered exponential backoff, at most
        `max_tries` times and `max_retry_seconds` in all; past that the account is deferred too (a call made for no
        account raises `RetriesExhaustedError`), so one bad account never stops the run.
        """
        log_path = redact(urlsplit(request.url or "").path)
        authorized = self.authorize(request.copy(), token)  # the same bytes on every try
        proxies = self.proxies_for(request)

        def attempt() -> requests.Response:
            if token in self._rejected_tokens:  # another account of this login just got a 190: no call with it
                raise self._rejected_tokens[token]
            self.limiter.before_call(account_id)  # look-ahead pacing and throttle waits; may raise AccountDeferred
            response = self.session.send(authorized, timeout=self.timeout, proxies=proxies)
            self.stats.add(api_calls)
            self.limiter.observe(response.headers)
            if response.status_code < 400:
                decode_json(response)  # a cut-off body raises TruncatedResponseError: retried like a reset
                self.limiter.succeeded(account_id)
                return response
            error = GraphAPIError.from_response(response)
            action = classify(error)
            if action is Action.RECONNECT:
                self._rejected_tokens.setdefault(token, error)
            if action is not Action.RETRY:
                raise error
            if error.code in THROTTLE_CODES:
                # the wait happens in `before_call` of the next try; past `max_rate_limit_wait`, AccountDeferred
                self.limiter.throttled(account_id, response.headers, error.code in APP_LEVEL_THROTTLE_CODES)
                raise ThrottledError(error.message, status=error.status, code=error.code, is_transient=True)
            raise RetriableGraphError(
                error.message,
                status=error.status,
                code=error.code,
                subcode=error.subcode,
                is_transient=True,
                error_type=error.error_type,
            )

        def on_backoff(details: Any) -> None:
            what = redact(str(details.get("exception")), token, self.app_secret)
            self.logger.warning(
                "Retrying %s in %.2fs (try %d of %d): %s",
                log_path,
                details.get("wait", 0.0),
                details["tries"] + 1,
                self.max_tries,
                what,
            )

        # Throttles wait for Meta's estimate (in the limiter) and are tried again at once, up to `max_tries` times
        # in a row before they count as one failed try; other transient failures back off exponentially with jitter,
        # bounded by `max_tries` and `max_retry_seconds`.
        retry_throttled = backoff.on_exception(
            backoff.constant, ThrottledError, interval=0, jitter=None, max_tries=self.max_tries + 1, logger=None
        )(attempt)
        gave_up: dict[str, Any] = {}
        retriable: tuple[type[Exception], ...] = (RetriableGraphError, *RETRIABLE_TRANSPORT_ERRORS)
        retry_transient = backoff.on_exception(
            backoff.expo,
            retriable,
            factor=self.retry_base_seconds,
            max_tries=self.max_tries,
            max_time=self.max_retry_seconds,
            jitter=backoff.full_jitter,
            on_backoff=on_backoff,
            on_giveup=lambda details: gave_up.update(details),
            logger=None,
        )(retry_throttled)
        try:
            return retry_transient()
        except retriable as failure:
            what = redact(str(failure), token, self.app_secret)
            tries, elapsed = gave_up.get("tries", self.max_tries), gave_up.get("elapsed", 0.0)
            reason = (
                f"gave up on {log_path} after {tries} tries in {elapsed:.0f}s (`max_retries`, `max_retry_seconds`): "
                f"{what}"
            )
            if account_id:
                raise AccountDeferred(
                    account_id, reason=f"account {account_id}: {reason}; deferred to the next run"
                ) from failure
            raise RetriesExhaustedError(reason, status=503, is_transient=True) from failure

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

        def fetch(url: str) -> Any | GraphAPIError:
            try:
                return self.get(self.url(base_url, url), token, account_id=account_id)
            except GraphAPIError as exc:
                return exc

        return self._map(fetch, relative_urls)

    def _map(self, fn: Callable[[T], R], items: list[T]) -> list[R]:
        """`fn` over `items` in order, up to `max_workers` at once (each call is still paced by the limiter)."""
        if self.max_workers <= 1 or len(items) <= 1:
            return [fn(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(self.max_workers, len(items))) as pool:
            return list(pool.map(fn, items))

    def batch(
        self, base_url: str, token: str, relative_urls: list[str], *, account_id: str | None = None
    ) -> list[Any | GraphAPIError]:
        """GET many objects through batch requests (50 per HTTP request, graph-api.md §7a), in order.

        Each result is the item's decoded body, or its `GraphAPIError` (items fail one by one while the batch
        itself succeeds). Items that come back throttled, transient or unfinished (`null`) are sent again in a
        later batch (after the throttle's wait), as long as rounds make progress and at most `max_tries` rounds in
        a row settle nothing; what still fails is returned as the error.
        """
        results: list[Any | GraphAPIError] = [None] * len(relative_urls)
        pending = list(range(len(relative_urls)))
        stalled = 0  # rounds in a row that settled no item: bounded by `max_tries`

        def send_chunk(chunk: list[int]) -> list[int]:
            """One batch request; the indexes of its items to send again."""
            items = [
                {"method": "GET", "relative_url": f"{self.api_version}/{relative_urls[i].lstrip('/')}"} for i in chunk
            ]
            request = requests.Request(
                "POST",
                base_url.rstrip("/") + "/",
                data={"batch": json.dumps(items, separators=(",", ":")), "include_headers": "false"},
            ).prepare()
            response = self.send(request, token, api_calls=len(chunk), account_id=account_id)
            again: list[int] = []
            throttle_code: int | None = None
            for index, answer in zip(chunk, response.json(), strict=True):
                outcome = _batch_outcome(answer)
                results[index] = outcome
                if outcome is None or (isinstance(outcome, GraphAPIError) and classify(outcome) is Action.RETRY):
                    again.append(index)
                if isinstance(outcome, GraphAPIError) and outcome.code in THROTTLE_CODES:
                    throttle_code = outcome.code
            if throttle_code is not None:
                # Once per response: its usage headers carry Meta's regain estimate for the account, and the
                # next `send` waits for it (or defers the account past `max_rate_limit_wait`).
                self.limiter.throttled(account_id, response.headers, throttle_code in APP_LEVEL_THROTTLE_CODES)
            return again

        while pending:
            chunks = [pending[start : start + BATCH_LIMIT] for start in range(0, len(pending), BATCH_LIMIT)]
            retry = sorted(i for again in self._map(send_chunk, chunks) for i in again)
            stalled = stalled + 1 if len(retry) == len(pending) else 0
            pending = retry
            if not pending or stalled >= self.max_tries:
                break
            delay = self.retry_base_seconds * 2 ** max(stalled - 1, 0)
            self.logger.warning("Retrying %d batch item(s) in %.2fs", len(pending), delay)
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

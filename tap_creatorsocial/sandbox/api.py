"""``GraphEmulator``: a strict, in-process emulator of Meta's Instagram Platform / Graph API.

Every request the tap makes in tests and in the demo goes through ``GraphEmulator.handle`` (in-process via
``transport.SandboxAdapter`` or over HTTP via ``server.py``). It routes by host exactly like Meta:

* ``graph.facebook.com`` - Instagram API with Facebook Login (+ ``oauth/access_token``, ``debug_token``, batch, ids=)
* ``graph.instagram.com`` - Instagram API with Instagram Login (+ ``access_token``, ``refresh_access_token``)
* ``api.instagram.com`` - the Instagram-Login code exchange
* ``www.facebook.com`` / ``www.instagram.com`` - the consent dialogs (``oauth.py``)

Base URLs. ``paging.next`` / ``previous`` links are built on the base URL the request came in on: the header
``X-Sandbox-Base-Url`` (set by ``server.py`` to e.g. ``http://127.0.0.1:PORT/graph.facebook.com``) or, when absent,
``https://<host>``. The header is never echoed.

Sandbox-only endpoints (any host, not counted in stats): ``GET /__stats``, ``POST /__stats/reset``,
``GET /__truth?version=N``, ``GET /__sandbox/connections``,
``POST /__sandbox/tokens/{expire|revoke|expire-data-access}`` (form/query ``token``, optional ``subcode``),
``POST /__sandbox/clock/advance?seconds=N``.

Strictness is the point: anything the real API rejects is rejected here with Meta's error body, because a lenient
emulator makes every test built on it lie.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import random
import re
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

from . import errors, rules
from .errors import GraphError
from .fields import FieldSpec, parse_fields, to_text
from .model import Account, Comment, Dataset, FacebookUser, LoginKind, Media, Page
from .scenario import Scenario
from .tokens import TokenRecord, TokenRegistry

FB_GRAPH = "graph.facebook.com"
IG_GRAPH = "graph.instagram.com"
IG_API = "api.instagram.com"
FB_WWW = "www.facebook.com"
IG_WWW = "www.instagram.com"
HOSTS = (FB_GRAPH, IG_GRAPH, IG_API, FB_WWW, IG_WWW)
BASE_URL_HEADER = "X-Sandbox-Base-Url"

JSON_TYPE = "application/json; charset=UTF-8"
MEDIA_CAP = 10_000  # /media returns at most the 10k most recent objects
MAX_IDS = 50  # ids= limit (commonly cited; UNCERTAIN)
MAX_BATCH = 50
STORY_LIFETIME = dt.timedelta(hours=24)
# Usage-header capacities: chosen so a full sync of the default dataset stays well under 50 %.
APP_WINDOW = dt.timedelta(hours=1)
APP_CAPACITY = 200_000
BUC_WINDOW = dt.timedelta(hours=24)
BUC_CAPACITY = 50_000

_VERSION_SEGMENT = re.compile(r"^v\d")
_OMIT = object()  # edge value meaning "leave the field out"
T = TypeVar("T")


@dataclass
class SandboxResponse:
    """What the emulator answers: status, headers and the raw body (possibly deliberately truncated)."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON (raises on truncated / HTML bodies, like ``requests`` would)."""
        return json.loads(self.body)


@dataclass
class GraphRequest:
    """One parsed Graph call (a top-level request, a batch item, or a resolved ``ids=`` lookup)."""

    method: str
    host: str
    segments: list[str]  # path segments after the version
    params: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    base_url: str  # e.g. https://graph.facebook.com (no trailing slash, no version)
    version: int
    token: str | None
    token_in_query: bool

    @property
    def login(self) -> LoginKind:
        return "instagram" if self.host == IG_GRAPH else "facebook"


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> SandboxResponse:
    """A compact JSON response (Meta sends compact, ASCII-escaped JSON)."""
    out = {"Content-Type": JSON_TYPE}
    if headers:
        out.update(headers)
    return SandboxResponse(status, out, json.dumps(payload, separators=(",", ":")).encode())


def unsupported(method: str, ident: str) -> GraphError:
    """100/33 for any method: the object is missing, invisible to this token, or does not support the operation."""
    err = errors.unsupported_get(ident)
    if method != "GET":
        err.message = err.message.replace("Unsupported get request", f"Unsupported {method.lower()} request")
    return err


def _for_host(err: GraphError, host: str) -> GraphError:
    """graph.instagram.com reports non-token Graph errors as ``IGApiException`` (reference §5a).

    (Local rather than ``GraphError.for_host`` because that copies the exception with ``copy.copy``, which cannot
    re-create an Exception whose ``__init__`` has required keyword-only arguments.)
    """
    if host != IG_GRAPH or err.code == 190 or err.type not in ("OAuthException", "GraphMethodException"):
        return err
    clone = GraphError(
        err.message,
        code=err.code,
        subcode=err.subcode,
        type="IGApiException",
        status=err.status,
        is_transient=err.is_transient,
        user_title=err.user_title,
        user_msg=err.user_msg,
        error_data=err.error_data,
    )
    clone.fbtrace_id = err.fbtrace_id
    return clone


def error_response(err: GraphError, host: str) -> SandboxResponse:
    """The error body plus ``WWW-Authenticate``, adapted to the host's exception type."""
    err = _for_host(err, host)
    return json_response(err.status, err.body(), {"WWW-Authenticate": err.www_authenticate()})


def html_response(status: int, html: str) -> SandboxResponse:
    """An HTML page (consent dialogs, dialog errors)."""
    return SandboxResponse(status, {"Content-Type": "text/html; charset=utf-8"}, html.encode())


def redirect_response(location: str) -> SandboxResponse:
    """A 302 to ``location`` (the app's redirect_uri after consent)."""
    return SandboxResponse(302, {"Location": location, "Content-Type": "text/html; charset=utf-8"}, b"")


def _encode_cursor(kind: str, ident: str) -> str:
    return base64.urlsafe_b64encode(f"sbx:{kind}:{ident}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, param: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    parts = raw.split(":", 2)
    if len(parts) != 3 or parts[0] != "sbx":
        raise errors.invalid_parameter(f"The {param} cursor is invalid")
    return parts[1], parts[2]


def _parse_time(value: str, param: str) -> dt.datetime:
    """``since`` / ``until``: a Unix timestamp or a date/datetime string (Meta accepts strtotime strings)."""
    value = value.strip()
    if re.fullmatch(r"-?\d+", value):
        return dt.datetime.fromtimestamp(int(value), dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise errors.invalid_parameter(f"The parameter {param} is not a valid time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _parse_body(body: bytes | None, headers: dict[str, str]) -> dict[str, str]:
    if not body:
        return {}
    ctype = headers.get("content-type", "")
    text = body.decode("utf-8", "replace")
    if "application/json" in ctype:
        try:
            data = json.loads(text)
        except ValueError:
            return {}
        if isinstance(data, dict):
            return {k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}
        return {}
    if "multipart/" in ctype:
        return {}
    return dict(parse_qsl(text, keep_blank_values=True))


class GraphEmulator:
    """Serves a ``Dataset`` under Meta's rules, with optional faults from a ``Scenario``. Thread-safe."""

    def __init__(
        self,
        dataset: Dataset,
        scenario: Scenario | None = None,
        *,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.dataset = dataset
        self.scenario = scenario or Scenario()
        self.tokens = TokenRegistry(dataset)
        self._lock = threading.RLock()
        started = time.monotonic()
        self._base_clock: Callable[[], dt.datetime] = clock or (
            lambda: dataset.now + dt.timedelta(seconds=time.monotonic() - started)
        )
        self._offset = dt.timedelta(0)
        self._rng = random.Random(f"sandbox-scenario-{self.scenario.seed}")
        self._trace = 0
        self._http_requests = 0
        self._api_calls = 0
        self._by_endpoint: dict[str, int] = defaultdict(int)
        # Rolling usage windows (timestamps of counted calls) and scenario state.
        self._app_calls: deque[dt.datetime] = deque()
        self._buc_calls: dict[str, deque[dt.datetime]] = defaultdict(deque)
        self._throttle_count: dict[str, int] = defaultdict(int)
        self._throttle_until: dict[str, dt.datetime] = {}
        self._throttle_left: dict[str, int] = {}
        self._token_killed = False
        self._index()

    # ------------------------------------------------------------------ setup

    def _index(self) -> None:
        """Id → object maps so any id in a path resolves in O(1) with its owner account."""
        self.accounts: dict[str, Account] = dict(self.dataset.accounts)
        self.media: dict[str, tuple[Media, str | None, Media | None]] = {}  # id -> (media, owner acct, parent)
        self.comments: dict[str, tuple[Comment, Media]] = {}
        self.pages: dict[str, tuple[Page, FacebookUser]] = {}
        self.fb_users: dict[str, FacebookUser] = {u.id: u for u in self.dataset.facebook_users}
        for user in self.dataset.facebook_users:
            for page in user.pages:
                self.pages.setdefault(page.id, (page, user))
        for acct in self.accounts.values():
            for m in [*acct.media, *acct.stories]:
                self.media[m.id] = (m, acct.id, None)
                for child in m.children:
                    self.media[child.id] = (child, acct.id, m)
                for c in m.comments:
                    self.comments[c.id] = (c, m)
                    for r in c.replies:
                        self.comments[r.id] = (r, m)
        # Every other account of each login kind (dataset order) serves one empty /media page that still has a
        # `next`, so both login paths exercise the "keep following next" rule.
        self._gap_accounts: set[str] = set()
        for login in ("facebook", "instagram"):
            same = [a.id for a in self.accounts.values() if a.login == login]
            self._gap_accounts.update(same[::2])
        for acct in self.accounts.values():
            for m in acct.tags:  # other creators' media: reachable through /tags only
                if m.id not in self.media:
                    self.media[m.id] = (m, None, None)
                    for child in m.children:
                        self.media.setdefault(child.id, (child, None, m))

    # ------------------------------------------------------------------ clock / stats

    def now(self) -> dt.datetime:
        """The emulator's current time (injected clock + any ``advance``)."""
        return self._base_clock() + self._offset

    def advance(self, seconds: float) -> dt.datetime:
        """Move the clock forward (tests, throttle recovery, token expiry over HTTP)."""
        with self._lock:
            self._offset += dt.timedelta(seconds=seconds)
        return self.now()

    def stats(self) -> dict[str, Any]:
        """HTTP requests received and API calls as Meta counts them (batch items / ids one by one)."""
        with self._lock:
            return {
                "http_requests": self._http_requests,
                "api_calls": self._api_calls,
                "by_endpoint": dict(sorted(self._by_endpoint.items())),
            }

    def reset_stats(self) -> None:
        """Zero the counters (usage windows and throttle state are kept: Meta's memory does not reset)."""
        with self._lock:
            self._http_requests = 0
            self._api_calls = 0
            self._by_endpoint.clear()

    # ------------------------------------------------------------------ entry point

    def handle(self, method: str, url: str, headers: Mapping[str, str], body: bytes | None = None) -> SandboxResponse:
        """Answer one HTTP request for an absolute ``url`` on one of the emulated hosts."""
        method = method.upper()
        hdrs = _lower_headers(headers)
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        params.update(_parse_body(body, hdrs))
        base_url = (hdrs.get(BASE_URL_HEADER.lower()) or f"https://{host}").rstrip("/")
        path = parts.path or "/"
        if path.startswith("/__"):
            return self._sandbox_endpoint(method, path, params)
        if self.scenario.latency_ms:
            time.sleep(self.scenario.latency_ms / 1000)  # outside every lock
        with self._lock:
            self._http_requests += 1
        if host in (FB_WWW, IG_WWW, IG_API):
            from . import oauth

            try:
                return oauth.handle_web(self, method, host, path, params, base_url)
            except GraphError as err:
                return error_response(err, host)
        if host not in (FB_GRAPH, IG_GRAPH):
            return SandboxResponse(404, {"Content-Type": "text/plain"}, f"sandbox: unknown host {host}".encode())
        try:
            req = self._parse(method, host, path, params, hdrs, base_url)
        except GraphError as err:
            return error_response(err, host)
        if self._is_oauth_path(req):
            from . import oauth

            self._count(req, 1, None)
            try:
                return self._decorate(oauth.handle_graph(self, req), req, None, None)
            except GraphError as err:
                return self._decorate(error_response(err, host), req, None, None)
        if req.method == "POST" and not req.segments and "batch" in req.params:
            resp = self._batch(req)
        else:
            resp = self._api_call(req)
        return self._maybe_truncate(resp)

    # ------------------------------------------------------------------ parsing

    def _parse(
        self, method: str, host: str, path: str, params: dict[str, str], hdrs: dict[str, str], base_url: str
    ) -> GraphRequest:
        segments = [s for s in path.split("/") if s]
        version = rules.DEFAULT_VERSION
        if segments and _VERSION_SEGMENT.match(segments[0]):
            parsed = rules.parse_version(segments[0], self.now())
            if parsed is None:  # e.g. /v99.0/me: Meta reads it as an unknown path
                raise errors.unknown_path("/" + "/".join(segments[1:]))
            version = parsed
            segments = segments[1:]
        token = params.get("access_token") or None
        in_query = token is not None
        if token is None:
            auth = hdrs.get("authorization", "")
            scheme, _, value = auth.partition(" ")
            if scheme.lower() in ("bearer", "oauth") and value.strip():
                token = value.strip()
        return GraphRequest(method, host, segments, params, hdrs, base_url, version, token, in_query)

    @staticmethod
    def _is_oauth_path(req: GraphRequest) -> bool:
        path = "/".join(req.segments)
        if req.host == FB_GRAPH:
            return path in ("oauth/access_token", "debug_token")
        return path in ("access_token", "refresh_access_token")

    # ------------------------------------------------------------------ accounting

    def _endpoint_key(self, req: GraphRequest) -> str:
        prefix = "ig " if req.host == IG_GRAPH else ""
        if self._is_oauth_path(req):
            return f"{prefix}{req.method} /" + "/".join(req.segments)
        if not req.segments:
            return f"{req.method} /" + ("?ids" if "ids" in req.params else "")
        parts = []
        for i, seg in enumerate(req.segments):
            if i == 0 and seg != "me":
                kind = self._kind_of(seg)
                parts.append("{" + (kind or "id") + "}")
            elif i >= 2 and req.segments[1] == "permissions":
                parts.append("{permission}")
            else:
                parts.append(seg)
        return f"{prefix}{req.method} /" + "/".join(parts)

    def _count(self, req: GraphRequest, n: int, account: str | None) -> None:
        now = self.now()
        with self._lock:
            self._api_calls += n
            self._by_endpoint[self._endpoint_key(req)] += n
            for _ in range(n):
                self._app_calls.append(now)
                if account:
                    self._buc_calls[account].append(now)
            while self._app_calls and now - self._app_calls[0] > APP_WINDOW:
                self._app_calls.popleft()
            if account:
                dq = self._buc_calls[account]
                while dq and now - dq[0] > BUC_WINDOW:
                    dq.popleft()

    def _usage_headers(self, accounts: Sequence[str], throttled: str | None) -> dict[str, str]:
        """``X-App-Usage`` and ``X-Business-Use-Case-Usage`` (percentages; minutes to regain access when throttled)."""
        forced = self.scenario.usage_percent
        with self._lock:
            app_pct = min(100, len(self._app_calls) * 100 // APP_CAPACITY)
            if forced is not None:
                app_pct = forced
            now = self.now()
            app_until = self._throttle_until.get("*")
            if app_until is not None and app_until > now and self.scenario.throttle_code in (4, 17, 32, 613):
                app_pct = 100  # app / user / page level limits: X-App-Usage is what reports them
            app = {"call_count": app_pct, "total_time": app_pct * 3 // 5, "total_cputime": app_pct * 2 // 5}
            buc: dict[str, list[dict[str, Any]]] = {}
            for acct in accounts:
                pct = min(100, len(self._buc_calls.get(acct, ())) * 100 // BUC_CAPACITY)
                if forced is not None:
                    pct = forced
                regain = 0
                until = self._throttle_until.get(acct) or self._throttle_until.get("*")
                if until is not None and until > now:
                    regain = max(1, -(-int((until - now).total_seconds()) // 60))
                    pct = 100 if self.scenario.throttle_code == 80002 else pct
                buc[acct] = [
                    {
                        "type": "instagram",
                        "call_count": pct,
                        "total_cputime": pct * 2 // 5,
                        "total_time": pct * 3 // 5,
                        "estimated_time_to_regain_access": regain,
                    }
                ]
        return {
            "X-App-Usage": json.dumps(app, separators=(",", ":")),
            "X-Business-Use-Case-Usage": json.dumps(buc, separators=(",", ":")),
        }

    def _decorate(
        self,
        resp: SandboxResponse,
        req: GraphRequest,
        rec: TokenRecord | None,
        account: str | None,
        throttled: str | None = None,
    ) -> SandboxResponse:
        accounts = [account] if account else sorted(self.tokens.visible_accounts(rec)) if rec else []
        resp.headers.update(self._usage_headers(accounts, throttled))
        resp.headers["facebook-api-version"] = f"v{req.version}.0"
        with self._lock:
            self._trace += 1
            trace = self._trace
        resp.headers["x-fb-trace-id"] = base64.b64encode(hashlib.sha256(f"t{trace}".encode()).digest()[:8]).decode()
        resp.headers["x-fb-rev"] = "1000000"
        return resp

    def _maybe_truncate(self, resp: SandboxResponse) -> SandboxResponse:
        rate = self.scenario.truncated_rate
        if rate <= 0 or resp.status != 200 or len(resp.body) < 2:
            return resp
        with self._lock:
            hit = self._rng.random() < rate
        if hit:
            resp.body = resp.body[: max(1, len(resp.body) // 2)]
        return resp

    # ------------------------------------------------------------------ one API call

    def _api_call(self, req: GraphRequest) -> SandboxResponse:
        """Authenticate, apply scenario faults, route, and render one Graph call (or one ``ids=`` lookup)."""
        n_calls = 1
        if not req.segments and "ids" in req.params:
            n_calls = max(1, len([i for i in req.params["ids"].split(",") if i.strip()]))
        rec: TokenRecord | None = None
        account = self._target_account(req)
        throttled: str | None = None
        self._count(req, n_calls, account)
        self._maybe_kill_tokens()
        try:
            rec = self._authenticate(req)
            if account is None and req.segments[:1] == ["me"] and rec.kind == "ig_user":
                account = rec.owner_id
            throttled = self._check_throttle(account)
            self._maybe_transient()
            payload = self._route(req, rec)
            resp = json_response(200, payload)
        except GraphError as err:
            resp = error_response(err, req.host)
        return self._decorate(resp, req, rec, account, throttled)

    def _target_account(self, req: GraphRequest) -> str | None:
        """The IG account a call is "about" (BUC accounting key), from the first path segment."""
        if not req.segments:
            ids = [i.strip() for i in req.params.get("ids", "").split(",") if i.strip()]
            return self._owner_of(ids[0]) if ids else None
        return self._owner_of(req.segments[0])

    def _owner_of(self, ident: str) -> str | None:
        if ident in self.accounts:
            return ident
        if ident in self.media:
            return self.media[ident][1]
        if ident in self.comments:
            return self.media.get(self.comments[ident][1].id, (None, None, None))[1]
        return None

    def _authenticate(self, req: GraphRequest) -> TokenRecord:
        if not req.token:
            if req.segments[:1] == ["me"]:
                raise errors.active_token_required()
            raise GraphError("An access token is required to request this resource.", code=104)
        now = self.now()
        rec = self.tokens.validate(req.token, req.login, now)
        self._check_proof(req, rec, now)
        return rec

    def _check_proof(self, req: GraphRequest, rec: TokenRecord, now: dt.datetime) -> None:
        """Verify ``appsecret_proof`` (classic or time-stamped); mandatory when the app or scenario requires it."""
        if rec.kind == "app":
            return
        proof = req.params.get("appsecret_proof")
        required = self.scenario.require_appsecret_proof or self.dataset.app.require_appsecret_proof
        if proof is None:
            if required:
                raise errors.appsecret_proof_missing()
            return
        secret = self.dataset.app.secret.encode()
        token = req.token or ""
        ptime = req.params.get("appsecret_time")
        if ptime is None:
            expected = hmac.new(secret, token.encode(), hashlib.sha256).hexdigest()
        else:
            if not re.fullmatch(r"\d+", ptime):
                raise errors.appsecret_proof_invalid()
            age = now.timestamp() - int(ptime)
            if age > 300 or age < -300:  # time-stamped proofs expire after 5 minutes
                raise errors.appsecret_proof_invalid()
            expected = hmac.new(secret, f"{token}|{ptime}".encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, proof.strip().lower()):
            raise errors.appsecret_proof_invalid()

    # ------------------------------------------------------------------ scenario faults

    def _maybe_kill_tokens(self) -> None:
        after = self.scenario.token_dies_after
        if after is None:
            return
        with self._lock:
            if self._token_killed or self._api_calls <= after:
                return
            self._token_killed = True
        self.tokens.revoke_owner(self.scenario.token_dies_for, 460)

    def _check_throttle(self, account: str | None) -> str | None:
        """Raise the scenario's rate-limit error once the call budget is spent; returns the throttled key if any."""
        sc = self.scenario
        if sc.throttle_code is None:
            return None
        if sc.throttle_account is not None and account != sc.throttle_account:
            return None
        key = (account or "*") if sc.throttle_code == 80002 else "*"
        now = self.now()
        with self._lock:
            until = self._throttle_until.get(key)
            if until is not None:
                left = self._throttle_left.get(key)
                if now >= until or (left is not None and left <= 0):
                    self._throttle_until.pop(key, None)
                    self._throttle_left.pop(key, None)
                    self._throttle_count[key] = 0
                else:
                    if left is not None:
                        self._throttle_left[key] = left - 1
                    raise errors.throttled(sc.throttle_code)
            self._throttle_count[key] += 1
            if self._throttle_count[key] > sc.throttle_after:
                self._throttle_until[key] = now + dt.timedelta(minutes=sc.throttle_minutes)
                if sc.throttle_failures is not None:
                    self._throttle_left[key] = sc.throttle_failures - 1
                raise errors.throttled(sc.throttle_code)
        return None

    def _maybe_transient(self) -> None:
        rate = self.scenario.transient_rate
        if rate <= 0:
            return
        with self._lock:
            hit = self._rng.random() < rate
            variant = self._rng.randrange(4)
        if not hit:
            return
        if variant == 0:
            raise errors.unknown_error(is_transient=True)
        if variant == 1:
            raise errors.service_error()
        if variant == 2:
            raise GraphError("(#2) Service temporarily unavailable", code=2, status=503, is_transient=True)
        raise GraphError(
            "An unexpected error has occurred. Please retry your request later.", code=2, status=400, is_transient=True
        )

    # ------------------------------------------------------------------ routing

    def _kind_of(self, ident: str) -> str | None:
        if ident in self.accounts:
            return "ig-user-id"
        if ident in self.media:
            return "media-id"
        if ident in self.comments:
            return "comment-id"
        if ident in self.pages:
            return "page-id"
        if ident in self.fb_users:
            return "user-id"
        return None

    def _route(self, req: GraphRequest, rec: TokenRecord) -> Any:
        segs = req.segments
        if not segs:
            if req.method == "GET" and "ids" in req.params:
                return self._multi_ids(req, rec)
            raise errors.invalid_parameter("Missing ID")
        node = segs[0]
        if node == "me":
            node = self._me_id(req, rec)
        if len(segs) > 1 and segs[1] == "permissions" and req.host == FB_GRAPH:
            from . import oauth

            return oauth.permissions(self, req, rec, node, segs[2:])
        if len(segs) > 2:
            raise errors.unknown_path("/" + "/".join(segs[2:]))
        kind = self._kind_of(node)
        if kind is None or not self._visible(req, rec, node, kind):
            raise unsupported(req.method, node)
        if req.method != "GET":
            raise unsupported(req.method, node)
        edge = segs[1] if len(segs) > 1 else None
        specs = parse_fields(req.params.get("fields"))
        if kind == "ig-user-id":
            return self._ig_user(req, rec, self.accounts[node], edge, specs)
        if kind == "media-id":
            return self._media(req, rec, self.media[node][0], edge, specs)
        if kind == "comment-id":
            return self._comment(req, rec, self.comments[node][0], edge, specs)
        if kind == "page-id":
            return self._page(req, rec, self.pages[node][0], edge, specs)
        return self._fb_user(req, rec, self.fb_users[node], edge, specs)

    def _me_id(self, req: GraphRequest, rec: TokenRecord) -> str:
        if rec.kind == "app":
            raise errors.active_token_required()
        return rec.owner_id

    def _visible(self, req: GraphRequest, rec: TokenRecord, ident: str, kind: str) -> bool:
        """Whether this token may read the object (another creator's objects → 100/33)."""
        if kind == "page-id":
            page, user = self.pages[ident]
            return req.host == FB_GRAPH and (
                (rec.kind == "user" and rec.owner_id == user.id) or (rec.kind == "page" and rec.owner_id == page.id)
            )
        if kind == "user-id":
            return req.host == FB_GRAPH and rec.kind in ("user", "page") and rec.user_id == ident
        visible = self.tokens.visible_accounts(rec)
        if kind == "ig-user-id":
            return ident in visible
        owner = self._owner_of(ident)
        return owner is not None and owner in visible

    def _require_scope(self, req: GraphRequest, rec: TokenRecord, endpoint_kind: str) -> None:
        if rec.kind == "app":
            raise errors.missing_permission("instagram_basic", code=10)
        missing = rules.missing_scope(req.host, endpoint_kind, rec.scopes)
        if missing is not None:
            raise errors.missing_permission(missing)

    # ------------------------------------------------------------------ rendering

    def _select(
        self,
        full: Mapping[str, Any],
        specs: list[FieldSpec],
        allowed: frozenset[str] | set[str],
        node_type: str,
        edges: Mapping[str, Callable[[FieldSpec], Any]],
    ) -> dict[str, Any]:
        """Pick requested fields from a node's values; unknown names fail the whole request (code 100)."""
        out: dict[str, Any] = {}
        for spec in specs:
            if spec.name in edges:
                value = edges[spec.name](spec)
                if value is not _OMIT:
                    out[spec.key] = value
            elif spec.name in full:
                if spec.children is not None and isinstance(full[spec.name], dict):
                    out[spec.key] = {
                        k: v for k, v in full[spec.name].items() if any(c.name == k for c in spec.children)
                    }
                else:
                    out[spec.key] = full[spec.name]
            elif spec.name not in allowed:
                raise errors.unknown_field(node_type, spec.name)
            # known field absent from the node: an omission rule applies (e.g. like_count hidden)
        if "id" in full and "id" not in out:
            out["id"] = full["id"]  # Graph always returns a node's id, requested or not
        return out

    def _ig_user(
        self, req: GraphRequest, rec: TokenRecord, acct: Account, edge: str | None, specs: list[FieldSpec] | None
    ) -> Any:
        node_type = rules.node_type_name("user")
        if edge is None:
            self._require_scope(req, rec, "user")
            return self._render_user(req, rec, acct, specs or [FieldSpec("id")])
        if edge == "media":
            self._require_scope(req, rec, "media")
            return self._media_edge(req, rec, acct, specs, req.params, nested=False)
        if edge == "stories":
            self._require_scope(req, rec, "stories")
            return self._stories_edge(req, rec, acct, specs, req.params, nested=False)
        if edge == "tags":
            self._require_scope(req, rec, "tags")
            return self._tags_edge(req, rec, acct, specs, req.params, nested=False)
        if edge == "insights":
            self._require_scope(req, rec, "user_insights")
            base = f"{req.base_url}/v{req.version}.0/{acct.id}/insights"
            return rules.user_insights(req.version, req.host, acct, dict(req.params), self.now(), base)
        raise errors.unknown_field(node_type, edge)

    def _render_user(
        self, req: GraphRequest, rec: TokenRecord, acct: Account, specs: list[FieldSpec]
    ) -> dict[str, Any]:
        full = rules.user_node(acct, req.host)
        allowed = rules.USER_FIELDS_IG if req.host == IG_GRAPH else rules.USER_FIELDS_FB
        edges: dict[str, Callable[[FieldSpec], Any]] = {
            "media": lambda s: self._media_edge(req, rec, acct, s.children, self._nested_params(s), nested=True),
            "stories": lambda s: self._stories_edge(req, rec, acct, s.children, self._nested_params(s), nested=True),
            "tags": lambda s: self._tags_edge(req, rec, acct, s.children, self._nested_params(s), nested=True),
            "insights": lambda s: rules.user_insights(
                req.version,
                req.host,
                acct,
                self._insight_params(s),
                self.now(),
                f"{req.base_url}/v{req.version}.0/{acct.id}/insights",
            ),
        }
        return self._select(full, specs, allowed, rules.node_type_name("user"), edges)

    @staticmethod
    def _nested_params(spec: FieldSpec) -> dict[str, str]:
        params: dict[str, str] = {}
        for name in ("limit", "since", "until"):
            if name in spec.modifiers:
                params[name] = spec.modifiers[name]
        return params

    @staticmethod
    def _insight_params(spec: FieldSpec) -> dict[str, str]:
        return {k: v for k, v in spec.modifiers.items() if k != "as"}

    def _link(self, req: GraphRequest, path: str, params: Mapping[str, str]) -> str:
        return f"{req.base_url}/v{req.version}.0/{path}?{urlencode(params)}"

    def _link_params(
        self, req: GraphRequest, own: Mapping[str, str], specs: list[FieldSpec] | None, nested: bool
    ) -> dict[str, str]:
        """Params to carry into next/previous links: the request's own (top level) or the nested selection's."""
        if not nested:
            return {k: v for k, v in own.items() if k not in ("after", "before")}
        params: dict[str, str] = {}
        if req.token_in_query and req.token:
            params["access_token"] = req.token
        for key in ("appsecret_proof", "appsecret_time"):
            if key in req.params:
                params[key] = req.params[key]
        if specs:
            params["fields"] = to_text(specs)
        params.update({k: v for k, v in own.items() if k not in ("after", "before")})
        return params

    def _paginate(
        self,
        req: GraphRequest,
        items: Sequence[T],
        key: Callable[[T], str],
        params: Mapping[str, str],
        *,
        default_limit: int,
        max_limit: int,
        link: tuple[str, dict[str, str]] | None,
        gap_seed: str | None = None,
    ) -> tuple[list[T], dict[str, Any]]:
        """Cursor paging: ``limit`` (silently capped), ``after`` / ``before``, opaque cursors, optional links.

        ``gap_seed``: deterministically (per seed) route the first ``next`` through an empty page that still has a
        ``next`` - Meta does this and clients must keep following ``next``.
        """
        raw_limit = params.get("limit")
        limit = default_limit
        if raw_limit is not None and raw_limit != "":
            if not re.fullmatch(r"\d+", raw_limit.strip()):
                raise errors.invalid_parameter("Param limit must be a number")
            limit = int(raw_limit) or default_limit
        limit = min(limit, max_limit)
        ids = [key(x) for x in items]
        start, end = 0, limit
        if params.get("after"):
            kind, ident = _decode_cursor(params["after"], "after")
            if ident not in ids:
                raise errors.invalid_parameter("The after cursor is invalid")
            if kind == "gap":
                paging: dict[str, Any] = {"cursors": {"before": params["after"], "after": params["after"]}}
                if link:
                    paging["next"] = self._link(req, link[0], {**link[1], "after": _encode_cursor("c", ident)})
                return [], paging
            start = ids.index(ident) + 1
            end = start + limit
        elif params.get("before"):
            _, ident = _decode_cursor(params["before"], "before")
            if ident not in ids:
                raise errors.invalid_parameter("The before cursor is invalid")
            end = ids.index(ident)
            start = max(0, end - limit)
        chunk = list(items[start:end])
        if not chunk:
            return [], {}
        first, last = key(chunk[0]), key(chunk[-1])
        paging = {"cursors": {"before": _encode_cursor("c", first), "after": _encode_cursor("c", last)}}
        if link is not None:
            if end < len(items):
                gap = gap_seed is not None and start == 0 and gap_seed in self._gap_accounts
                cursor = _encode_cursor("gap" if gap else "c", last)
                paging["next"] = self._link(req, link[0], {**link[1], "after": cursor})
            if start > 0:
                paging["previous"] = self._link(req, link[0], {**link[1], "before": _encode_cursor("c", first)})
        return chunk, paging

    def has_empty_page(self, account_id: str) -> bool:
        """Whether ``/{account}/media`` routes its first ``next`` through an empty page (deterministic)."""
        return account_id in self._gap_accounts

    def _media_edge(
        self,
        req: GraphRequest,
        rec: TokenRecord,
        acct: Account,
        specs: list[FieldSpec] | None,
        params: Mapping[str, str],
        *,
        nested: bool,
    ) -> dict[str, Any]:
        items = acct.media[:MEDIA_CAP]
        since = _parse_time(params["since"], "since") if params.get("since") else None
        until = _parse_time(params["until"], "until") if params.get("until") else None
        if since or until:
            items = [
                m for m in items if (since is None or m.timestamp >= since) and (until is None or m.timestamp < until)
            ]
        link = (f"{acct.id}/media", self._link_params(req, params, specs, nested))
        return self._media_page(req, rec, items, specs, params, link, gap_seed=acct.id)

    def _media_page(
        self,
        req: GraphRequest,
        rec: TokenRecord,
        items: list[Media],
        specs: list[FieldSpec] | None,
        params: Mapping[str, str],
        link: tuple[str, dict[str, str]] | None,
        gap_seed: str | None = None,
    ) -> dict[str, Any]:
        """One page of a media edge (`/media`, `/stories`, `/tags`): 25 by default, at most 100, read indirectly."""
        chunk, paging = self._paginate(
            req, items, lambda m: m.id, params, default_limit=25, max_limit=100, link=link, gap_seed=gap_seed
        )
        data = [self._render_media(req, rec, m, specs or [FieldSpec("id")], indirect=True) for m in chunk]
        return self._listing(data, paging)

    @staticmethod
    def _listing(data: list[Any], paging: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"data": data}
        if paging:
            out["paging"] = paging
        return out

    def _stories_edge(
        self,
        req: GraphRequest,
        rec: TokenRecord,
        acct: Account,
        specs: list[FieldSpec] | None,
        params: Mapping[str, str],
        *,
        nested: bool,
    ) -> dict[str, Any]:
        now = self.now()
        live = sorted(
            (s for s in acct.stories if timedelta_ok(now - s.timestamp)), key=lambda s: s.timestamp, reverse=True
        )
        link = (f"{acct.id}/stories", self._link_params(req, params, specs, nested))
        return self._media_page(req, rec, live, specs, params, link)

    def _tags_edge(
        self,
        req: GraphRequest,
        rec: TokenRecord,
        acct: Account,
        specs: list[FieldSpec] | None,
        params: Mapping[str, str],
        *,
        nested: bool,
    ) -> dict[str, Any]:
        # Documented quirk: /tags paging carries cursors only, never next/previous.
        return self._media_page(req, rec, acct.tags, specs, params, link=None)

    def _media(
        self, req: GraphRequest, rec: TokenRecord, media: Media, edge: str | None, specs: list[FieldSpec] | None
    ) -> Any:
        if edge is None:
            self._require_scope(req, rec, "media")
            return self._render_media(req, rec, media, specs or [FieldSpec("id")], indirect=False)
        if edge == "children":
            self._require_scope(req, rec, "media")
            data = [self._render_media(req, rec, c, specs or [FieldSpec("id")], indirect=True) for c in media.children]
            return {"data": data}
        if edge == "insights":
            self._require_scope(req, rec, "media_insights")
            return {"data": self._media_insights(req, media, dict(req.params))}
        if edge == "comments":
            self._require_scope(req, rec, "comments")
            return self._comments_edge(req, rec, media, specs, req.params, nested=False)
        raise errors.unknown_field(rules.node_type_name("media"), edge)

    def _media_insights(self, req: GraphRequest, media: Media, params: Mapping[str, str]) -> list[dict[str, Any]]:
        metrics = [m.strip() for m in params.get("metric", "").split(",") if m.strip()]
        return rules.media_insights(
            req.version,
            req.host,
            media,
            metrics,
            params.get("breakdown") or None,
            params.get("period") or None,
            self.now(),
        )

    def _render_media(
        self, req: GraphRequest, rec: TokenRecord, media: Media, specs: list[FieldSpec], *, indirect: bool
    ) -> dict[str, Any]:
        full = dict(rules.media_node(media, req.host, indirect=indirect))
        owner = self._owner_of(media.id)
        if owner is None or owner not in self.tokens.visible_accounts(rec):
            full.pop("owner", None)  # owner is only returned to the owner
        allowed = rules.MEDIA_FIELDS_IG if req.host == IG_GRAPH else rules.MEDIA_FIELDS_FB
        edges: dict[str, Callable[[FieldSpec], Any]] = {
            "children": lambda s: {
                "data": [
                    self._render_media(req, rec, c, s.children or [FieldSpec("id")], indirect=True)
                    for c in media.children
                ]
            },
            "insights": lambda s: self._nested_media_insights(req, rec, media, s),
            "comments": lambda s: self._comments_edge(req, rec, media, s.children, self._nested_params(s), nested=True),
        }
        if media.media_type != "CAROUSEL_ALBUM":
            edges["children"] = lambda s: _OMIT  # a valid IGMedia edge, simply absent on non-albums
        for spec in specs:
            rules.check_media_field(spec.name, req.version)  # removed fields (video_title) → code 12
        return self._select(full, specs, allowed, rules.node_type_name("media"), edges)

    def _nested_media_insights(self, req: GraphRequest, rec: TokenRecord, media: Media, spec: FieldSpec) -> Any:
        self._require_scope(req, rec, "media_insights")
        params = {k: v for k, v in spec.modifiers.items() if k in ("metric", "breakdown", "period")}
        return {"data": self._media_insights(req, media, params)}

    def _comments_edge(
        self,
        req: GraphRequest,
        rec: TokenRecord,
        media: Media,
        specs: list[FieldSpec] | None,
        params: Mapping[str, str],
        *,
        nested: bool,
    ) -> dict[str, Any]:
        top = sorted((c for c in media.comments if c.parent_id is None), key=lambda c: c.timestamp, reverse=True)
        link = (f"{media.id}/comments", self._link_params(req, params, specs, nested))
        chunk, paging = self._paginate(req, top, lambda c: c.id, params, default_limit=25, max_limit=50, link=link)
        default = [FieldSpec("timestamp"), FieldSpec("text"), FieldSpec("id")]
        data = [self._render_comment(req, rec, c, specs or default) for c in chunk]
        return self._listing(data, paging)

    def _comment(
        self, req: GraphRequest, rec: TokenRecord, comment: Comment, edge: str | None, specs: list[FieldSpec] | None
    ) -> Any:
        default = [FieldSpec("timestamp"), FieldSpec("text"), FieldSpec("id")]
        if edge is None:
            self._require_scope(req, rec, "comments")
            return self._render_comment(req, rec, comment, specs or default)
        if edge == "replies":
            self._require_scope(req, rec, "replies")
            return self._replies_edge(req, rec, comment, specs, req.params, nested=False)
        raise errors.unknown_field(rules.node_type_name("comment"), edge)

    def _replies_edge(
        self,
        req: GraphRequest,
        rec: TokenRecord,
        comment: Comment,
        specs: list[FieldSpec] | None,
        params: Mapping[str, str],
        *,
        nested: bool,
    ) -> dict[str, Any]:
        replies = sorted(comment.replies, key=lambda c: c.timestamp)
        link = (f"{comment.id}/replies", self._link_params(req, params, specs, nested))
        chunk, paging = self._paginate(req, replies, lambda c: c.id, params, default_limit=25, max_limit=50, link=link)
        default = [FieldSpec("timestamp"), FieldSpec("text"), FieldSpec("id")]
        return self._listing([self._render_comment(req, rec, c, specs or default) for c in chunk], paging)

    def _render_comment(
        self, req: GraphRequest, rec: TokenRecord, comment: Comment, specs: list[FieldSpec]
    ) -> dict[str, Any]:
        media = self.comments[comment.id][1] if comment.id in self.comments else None
        full = rules.comment_node(comment, media)
        edges: dict[str, Callable[[FieldSpec], Any]] = {
            "replies": lambda s: self._replies_edge(req, rec, comment, s.children, self._nested_params(s), nested=True)
        }
        return self._select(full, specs, rules.COMMENT_FIELDS, rules.node_type_name("comment"), edges)

    def _page(
        self, req: GraphRequest, rec: TokenRecord, page: Page, edge: str | None, specs: list[FieldSpec] | None
    ) -> Any:
        if edge is not None:
            raise errors.unknown_field(rules.node_type_name("page"), edge)
        self._require_scope(req, rec, "page")
        return self._render_page(req, rec, page, specs or [FieldSpec("name"), FieldSpec("id")])

    def _render_page(self, req: GraphRequest, rec: TokenRecord, page: Page, specs: list[FieldSpec]) -> dict[str, Any]:
        full = dict(rules.page_node(page))
        if rec.kind == "user":
            full["access_token"] = self.tokens.page_token(page.id, rec.owner_id, rec, now=self.now()).token
        elif rec.kind == "page":
            full["access_token"] = rec.token
        return self._select(full, specs, rules.PAGE_FIELDS, rules.node_type_name("page"), {})

    def _fb_user(
        self,
        req: GraphRequest,
        rec: TokenRecord,
        user: FacebookUser,
        edge: str | None,
        specs: list[FieldSpec] | None,
    ) -> Any:
        if edge == "accounts":
            return self._accounts_edge(req, rec, user, specs, req.params, nested=False)
        if edge is not None:
            raise errors.unknown_field(rules.node_type_name("fb_user"), edge)
        full = {"id": user.id, "name": user.name}
        edges = {
            "accounts": lambda s: self._accounts_edge(req, rec, user, s.children, self._nested_params(s), nested=True)
        }
        return self._select(
            full,
            specs or [FieldSpec("name"), FieldSpec("id")],
            {"id", "name", "first_name", "last_name", "email", "picture"},
            rules.node_type_name("fb_user"),
            edges,
        )

    def _accounts_edge(
        self,
        req: GraphRequest,
        rec: TokenRecord,
        user: FacebookUser,
        specs: list[FieldSpec] | None,
        params: Mapping[str, str],
        *,
        nested: bool,
    ) -> dict[str, Any]:
        if rec.kind != "user":
            raise errors.unknown_field(rules.node_type_name("page"), "accounts")
        self._require_scope(req, rec, "accounts")
        link = (f"{user.id}/accounts", self._link_params(req, params, specs, nested))
        chunk, paging = self._paginate(
            req, user.pages, lambda p: p.id, params, default_limit=25, max_limit=100, link=link
        )
        default = [FieldSpec(n) for n in rules.DEFAULT_FIELDS["page"]]
        return self._listing([self._render_page(req, rec, p, specs or default) for p in chunk], paging)

    # ------------------------------------------------------------------ ids= and batch

    def _multi_ids(self, req: GraphRequest, rec: TokenRecord) -> dict[str, Any]:
        """``GET /?ids=a,b``: id-keyed objects; any failing id fails the whole request."""
        ids = [i.strip() for i in req.params["ids"].split(",") if i.strip()]
        if not ids:
            raise errors.invalid_parameter("The parameter ids is required")
        if len(ids) > MAX_IDS:
            raise errors.invalid_parameter(f"Too many IDs. Maximum: {MAX_IDS}. Got: {len(ids)}.")
        out: dict[str, Any] = {}
        for ident in ids:
            sub = GraphRequest(
                "GET",
                req.host,
                [ident],
                {k: v for k, v in req.params.items() if k != "ids"},
                req.headers,
                req.base_url,
                req.version,
                req.token,
                req.token_in_query,
            )
            out[ident] = self._route(sub, rec)
        return out

    def _batch(self, req: GraphRequest) -> SandboxResponse:
        """``POST /`` with ``batch=[...]``: per-item results, HTTP 200 even when items fail; ≤ 50 items."""
        rec: TokenRecord | None = None
        try:
            try:
                items = json.loads(req.params["batch"])
            except ValueError:
                raise errors.invalid_parameter("The parameter batch must be a JSON array") from None
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise errors.invalid_parameter("The parameter batch must be a JSON array of request objects")
            if len(items) > MAX_BATCH:
                raise errors.batch_too_large()
            if req.host == IG_GRAPH:
                # Batch is documented for graph.facebook.com only (§7a: UNCERTAIN for Instagram Login); the strict
                # choice is to refuse it, so a client relying on it fails here rather than in production.
                raise errors.unsupported_post()
            rec = self._authenticate(req)
        except GraphError as err:
            return self._decorate(error_response(err, req.host), req, rec, None)
        include_headers = req.params.get("include_headers", "true").lower() != "false"
        results: list[Any] = []
        for item in items:
            resp = self._batch_item(req, item)
            entry: dict[str, Any] = {"code": resp.status}
            if include_headers:
                entry["headers"] = [{"name": k, "value": v} for k, v in resp.headers.items()]
            entry["body"] = resp.body.decode()
            results.append(entry)
        return self._decorate(json_response(200, results), req, rec, None)

    def _batch_item(self, parent: GraphRequest, item: dict[str, Any]) -> SandboxResponse:
        method = str(item.get("method", "GET")).upper()
        rel = str(item.get("relative_url", ""))
        parts = urlsplit(rel if rel.startswith("/") else "/" + rel)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        if isinstance(item.get("body"), str):
            params.update(dict(parse_qsl(item["body"], keep_blank_values=True)))
        token = params.get("access_token") or item.get("access_token") or parent.token
        try:
            sub = self._parse(method, parent.host, parts.path, params, {}, parent.base_url)
        except GraphError as err:
            return error_response(err, parent.host)
        if not any(_VERSION_SEGMENT.match(s) for s in [s for s in parts.path.split("/") if s][:1]):
            sub.version = parent.version  # relative_url without a version runs on the batch's version
        if not sub.token:
            sub.token, sub.token_in_query = (str(token) if token else None), parent.token_in_query
        if "appsecret_proof" not in sub.params and sub.token == parent.token:
            for key in ("appsecret_proof", "appsecret_time"):  # the top-level proof covers the top-level token
                if key in parent.params:
                    sub.params[key] = parent.params[key]
        if not sub.segments and "batch" in sub.params:
            return error_response(errors.invalid_parameter("Nested batch requests are not supported"), sub.host)
        if self._is_oauth_path(sub):
            return error_response(unsupported(method, "/".join(sub.segments)), sub.host)
        return self._api_call(sub)

    # ------------------------------------------------------------------ sandbox endpoints

    def _sandbox_endpoint(self, method: str, path: str, params: dict[str, str]) -> SandboxResponse:
        """Test / demo helpers; not part of Meta's API and not counted in stats."""
        if path == "/__stats" and method == "GET":
            return json_response(200, self.stats())
        if path == "/__stats/reset" and method == "POST":
            self.reset_stats()
            return json_response(200, {"success": True})
        if path == "/__truth" and method == "GET":
            from . import truth

            version = int(params.get("version", rules.DEFAULT_VERSION))
            return json_response(200, truth.build_truth(self.dataset, version))
        if path == "/__sandbox/connections" and method == "GET":
            return json_response(200, self.connections())
        if path == "/__sandbox/clock/advance" and method == "POST":
            now = self.advance(float(params.get("seconds", "0")))
            return json_response(200, {"now": now.isoformat()})
        if path.startswith("/__sandbox/tokens/") and method == "POST":
            action = path.rsplit("/", 1)[-1]
            token = params.get("token", "")
            try:
                if action == "expire":
                    self.tokens.expire(token, self.now())
                elif action == "revoke":
                    self.tokens.revoke(token, int(params.get("subcode", "460")))
                elif action == "expire-data-access":
                    self.tokens.expire_data_access(token, self.now())
                else:
                    return json_response(404, {"error": f"unknown action {action}"})
            except KeyError:
                return json_response(404, {"error": "unknown token"})
            return json_response(200, {"success": True})
        return json_response(404, {"error": f"unknown sandbox endpoint {method} {path}"})

    def connections(self) -> list[dict[str, str]]:
        """The demo's already-connected creators: ``[{"provider", "owner_id", "access_token"}]``."""
        return [
            {"provider": login, "owner_id": owner, "access_token": token}
            for login, owner, token in self.dataset.demo_tokens
        ]


def timedelta_ok(age: dt.timedelta) -> bool:
    """A story is live while younger than 24 h (and not in the future)."""
    return dt.timedelta(0) <= age < STORY_LIFETIME

"""The two OAuth login paths, token renewal and revocation (graph-api.md §2), and the local callback server.

Facebook Login: consent dialog → code → short-lived user token → long-lived (fb_exchange_token) → debug_token for
the real expiry and data-access expiry → /me and /me/accounts (page tokens, linked IG accounts).
Instagram Login: consent dialog → code (POST api.instagram.com; both documented response shapes) → long-lived
(ig_exchange_token) → /me?fields=user_id,username. Renewal: ig_refresh_token once the token is >= 24 h old;
Facebook user tokens can only be re-exchanged (a new login is what really renews them).

Every token and secret stays out of messages: errors go through `redact`, and URLs holding secrets are never logged.
"""

from __future__ import annotations

import datetime as dt
import hmac
import html
import logging
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, TextIO
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import requests

from tap_creatorsocial.catalog.versions import DEFAULT_API_VERSION, parse_api_version
from tap_creatorsocial.errors import GraphAPIError, redact
from tap_creatorsocial.graph import GraphClient

from .store import (
    LinkedAccount,
    LinkedPage,
    OAuthStore,
    PendingLogin,
    Provider,
    StoredConnection,
    assess,
)

DEFAULT_CALLBACK_URL = "http://localhost:33333/callback"
DEFAULT_GRAPH_API_URL = "https://graph.facebook.com"
DEFAULT_INSTAGRAM_API_URL = "https://graph.instagram.com"
FACEBOOK_SCOPES = (
    "instagram_basic",
    "instagram_manage_insights",
    "instagram_manage_comments",
    "pages_show_list",
    "pages_read_engagement",
)
INSTAGRAM_SCOPES = (
    "instagram_business_basic",
    "instagram_business_manage_insights",
    "instagram_business_manage_comments",
)
IG_REFRESH_MIN_AGE = dt.timedelta(hours=24)  # Meta refuses ig_refresh_token on younger tokens
PENDING_LOGIN_TTL = dt.timedelta(minutes=30)  # `url` → `exchange`; Meta's codes themselves live 1 hour
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _RedactingFilter(logging.Filter):
    """Masks secrets in urllib3's DEBUG request lines: Meta's token endpoints take them as query parameters."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


_FILTER = _RedactingFilter()


def guard_http_debug_logs() -> None:
    """Attach the redacting filter to urllib3's connection-pool logger (idempotent)."""
    pool_logger = logging.getLogger("urllib3.connectionpool")
    if _FILTER not in pool_logger.filters:
        pool_logger.addFilter(_FILTER)


class OAuthFlowError(Exception):
    """A login or renewal step failed for a reason people can fix; the message says how (and holds no secret)."""


class OAuthStateError(OAuthFlowError):
    """The `state` in a redirect is not the one this tool handed out: possible CSRF or a stale/foreign URL."""


# -- settings ------------------------------------------------------------------------------------------------------


def sibling_url(base_url: str, host: str, sibling: str) -> str:
    """The URL of a sibling Meta host served the same way as `base_url` (direct, proxied by path, or real).

    `https://graph.facebook.com` → `https://www.facebook.com`; a sandbox served as
    `http://127.0.0.1:P/graph.facebook.com` → `http://127.0.0.1:P/www.facebook.com`. Any other base (a proxy for
    the Graph host only) keeps the dialogs and token endpoints on Meta's own host.
    """
    parts = urlsplit(base_url.rstrip("/"))
    if parts.hostname == host:
        return urlunsplit(parts._replace(netloc=parts.netloc.replace(host, sibling), path=parts.path))
    segments = parts.path.split("/")
    if segments and segments[-1] == host:
        return urlunsplit(parts._replace(path="/".join([*segments[:-1], sibling])))
    return f"https://{sibling}"


@dataclass(frozen=True)
class OAuthSettings:
    """What the flows need from the tap's settings (the CLI and the tap read the same ones)."""

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str = DEFAULT_CALLBACK_URL
    api_version: str = DEFAULT_API_VERSION
    graph_api_url: str = DEFAULT_GRAPH_API_URL
    instagram_api_url: str = DEFAULT_INSTAGRAM_API_URL
    facebook_scopes: tuple[str, ...] = FACEBOOK_SCOPES
    instagram_scopes: tuple[str, ...] = INSTAGRAM_SCOPES

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> OAuthSettings:
        """Read `client_id`, `client_secret`, `callback_url`, `api_version` and the host URLs.

        With `sandbox: true` the emulated app's id and secret are the defaults, so sandbox logins need no setup.
        """
        client_id = str(config.get("client_id") or "")
        client_secret = str(config.get("client_secret") or "")
        if config.get("sandbox") and not (client_id or client_secret):
            from tap_creatorsocial.sandbox.dataset import APP_ID, APP_SECRET

            client_id, client_secret = APP_ID, APP_SECRET
        version = f"v{parse_api_version(str(config.get('api_version') or DEFAULT_API_VERSION))}.0"
        return cls(
            client_id=client_id,
            client_secret=client_secret,
            redirect_uri=str(config.get("callback_url") or DEFAULT_CALLBACK_URL),
            api_version=version,
            graph_api_url=str(config.get("graph_api_url") or DEFAULT_GRAPH_API_URL).rstrip("/"),
            instagram_api_url=str(config.get("instagram_api_url") or DEFAULT_INSTAGRAM_API_URL).rstrip("/"),
        )

    def api_url(self, provider: Provider) -> str:
        return self.graph_api_url if provider == "facebook" else self.instagram_api_url

    @property
    def facebook_www_url(self) -> str:
        return sibling_url(self.graph_api_url, "graph.facebook.com", "www.facebook.com")

    @property
    def instagram_www_url(self) -> str:
        return sibling_url(self.instagram_api_url, "graph.instagram.com", "www.instagram.com")

    @property
    def instagram_oauth_url(self) -> str:
        return sibling_url(self.instagram_api_url, "graph.instagram.com", "api.instagram.com")

    def require_app(self) -> None:
        if not (self.client_id and self.client_secret):
            raise OAuthFlowError(
                "Settings `client_id` and `client_secret` are needed to log creators in and renew tokens. "
                "Fix: set them to your Meta app's id and secret (App Dashboard → App settings → Basic), e.g. "
                "`meltano config tap-creatorsocial set client_id …` and `… set client_secret`, or the "
                "TAP_CREATORSOCIAL_CLIENT_ID / TAP_CREATORSOCIAL_CLIENT_SECRET environment variables."
            )


# -- redirects -----------------------------------------------------------------------------------------------------


def new_state() -> str:
    """An unguessable `state` for one consent dialog (CSRF protection)."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Redirect:
    """What the consent dialog sent back to `callback_url`."""

    code: str | None = field(repr=False)
    state: str | None = field(repr=False)
    error: str | None = None
    error_description: str | None = None


def parse_redirect(url: str) -> Redirect:
    """Read `code`/`state` (or Meta's `error=access_denied…`) from the URL the browser was sent to."""
    parts = urlsplit(url.strip())
    query = parse_qs(parts.query)

    def first(name: str) -> str | None:
        values = query.get(name)
        return values[0] if values else None

    code = first("code")
    if code is not None:
        code = code.removesuffix("#_")  # Instagram appends `#_`; strip it if it was pasted URL-encoded
    return Redirect(code, first("state"), first("error"), first("error_description") or first("error_reason"))


def require_code(redirect: Redirect, expected_state: str) -> str:
    """The code, after checking `state` (constant time) and that the creator granted access."""
    if redirect.state is None or not hmac.compare_digest(redirect.state, expected_state):
        raise OAuthStateError(
            "The redirect's `state` does not match the login this tool started, so it was refused (it may be from "
            "another login attempt, or forged). Fix: start the login again and use the URL it prints."
        )
    if redirect.error:
        raise OAuthFlowError(
            f"The creator did not grant access ({redirect.error}: {redirect.error_description or 'no detail'}). "
            "Fix: run the login again and choose Continue/Allow on the consent screen."
        )
    if not redirect.code:
        raise OAuthFlowError("The redirect URL has no `code`. Fix: paste the full URL the browser ended on.")
    return redirect.code


# -- API calls -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenInfo:
    """What /debug_token says about a token."""

    is_valid: bool
    user_id: str | None
    issued_at: dt.datetime | None
    expires_at: dt.datetime | None  # None: never expires (expires_at 0)
    data_access_expires_at: dt.datetime | None
    scopes: list[str]
    error: str | None = None


def _epoch(value: Any) -> dt.datetime | None:
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC) if seconds > 0 else None


def parse_instagram_token_response(body: Any) -> tuple[str, str, list[str]]:
    """(token, IG-scoped user id, permissions) from either documented shape of the Instagram code exchange.

    Meta's doc sample wraps it (`{"data": [{…, "permissions": "a,b"}]}`); many clients see it flat
    (`{"access_token", "user_id": 123, "permissions": ["a", "b"]}`).
    """
    item = body
    if isinstance(body, dict) and isinstance(body.get("data"), list):
        if not body["data"]:
            raise OAuthFlowError("Instagram's code exchange returned no token (empty `data`). Fix: log in again.")
        item = body["data"][0]
    if not isinstance(item, dict) or not item.get("access_token"):
        raise OAuthFlowError("Instagram's code exchange returned an unexpected body. Fix: log in again.")
    permissions = item.get("permissions") or []
    if isinstance(permissions, str):
        permissions = [p.strip() for p in permissions.split(",") if p.strip()]
    return str(item["access_token"]), str(item.get("user_id") or ""), [str(p) for p in permissions]


class OAuthClient:
    """Runs the login, renewal and revocation calls for one Meta app against Meta or the sandbox."""

    def __init__(
        self,
        settings: OAuthSettings,
        session: requests.Session,
        *,
        clock: Clock = utcnow,
        logger: logging.Logger | None = None,
        timeout: tuple[float, float] = (10.0, 60.0),
    ) -> None:
        self.settings = settings
        self.session = session
        self.clock = clock
        self.logger = logger or logging.getLogger("tap-creatorsocial.oauth")
        self.timeout = timeout
        guard_http_debug_logs()
        self.graph = GraphClient(
            session,
            api_version=settings.api_version,
            app_secret=settings.client_secret or None,
            timeout=timeout,
            max_tries=3,
            max_retry_seconds=60.0,
            logger=self.logger,
        )

    # -- consent ---------------------------------------------------------------------------------------------
    def authorization_url(self, provider: Provider, state: str, *, redirect_uri: str | None = None) -> str:
        """The consent dialog URL (holds the app id and `state`, no secret)."""
        self.settings.require_app()
        s = self.settings
        if provider == "facebook":
            base = f"{s.facebook_www_url}/{s.api_version}/dialog/oauth"
            scopes = s.facebook_scopes
        else:
            base = f"{s.instagram_www_url}/oauth/authorize"
            scopes = s.instagram_scopes
        query = {
            "client_id": s.client_id,
            "redirect_uri": redirect_uri or s.redirect_uri,
            "response_type": "code",
            "scope": ",".join(scopes),
            "state": state,
        }
        return f"{base}?{urlencode(query)}"

    # -- raw calls -------------------------------------------------------------------------------------------
    def _token_call(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        secrets_: tuple[str | None, ...] = (),
    ) -> Any:
        """One call to a token endpoint (no retry: codes are single use); Graph errors become `GraphAPIError`."""
        try:
            response = self.session.request(method, url, params=params, data=data, timeout=self.timeout)
        except requests.RequestException as exc:
            detail = redact(str(exc), self.settings.client_secret, *secrets_)
            raise OAuthFlowError(
                f"Could not reach {urlsplit(url).netloc}: {detail}. Fix: check the network, then try again."
            ) from None
        if response.status_code >= 400:
            raise GraphAPIError.from_response(response)
        try:
            return response.json()
        except ValueError:
            raise OAuthFlowError(
                f"{urlsplit(url).netloc} answered HTTP {response.status_code} without JSON. Fix: try again."
            ) from None

    def _expiry(self, body: Mapping[str, Any], now: dt.datetime) -> dt.datetime | None:
        expires_in = int(body.get("expires_in") or 0)
        return now + dt.timedelta(seconds=expires_in) if expires_in > 0 else None

    def exchange_facebook_code(self, code: str, redirect_uri: str | None = None) -> str:
        """Code → short-lived Facebook user token."""
        s = self.settings
        body = self._token_call(
            "GET",
            self.graph.url(s.graph_api_url, "oauth/access_token"),
            params={
                "client_id": s.client_id,
                "redirect_uri": redirect_uri or s.redirect_uri,
                "client_secret": s.client_secret,
                "code": code,
            },
            secrets_=(code,),
        )
        return str(body["access_token"])

    def exchange_facebook_long_lived(self, token: str) -> tuple[str, dt.datetime | None]:
        """fb_exchange_token: a user token → a long-lived one (~60 days)."""
        s = self.settings
        now = self.clock()
        body = self._token_call(
            "GET",
            self.graph.url(s.graph_api_url, "oauth/access_token"),
            params={
                "grant_type": "fb_exchange_token",
                "client_id": s.client_id,
                "client_secret": s.client_secret,
                "fb_exchange_token": token,
            },
            secrets_=(token,),
        )
        return str(body["access_token"]), self._expiry(body, now)

    def debug_token(self, token: str) -> TokenInfo:
        """/debug_token with the app token: the authoritative expiry, data-access expiry and scopes."""
        s = self.settings
        app_token = f"{s.client_id}|{s.client_secret}"
        body = self.graph.get(self.graph.url(s.graph_api_url, "debug_token"), app_token, {"input_token": token})
        data = body.get("data") or {}
        error = data.get("error") or {}
        return TokenInfo(
            is_valid=bool(data.get("is_valid")),
            user_id=str(data["user_id"]) if data.get("user_id") else None,
            issued_at=_epoch(data.get("issued_at")),
            expires_at=_epoch(data.get("expires_at")),
            data_access_expires_at=_epoch(data.get("data_access_expires_at")),
            scopes=[str(x) for x in data.get("scopes") or []],
            error=redact(str(error.get("message")), token) if error else None,
        )

    def facebook_profile(self, token: str) -> dict[str, Any]:
        result: dict[str, Any] = self.graph.get(
            self.graph.url(self.settings.graph_api_url, "me"), token, {"fields": "id,name"}
        )
        return result

    def facebook_pages(self, token: str) -> tuple[list[LinkedPage], list[LinkedAccount]]:
        """The creator's Pages with their page tokens and linked IG accounts (/me/accounts, all pages)."""
        pages: list[LinkedPage] = []
        accounts: list[LinkedAccount] = []
        params = {"fields": "id,name,access_token,instagram_business_account{id,username}", "limit": 100}
        url = self.graph.url(self.settings.graph_api_url, "me/accounts")
        for listing in self.graph.paginate(url, token, params):
            for page in listing.get("data", []):
                ig = page.get("instagram_business_account") or {}
                ig_id = str(ig["id"]) if ig.get("id") else None
                pages.append(LinkedPage(str(page["id"]), page.get("name"), ig_id, page.get("access_token")))
                if ig_id:
                    accounts.append(LinkedAccount(ig_id, ig.get("username"), str(page["id"])))
        self._fill_usernames(token, accounts)
        return pages, accounts

    def _fill_usernames(self, token: str, accounts: list[LinkedAccount]) -> None:
        """Usernames for the status table via one `ids=` lookup (best effort: ids alone are enough to run)."""
        missing = [a for a in accounts if not a.username][:50]
        if not missing:
            return
        try:
            found = self.graph.get(
                self.graph.url(self.settings.graph_api_url, ""),
                token,
                {"ids": ",".join(a.id for a in missing), "fields": "username"},
            )
        except (GraphAPIError, requests.RequestException) as exc:
            self.logger.info("Could not look up usernames of linked accounts: %s", redact(str(exc), token))
            return
        for account in missing:
            account.username = (found.get(account.id) or {}).get("username")

    def exchange_instagram_code(self, code: str, redirect_uri: str | None = None) -> tuple[str, str, list[str]]:
        """Code → short-lived Instagram token, IG-scoped user id and permissions (POST, form-encoded)."""
        s = self.settings
        body = self._token_call(
            "POST",
            f"{s.instagram_oauth_url}/oauth/access_token",
            data={
                "client_id": s.client_id,
                "client_secret": s.client_secret,
                "grant_type": "authorization_code",
                "redirect_uri": redirect_uri or s.redirect_uri,
                "code": code,
            },
            secrets_=(code,),
        )
        return parse_instagram_token_response(body)

    def exchange_instagram_long_lived(self, token: str) -> tuple[str, dt.datetime | None]:
        """ig_exchange_token: short-lived (1 h) → long-lived (60 days)."""
        now = self.clock()
        body = self._token_call(
            "GET",
            f"{self.settings.instagram_api_url}/access_token",
            params={
                "grant_type": "ig_exchange_token",
                "client_secret": self.settings.client_secret,
                "access_token": token,
            },
            secrets_=(token,),
        )
        return str(body["access_token"]), self._expiry(body, now)

    def refresh_instagram(self, token: str) -> tuple[str, dt.datetime | None]:
        """ig_refresh_token: a long-lived token >= 24 h old → a new one valid 60 days."""
        now = self.clock()
        body = self._token_call(
            "GET",
            f"{self.settings.instagram_api_url}/refresh_access_token",
            params={"grant_type": "ig_refresh_token", "access_token": token},
            secrets_=(token,),
        )
        return str(body["access_token"]), self._expiry(body, now)

    def instagram_profile(self, token: str) -> dict[str, Any]:
        result: dict[str, Any] = self.graph.get(
            self.graph.url(self.settings.instagram_api_url, "me"), token, {"fields": "user_id,username"}
        )
        return result

    def granted_permissions(self, token: str) -> dict[str, str]:
        """GET /me/permissions (Facebook Login): permission → granted | declined | expired."""
        body = self.graph.get(self.graph.url(self.settings.graph_api_url, "me/permissions"), token)
        return {str(p.get("permission")): str(p.get("status")) for p in body.get("data") or []}

    def revoke_facebook(self, token: str) -> None:
        """DELETE /me/permissions: de-authorize the app for this creator (kills their page tokens too)."""
        request = requests.Request("DELETE", self.graph.url(self.settings.graph_api_url, "me/permissions")).prepare()
        self.graph.send(request, token)

    # -- whole flows -----------------------------------------------------------------------------------------
    def complete_login(self, provider: Provider, code: str, *, redirect_uri: str | None = None) -> StoredConnection:
        """Everything after the consent dialog: tokens, expiries, identity and linked accounts."""
        self.settings.require_app()
        if provider == "facebook":
            return self._complete_facebook(code, redirect_uri)
        return self._complete_instagram(code, redirect_uri)

    def _complete_facebook(self, code: str, redirect_uri: str | None) -> StoredConnection:
        now = self.clock()
        short = self.exchange_facebook_code(code, redirect_uri)
        token, expires_at = self.exchange_facebook_long_lived(short)
        info = self.debug_token(token)
        profile = self.facebook_profile(token)
        pages, accounts = self.facebook_pages(token)
        return StoredConnection(
            provider="facebook",
            user_id=str(profile.get("id") or info.user_id),
            name=str(profile.get("name") or profile.get("id")),
            access_token=token,
            api_url=self.settings.graph_api_url,
            issued_at=info.issued_at or now,
            expires_at=info.expires_at or expires_at,
            data_access_expires_at=info.data_access_expires_at,
            scopes=info.scopes,
            pages=pages,
            accounts=accounts,
            created_at=now,
            updated_at=now,
        )

    def _complete_instagram(self, code: str, redirect_uri: str | None) -> StoredConnection:
        now = self.clock()
        short, scoped_user_id, permissions = self.exchange_instagram_code(code, redirect_uri)
        token, expires_at = self.exchange_instagram_long_lived(short)
        profile = self.instagram_profile(token)
        # The exchange's user_id is IG-scoped and may differ from the account id the API uses (graph-api.md §1b).
        account_id = str(profile.get("user_id") or profile.get("id") or scoped_user_id)
        username = profile.get("username")
        return StoredConnection(
            provider="instagram",
            user_id=account_id,
            name=f"@{username}" if username else account_id,
            access_token=token,
            api_url=self.settings.instagram_api_url,
            issued_at=now,
            expires_at=expires_at,
            scopes=permissions,
            accounts=[LinkedAccount(account_id, username)],
            created_at=now,
            updated_at=now,
        )

    def can_refresh(self, conn: StoredConnection) -> bool:
        """Instagram tokens refresh only once >= 24 h old; Facebook re-exchange needs the app secret."""
        if conn.provider == "instagram":
            return self.clock() - conn.issued_at >= IG_REFRESH_MIN_AGE
        return bool(self.settings.client_id and self.settings.client_secret)

    def refresh(self, conn: StoredConnection) -> StoredConnection:
        """A renewed copy of `conn` (raises `GraphAPIError` when Meta refuses; the caller decides what that means)."""
        now = self.clock()
        if conn.provider == "instagram":
            if not self.can_refresh(conn):
                raise OAuthFlowError(
                    f"{conn.name}'s Instagram token was issued less than 24 hours ago and cannot be refreshed yet "
                    "(Meta's rule). Fix: nothing; it stays valid, try after 24 hours."
                )
            token, expires_at = self.refresh_instagram(conn.access_token)
            return replace(
                conn,
                access_token=token,
                issued_at=now,
                expires_at=expires_at,
                refreshed_at=now,
                updated_at=now,
                status="linked",
                last_error=None,
            )
        self.settings.require_app()
        token, expires_at = self.exchange_facebook_long_lived(conn.access_token)
        info = self.debug_token(token)
        pages, accounts = self.facebook_pages(token)
        return replace(
            conn,
            access_token=token,
            issued_at=info.issued_at or conn.issued_at,
            expires_at=info.expires_at or expires_at,
            data_access_expires_at=info.data_access_expires_at or conn.data_access_expires_at,
            scopes=info.scopes or conn.scopes,
            pages=pages,
            accounts=accounts,
            refreshed_at=now,
            updated_at=now,
            status="linked",
            last_error=None,
        )


# -- store helpers shared by the CLI and the tap -----------------------------------------------------------------


def save_connection(store: OAuthStore, conn: StoredConnection, now: dt.datetime) -> StoredConnection:
    """Insert or replace one connection (read-modify-write under the store's lock), keeping its first `created_at`."""

    def mutate(data: Any) -> StoredConnection:
        previous = data.connections.get(conn.key)
        saved = replace(
            conn,
            created_at=(previous.created_at if previous and previous.created_at else conn.created_at or now),
            updated_at=now,
        )
        saved.status = assess(saved, now).status
        data.connections[saved.key] = saved
        return saved

    return store.update(mutate)


def begin_pending_login(store: OAuthStore, settings: OAuthSettings, provider: Provider, now: dt.datetime) -> str:
    """Record a `state` for a headless login (`url`); `exchange` later redeems it once. Returns the state."""
    state = new_state()
    pending = PendingLogin(
        state=state,
        provider=provider,
        redirect_uri=settings.redirect_uri,
        api_url=settings.api_url(provider),
        created_at=now,
        expires_at=now + PENDING_LOGIN_TTL,
    )

    def mutate(data: Any) -> None:
        data.drop_expired_pending(now)
        data.pending[state] = pending

    store.update(mutate)
    return state


def redeem_pending_login(store: OAuthStore, redirect: Redirect, now: dt.datetime) -> PendingLogin:
    """The pending login a redirect's `state` belongs to, removed from the store (single use); refuse otherwise."""

    def mutate(data: Any) -> PendingLogin | None:
        data.drop_expired_pending(now)
        match = None
        for state, pending in data.pending.items():
            if redirect.state is not None and hmac.compare_digest(state, redirect.state):
                match = pending
        if match is not None:
            del data.pending[match.state]
        return match

    pending: PendingLogin | None = store.update(mutate)
    if pending is None:
        raise OAuthStateError(
            "The redirect's `state` matches no pending login (it is wrong, was already used, or is older than "
            f"{int(PENDING_LOGIN_TTL.total_seconds() // 60)} minutes), so it was refused. "
            "Fix: run `tap-creatorsocial-auth url` again, log in, and paste the new redirect URL into `exchange`."
        )
    return pending


# -- browser login ---------------------------------------------------------------------------------------------


class CallbackServer:
    """Serves `callback_url` on the loopback interface until a redirect with the expected `state` arrives.

    Redirects with another `state` are answered with an error page and ignored, so a stray or forged request
    cannot end (or hijack) the login.
    """

    def __init__(self, callback_url: str, expected_state: str, *, logger: logging.Logger | None = None) -> None:
        parts = urlsplit(callback_url)
        host = parts.hostname or ""
        if parts.scheme != "http" or host not in LOOPBACK_HOSTS or parts.port is None:
            raise OAuthFlowError(
                f"`callback_url` {callback_url} is not an http://localhost:PORT/… address this machine can serve, so "
                "`login` cannot receive the redirect. Fix: use `tap-creatorsocial-auth url` and `exchange "
                "--redirect-url …` instead, or set `callback_url` to e.g. http://localhost:33333/callback "
                "(registered in the Meta app's Valid OAuth Redirect URIs)."
            )
        self.callback_url = callback_url
        self.path = parts.path or "/"
        self.expected_state = expected_state
        self.logger = logger or logging.getLogger("tap-creatorsocial.oauth")
        self.result: str | None = None
        self._done = threading.Event()
        bind = "::1" if host == "::1" else "127.0.0.1"
        try:
            self.httpd = _LoopbackHTTPServer((bind, parts.port), _CallbackHandler)
        except OSError as exc:
            raise OAuthFlowError(
                f"Cannot listen on {host}:{parts.port} for the login callback ({exc.strerror}). Fix: stop whatever "
                "uses that port, or set `callback_url` to another registered redirect URI."
            ) from None
        self.httpd.owner = self

    def accept(self, request_path: str) -> tuple[int, str]:
        """Decide on one request to the callback; returns (HTTP status, page text)."""
        parts = urlsplit(request_path)
        if parts.path != self.path:
            return 404, "Not the login callback."
        redirect = parse_redirect(request_path)
        if redirect.state is None or not hmac.compare_digest(redirect.state, self.expected_state):
            self.logger.warning("Ignored a callback request whose `state` does not match this login")
            return 400, "This login response does not belong to the login in progress and was ignored."
        base = urlsplit(self.callback_url)
        self.result = urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))
        self._done.set()
        if redirect.error:
            return 200, "Access was not granted. Return to the terminal."
        return 200, "tap-creatorsocial received the login. You can close this tab and return to the terminal."

    def wait(self, timeout: float) -> str:
        """Handle requests until the redirect arrives; returns its full URL."""
        deadline = threading.Event()
        timer = threading.Timer(timeout, deadline.set)
        timer.daemon = True
        timer.start()
        self.httpd.timeout = 0.5
        try:
            while not self._done.is_set() and not deadline.is_set():
                self.httpd.handle_request()
        finally:
            timer.cancel()
        if self.result is None:
            raise OAuthFlowError(
                f"No login arrived at {self.callback_url} within {timeout:.0f}s. Fix: run `login` again and finish "
                "the consent in the browser, or on a machine without a browser use `url` and `exchange`."
            )
        return self.result

    def close(self) -> None:
        self.httpd.server_close()

    def __enter__(self) -> CallbackServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class _LoopbackHTTPServer(HTTPServer):
    owner: CallbackServer

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        import socket

        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)


class _CallbackHandler(BaseHTTPRequestHandler):
    server: _LoopbackHTTPServer

    def do_GET(self) -> None:
        status, text = self.server.owner.accept(self.path)
        page = (
            "<!DOCTYPE html><html><head><meta charset='utf-8'><title>tap-creatorsocial</title></head>"
            f"<body style='font-family:sans-serif;margin:3rem'><p>{html.escape(text)}</p></body></html>"
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, format: str, *args: object) -> None:
        """Silent: request lines carry the authorization code."""


def browser_login(
    client: OAuthClient,
    store: OAuthStore,
    provider: Provider,
    *,
    open_browser: Callable[[str], object] | None = None,
    timeout: float = 300.0,
    out: TextIO | None = None,
) -> StoredConnection:
    """The interactive login: open the consent dialog, receive the redirect on `callback_url`, store the connection."""
    import sys
    import webbrowser

    out = out or sys.stderr
    opener = open_browser or webbrowser.open
    client.settings.require_app()
    state = new_state()
    url = client.authorization_url(provider, state)
    with CallbackServer(client.settings.redirect_uri, state, logger=client.logger) as server:
        brand = "Facebook" if provider == "facebook" else "Instagram"
        print(f"Opening the {brand} login in your browser. If it does not open, visit:\n  {url}", file=out)
        try:
            opener(url)
        except Exception as exc:  # no browser: the printed URL is the fallback
            print(f"(Could not open a browser: {exc})", file=out)
        redirect_url = server.wait(timeout)
    code = require_code(parse_redirect(redirect_url), state)
    conn = client.complete_login(provider, code)
    return save_connection(store, conn, client.clock())

"""Token registry: issues, validates, exchanges, refreshes, debugs and revokes sandbox access tokens.

Tokens are opaque random strings that never resemble real Meta tokens (``SBXFB…`` / ``SBXIG…``; real ones start with
``EAA`` / ``IGQ`` / ``IGAA``), so a sandbox token leaking into a real request fails loudly and vice versa. Lifetimes
and the 190 error family follow Meta's documentation: FB short-lived user tokens live ~1-2 h, long-lived ones
5183944 s, page tokens derived from a long-lived user token never expire (``expires_at`` 0) but die with the user's
authorization, IG short-lived tokens live 1 h and long-lived ones 60 days, data access lapses 90 days after the user
last logged in to the app (subcode 493).
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
import string
import threading
from dataclasses import dataclass, field
from typing import Literal

from . import errors
from .errors import GraphError
from .model import Dataset, FacebookUser, InstagramUser, LoginKind

TokenKind = Literal["user", "page", "ig_user", "app"]

FB_SHORT_LIVED = dt.timedelta(hours=2)  # "expiring in hours" — typically 1-2 h
LONG_LIVED_SECONDS = 5183944  # Meta's documented expires_in for long-lived tokens (~60 days)
LONG_LIVED = dt.timedelta(seconds=LONG_LIVED_SECONDS)
IG_SHORT_LIVED = dt.timedelta(hours=1)
DATA_ACCESS = dt.timedelta(days=90)
CODE_TTL = dt.timedelta(hours=1)
IG_REFRESH_MIN_AGE = dt.timedelta(hours=24)

_ALPHABET = string.ascii_letters + string.digits
# Prefixes by token kind. None of them may start with a real Meta prefix (EAA…, IGQ…, IGAA…).
_PREFIX: dict[TokenKind, str] = {"user": "SBXFBU", "page": "SBXFBP", "ig_user": "SBXIGU", "app": ""}


def cannot_parse_error() -> GraphError:
    """190 without subcode: the token is not one this host can decode (garbage, or a token of the other host)."""
    return errors.cannot_parse_token()


def expired_error(expired_at: dt.datetime, now: dt.datetime) -> GraphError:
    """190/463 with Meta's "Session has expired on …" wording."""
    return errors.token_expired(expired_at, now)


def invalidated_error(subcode: int, app_id: str) -> GraphError:
    """190 with the subcode a revoked / invalidated token reports."""
    return errors.token_invalid(subcode, app_id=app_id)


@dataclass
class TokenRecord:
    """Everything Meta knows about one token (what ``/debug_token`` reveals plus the sandbox's revocation state)."""

    token: str
    kind: TokenKind
    host: LoginKind
    owner_id: str  # FB user id (user), page id (page), IG account id (ig_user), app id (app)
    user_id: str | None  # the person behind it: FB user id for user/page tokens, IG account id for IG tokens
    app_id: str
    issued_at: dt.datetime
    expires_at: dt.datetime | None  # None: never expires (page tokens from a long-lived user token, app tokens)
    data_access_expires_at: dt.datetime | None
    scopes: list[str] = field(default_factory=list)
    long_lived: bool = False
    invalid_subcode: int | None = None  # set when revoked / invalidated

    def expires_in(self, now: dt.datetime) -> int:
        """Seconds until expiry (as ``expires_in`` reports it); 0 for never-expiring tokens."""
        if self.expires_at is None:
            return 0
        return max(0, int((self.expires_at - now).total_seconds()))


@dataclass
class CodeRecord:
    """An OAuth authorization code: single use, 1 hour, bound to the client and the exact redirect_uri."""

    code: str
    login: LoginKind
    client_id: str
    redirect_uri: str
    owner_id: str  # FB user id or IG account id
    scopes: list[str]
    expires_at: dt.datetime
    used: bool = False


class CodeError(Exception):
    """Why a code could not be redeemed (oauth.py maps it to the host's documented error body)."""


class TokenRegistry:
    """Thread-safe store of sandbox tokens and OAuth codes for one dataset."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.app = dataset.app
        self._lock = threading.RLock()
        self._tokens: dict[str, TokenRecord] = {}
        self._codes: dict[str, CodeRecord] = {}
        self._page_tokens: dict[tuple[str, str], str] = {}  # (page id, user token or "long") -> page token
        # One seeded stream per token kind: demo tokens are identical across processes and emulators of one seed.
        self._rngs = {kind: random.Random(f"sandbox-tokens-{dataset.seed}-{kind}") for kind in _PREFIX}
        self._seed()

    # ------------------------------------------------------------------ issuing

    def _new_string(self, kind: TokenKind, *, seeded: bool = False) -> str:
        body = (
            "".join(self._rngs[kind].choice(_ALPHABET) for _ in range(48))
            if seeded
            else "".join(secrets.choice(_ALPHABET) for _ in range(48))
        )
        return _PREFIX[kind] + body

    def _add(self, record: TokenRecord) -> TokenRecord:
        with self._lock:
            self._tokens[record.token] = record
        return record

    def _seed(self) -> None:
        """Issue the demo connections: a long-lived token per FB user (+ page tokens) and per IG-login user."""
        ds = self.dataset
        issued = ds.now - dt.timedelta(days=2)
        if ds.demo_tokens:  # the dataset already carries demo tokens: register exactly those
            for login, owner, token in ds.demo_tokens:
                if login == "facebook":
                    self.issue_fb_user(owner, long_lived=True, now=issued, token=token)
                else:
                    self.issue_ig(owner, long_lived=True, now=issued, token=token)
        else:
            for user in ds.facebook_users:
                rec = self.issue_fb_user(user.id, long_lived=True, now=issued, seeded=True)
                ds.demo_tokens.append(("facebook", user.id, rec.token))
            for ig in ds.instagram_users:
                rec = self.issue_ig(ig.account_id, long_lived=True, now=issued, seeded=True)
                ds.demo_tokens.append(("instagram", ig.account_id, rec.token))
        for user in ds.facebook_users:
            for page in user.pages:
                self.page_token(page.id, user.id, None, now=issued, seeded=True)

    def _fb_user(self, user_id: str) -> FacebookUser | None:
        return next((u for u in self.dataset.facebook_users if u.id == user_id), None)

    def _ig_user(self, account_id: str) -> InstagramUser | None:
        return next((u for u in self.dataset.instagram_users if u.account_id == account_id), None)

    def issue_fb_user(
        self,
        user_id: str,
        *,
        long_lived: bool,
        now: dt.datetime,
        scopes: list[str] | None = None,
        token: str | None = None,
        seeded: bool = False,
        data_access_from: dt.datetime | None = None,
    ) -> TokenRecord:
        """A Facebook-Login user token (short-lived ~2 h, or long-lived 5183944 s)."""
        user = self._fb_user(user_id)
        granted = list(scopes if scopes is not None else (user.scopes if user else []))
        return self._add(
            TokenRecord(
                token=token or self._new_string("user", seeded=seeded),
                kind="user",
                host="facebook",
                owner_id=user_id,
                user_id=user_id,
                app_id=self.app.id,
                issued_at=now,
                expires_at=now + (LONG_LIVED if long_lived else FB_SHORT_LIVED),
                data_access_expires_at=(data_access_from or now) + DATA_ACCESS,
                scopes=granted,
                long_lived=long_lived,
            )
        )

    def page_token(
        self, page_id: str, user_id: str, user_token: TokenRecord | None, *, now: dt.datetime, seeded: bool = False
    ) -> TokenRecord:
        """The page token ``/me/accounts`` hands out: never expires when the user token is long-lived (or seeded)."""
        key = (page_id, "long" if user_token is None or user_token.long_lived else user_token.token)
        with self._lock:
            existing = self._page_tokens.get(key)
            if existing is not None:
                rec = self._tokens[existing]
                if rec.invalid_subcode is None:
                    return rec
            user = self._fb_user(user_id)
            rec = self._add(
                TokenRecord(
                    token=self._new_string("page", seeded=seeded),
                    kind="page",
                    host="facebook",
                    owner_id=page_id,
                    user_id=user_id,
                    app_id=self.app.id,
                    issued_at=now,
                    expires_at=None if key[1] == "long" else (user_token.expires_at if user_token else None),
                    data_access_expires_at=(
                        user_token.data_access_expires_at if user_token is not None else now + DATA_ACCESS
                    ),
                    scopes=list(user_token.scopes if user_token else (user.scopes if user else [])),
                    long_lived=key[1] == "long",
                )
            )
            self._page_tokens[key] = rec.token
            return rec

    def issue_ig(
        self,
        account_id: str,
        *,
        long_lived: bool,
        now: dt.datetime,
        scopes: list[str] | None = None,
        token: str | None = None,
        seeded: bool = False,
    ) -> TokenRecord:
        """An Instagram-Login user token (short-lived 1 h, long-lived 60 days)."""
        ig = self._ig_user(account_id)
        granted = list(scopes if scopes is not None else (ig.scopes if ig else []))
        return self._add(
            TokenRecord(
                token=token or self._new_string("ig_user", seeded=seeded),
                kind="ig_user",
                host="instagram",
                owner_id=account_id,
                user_id=account_id,
                app_id=self.app.id,
                issued_at=now,
                expires_at=now + (LONG_LIVED if long_lived else IG_SHORT_LIVED),
                data_access_expires_at=None,
                scopes=granted,
                long_lived=long_lived,
            )
        )

    def app_token(self) -> str:
        """The app access token ``{app-id}|{app-secret}``."""
        return f"{self.app.id}|{self.app.secret}"

    # ---------------------------------------------------------------- validation

    def lookup(self, token: str) -> TokenRecord | None:
        """The record for a token string, or ``None`` (app tokens are synthesised)."""
        if token == self.app_token():
            return TokenRecord(
                token=token,
                kind="app",
                host="facebook",
                owner_id=self.app.id,
                user_id=None,
                app_id=self.app.id,
                issued_at=self.dataset.now,
                expires_at=None,
                data_access_expires_at=None,
            )
        with self._lock:
            return self._tokens.get(token)

    def check(self, record: TokenRecord, now: dt.datetime) -> None:
        """Raise the 190 error for a known token that is no longer usable (revoked, expired, data access lapsed)."""
        if record.invalid_subcode is not None:
            raise invalidated_error(record.invalid_subcode, record.app_id)
        if record.expires_at is not None and now >= record.expires_at:
            raise expired_error(record.expires_at, now)
        if record.data_access_expires_at is not None and now >= record.data_access_expires_at:
            raise invalidated_error(493, record.app_id)

    def validate(self, token: str, host: LoginKind, now: dt.datetime) -> TokenRecord:
        """The usable token record for a request on ``host``, or the 190 error Meta returns."""
        record = self.lookup(token)
        if record is None:
            if "|" in token:  # looks like an app token with a wrong id or secret
                raise GraphError("Invalid OAuth access token signature.", code=190, status=400)
            raise cannot_parse_error()
        if record.host != host:  # an IG token on graph.facebook.com or vice versa cannot be decoded there
            raise cannot_parse_error()
        self.check(record, now)
        return record

    # ----------------------------------------------------------- state changes

    def expire(self, token: str, now: dt.datetime) -> TokenRecord:
        """Make a token expired as of one second ago (tests / scenarios)."""
        with self._lock:
            rec = self._require(token)
            rec.expires_at = now - dt.timedelta(seconds=1)
            return rec

    def expire_data_access(self, token: str, now: dt.datetime) -> TokenRecord:
        """Make the token's data access lapse (190/493)."""
        with self._lock:
            rec = self._require(token)
            rec.data_access_expires_at = now - dt.timedelta(seconds=1)
            return rec

    def revoke(self, token: str, subcode: int = 460) -> TokenRecord:
        """Invalidate one token with the given 190 subcode."""
        with self._lock:
            rec = self._require(token)
            rec.invalid_subcode = subcode
            return rec

    def revoke_owner(self, owner: str | None, subcode: int = 460) -> int:
        """Invalidate every user token tied to ``owner`` (IG account, FB user or page id; None = all). Returns count.

        An IG account id also matches the FB user / page tokens of the page it is linked to, because killing "the
        creator's connection" must kill whichever login path reaches that account.
        """
        owners: set[str] | None = None
        if owner is not None:
            owners = {owner}
            for user in self.dataset.facebook_users:
                for page in user.pages:
                    if owner in (page.ig_account_id, page.id):
                        owners.update({user.id, page.id})
                if owner == user.id:
                    owners.update(p.id for p in user.pages)
        count = 0
        with self._lock:
            for rec in self._tokens.values():
                if rec.kind == "app" or rec.invalid_subcode is not None:
                    continue
                if owners is None or rec.owner_id in owners or (rec.user_id in owners and rec.kind != "ig_user"):
                    rec.invalid_subcode = subcode
                    count += 1
        return count

    def deauthorize_user(self, user_id: str) -> int:
        """``DELETE /me/permissions``: the user removed the app — all their user and page tokens die with 190/458."""
        count = 0
        with self._lock:
            for rec in self._tokens.values():
                if rec.kind in ("user", "page") and rec.user_id == user_id and rec.invalid_subcode is None:
                    rec.invalid_subcode = 458
                    count += 1
        return count

    def renew_data_access(self, user_id: str, now: dt.datetime) -> None:
        """A fresh Facebook login renews data access (90 days) for all of the user's tokens."""
        with self._lock:
            for rec in self._tokens.values():
                if rec.kind in ("user", "page") and rec.user_id == user_id and rec.data_access_expires_at is not None:
                    rec.data_access_expires_at = now + DATA_ACCESS

    def revoke_scope(self, user_id: str, scope: str) -> int:
        """``DELETE /me/permissions/{scope}``: drop one permission from the user's user and page tokens."""
        count = 0
        with self._lock:
            for rec in self._tokens.values():
                if rec.kind in ("user", "page") and rec.user_id == user_id and scope in rec.scopes:
                    rec.scopes = [s for s in rec.scopes if s != scope]
                    count += 1
        return count

    def _require(self, token: str) -> TokenRecord:
        rec = self._tokens.get(token)
        if rec is None:
            raise KeyError(f"unknown token {token[:10]}…")
        return rec

    # ----------------------------------------------------------- exchange/refresh

    def exchange_fb(self, short_token: str, now: dt.datetime) -> TokenRecord:
        """``grant_type=fb_exchange_token``: a valid FB user token → a new long-lived user token."""
        rec = self.validate(short_token, "facebook", now)
        if rec.kind != "user":
            raise GraphError("Invalid OAuth access token.", code=190, status=400)
        return self.issue_fb_user(
            rec.owner_id,
            long_lived=True,
            now=now,
            scopes=rec.scopes,
            data_access_from=(rec.data_access_expires_at - DATA_ACCESS) if rec.data_access_expires_at else now,
        )

    def exchange_ig(self, short_token: str, now: dt.datetime) -> TokenRecord:
        """``grant_type=ig_exchange_token``: a valid short-lived IG token → a long-lived (60 d) one."""
        rec = self.validate(short_token, "instagram", now)
        if rec.kind != "ig_user" or rec.long_lived:
            raise (
                GraphError("Unsupported request - method type: get", code=100, type="IGApiException", status=400)
                if rec.kind != "ig_user"
                else GraphError("Invalid OAuth access token - the token is already long-lived", code=190, status=400)
            )
        return self.issue_ig(rec.owner_id, long_lived=True, now=now, scopes=rec.scopes)

    def refresh_ig(self, long_token: str, now: dt.datetime) -> TokenRecord:
        """``grant_type=ig_refresh_token``: a long-lived IG token at least 24 h old and unexpired → a fresh one.

        The exact error for a too-young token is undocumented (UNCERTAIN); the sandbox answers code 100 so a client
        that refreshes too eagerly sees a non-auth, non-retryable error rather than a fake re-auth demand.
        """
        rec = self.validate(long_token, "instagram", now)
        if rec.kind != "ig_user" or not rec.long_lived:
            raise GraphError(
                "Invalid parameter: only long-lived access tokens can be refreshed",
                code=100,
                type="IGApiException",
                status=400,
            )
        if now - rec.issued_at < IG_REFRESH_MIN_AGE:
            raise GraphError(
                "Invalid parameter: the access token can only be refreshed after it is at least 24 hours old",
                code=100,
                type="IGApiException",
                status=400,
            )
        return self.issue_ig(rec.owner_id, long_lived=True, now=now, scopes=rec.scopes)

    # ------------------------------------------------------------------ codes

    def issue_code(
        self, *, login: LoginKind, client_id: str, redirect_uri: str, owner_id: str, scopes: list[str], now: dt.datetime
    ) -> str:
        """A new authorization code for the consent the user just gave."""
        code = ("SBXCFB" if login == "facebook" else "SBXCIG") + "".join(secrets.choice(_ALPHABET) for _ in range(40))
        with self._lock:
            self._codes[code] = CodeRecord(code, login, client_id, redirect_uri, owner_id, list(scopes), now + CODE_TTL)
        return code

    def redeem_code(
        self, code: str, *, login: LoginKind, client_id: str, redirect_uri: str, now: dt.datetime
    ) -> CodeRecord:
        """Consume a code once; raise ``CodeError`` when unknown, used, expired, or bound to another client/URI."""
        with self._lock:
            rec = self._codes.get(code)
            if rec is None or rec.login != login:
                raise CodeError("unknown code")
            if rec.used:
                raise CodeError("code already used")
            if now >= rec.expires_at:
                raise CodeError("code expired")
            if rec.client_id != client_id:
                raise CodeError("client mismatch")
            if rec.redirect_uri != redirect_uri:
                raise CodeError("redirect_uri mismatch")
            rec.used = True
            return rec

    # ------------------------------------------------------------------ debug

    def debug(self, input_token: str, now: dt.datetime) -> dict[str, object]:
        """The ``/debug_token`` ``data`` object for any token (``is_valid:false`` + error for unusable ones)."""
        rec = self.lookup(input_token)
        if rec is None or rec.host != "facebook":
            err = cannot_parse_error()
            return {"is_valid": False, "error": {"code": err.code, "message": err.message}, "scopes": []}
        data: dict[str, object] = {
            "app_id": rec.app_id,
            "type": {"user": "USER", "page": "PAGE", "ig_user": "USER", "app": "APP"}[rec.kind],
            "application": "Creatorsocial Sandbox",
            "data_access_expires_at": int(rec.data_access_expires_at.timestamp()) if rec.data_access_expires_at else 0,
            "expires_at": int(rec.expires_at.timestamp()) if rec.expires_at else 0,
            "is_valid": True,
            "issued_at": int(rec.issued_at.timestamp()),
            "scopes": list(rec.scopes),
            "granular_scopes": self._granular(rec),
        }
        if rec.user_id is not None:
            data["user_id"] = rec.user_id
        if rec.kind == "page":
            data["profile_id"] = rec.owner_id
        if rec.kind == "app":
            data.pop("issued_at")
        try:
            self.check(rec, now)
        except GraphError as err:
            data["is_valid"] = False
            error: dict[str, object] = {"code": err.code, "message": err.message}
            if err.subcode is not None:
                error["subcode"] = err.subcode
            data["error"] = error
        return data

    def _granular(self, rec: TokenRecord) -> list[dict[str, object]]:
        targets: list[str] = []
        if rec.kind in ("user", "page"):
            for user in self.dataset.facebook_users:
                if user.id == rec.user_id:
                    for page in user.pages:
                        if rec.kind == "page" and page.id != rec.owner_id:
                            continue
                        targets.append(page.id)
                        if page.ig_account_id:
                            targets.append(page.ig_account_id)
        elif rec.kind == "ig_user":
            targets.append(rec.owner_id)
        out: list[dict[str, object]] = []
        for scope in rec.scopes:
            item: dict[str, object] = {"scope": scope}
            if targets and (scope.startswith("instagram") or scope.startswith("pages")):
                item["target_ids"] = list(targets)
            out.append(item)
        return out

    # ------------------------------------------------------------- visibility

    def visible_accounts(self, rec: TokenRecord) -> set[str]:
        """IG account ids this token may read: a user's linked accounts, a page's account, an IG token's own."""
        if rec.kind == "ig_user":
            return {rec.owner_id}
        out: set[str] = set()
        for user in self.dataset.facebook_users:
            for page in user.pages:
                if page.ig_account_id is None:
                    continue
                if (rec.kind == "user" and user.id == rec.owner_id) or (rec.kind == "page" and page.id == rec.owner_id):
                    out.add(page.ig_account_id)
        return out

"""The creator connect page (Flask): admins hand out invite links, creators grant read-only access through Meta.

Admin side (`/admin`, behind the admin secret): create invite links, list connections with their health, copy a
reconnect link, check tokens with Meta, revoke. Creator side (`/connect`): what read-only access means, "Connect
with Facebook" / "Connect with Instagram", Meta's consent dialog, `/callback`, and a result page.

Security choices:
* CSRF: Flask-WTF's `CSRFProtect` on every POST (session-bound, signed, time-limited tokens); a maintained,
  reviewed implementation beats a home-made double-submit scheme for the one thing that guards admin actions.
* OAuth `state`: random, prefixed by the invite id, kept in the creator's session cookie and (as a SHA-256) on the
  invite in the store; the callback must match both and consumes it, so a wrong, replayed or foreign `state` is
  refused before any code is redeemed.
* Nothing secret is rendered or logged: tokens stay in the store, the admin secret is only compared, request
  lines are logged without query strings (they carry codes and invite tokens), and errors go through `redact`.
* Behind an HTTPS reverse proxy: `connect_public_url` https → Secure cookies and https URLs; `connect_proxy_hops`
  → werkzeug's ProxyFix trusts that many proxies' X-Forwarded-For/-Proto/-Host/-Prefix headers.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

import requests
from flask import Flask, abort, flash, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers.response import Response

from tap_creatorsocial.error_policy import Action, classify
from tap_creatorsocial.errors import GraphAPIError, redact
from tap_creatorsocial.oauth.flows import OAuthClient, OAuthFlowError, OAuthSettings, save_connection, utcnow
from tap_creatorsocial.oauth.manager import connection_label
from tap_creatorsocial.oauth.store import (
    OAuthStore,
    OAuthStoreError,
    Provider,
    StoreData,
    StoredConnection,
    assess,
    open_store,
)

from . import invites as inv
from .settings import ConnectSettings

ADMIN_SESSION = dt.timedelta(hours=12)
LOGIN_FAILURES_ALLOWED = 5
LOGIN_LOCKOUT_SECONDS = 15 * 60
BRANDS: dict[Provider, str] = {"facebook": "Facebook", "instagram": "Instagram"}
REVOKE_HOW: dict[Provider, str] = {
    "facebook": "Facebook → Settings & privacy → Settings → Business integrations (or Apps and websites) → select "
    "the app → Remove",
    "instagram": "Instagram → Settings → Website permissions → Apps and websites → select the app → Remove",
}
_QUERY = re.compile(r"\?[^\s\"]*")
R = TypeVar("R")

log = logging.getLogger("tap-creatorsocial.connect")


class _RequestLineFilter(logging.Filter):
    """Drops query strings from werkzeug's request lines: /callback?code=… and /connect?invite=… are secrets."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(_QUERY.sub("?…", message))
        if masked != message:
            record.msg, record.args = masked, ()
        return True


_REQUEST_FILTER = _RequestLineFilter()


def guard_request_logs() -> None:
    """Attach the filter to the dev server's request logger (idempotent)."""
    logger = logging.getLogger("werkzeug")
    if _REQUEST_FILTER not in logger.filters:
        logger.addFilter(_REQUEST_FILTER)


@dataclass
class _LoginThrottle:
    """A per-process brake on guessing the admin secret: a few failures per client address, then a pause."""

    failures: dict[str, list[float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def blocked(self, who: str) -> bool:
        with self.lock:
            recent = [t for t in self.failures.get(who, []) if time.monotonic() - t < LOGIN_LOCKOUT_SECONDS]
            self.failures[who] = recent
            return len(recent) >= LOGIN_FAILURES_ALLOWED

    def failed(self, who: str) -> None:
        with self.lock:
            self.failures.setdefault(who, []).append(time.monotonic())

    def succeeded(self, who: str) -> None:
        with self.lock:
            self.failures.pop(who, None)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _when(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "never"


def _duration(value: dt.timedelta) -> str:
    days = value.total_seconds() / 86400
    return f"{days:g} day{'s' if days != 1 else ''}" if days >= 1 else f"{value.total_seconds() / 3600:g} hours"


def _accounts(conn: StoredConnection) -> list[str]:
    return [f"@{a.username}" if a.username else a.id for a in conn.accounts]


def create_app(
    config: Mapping[str, Any],
    settings: ConnectSettings,
    *,
    store: OAuthStore | None = None,
    http: requests.Session | None = None,
    clock: Callable[[], dt.datetime] = utcnow,
) -> Flask:
    """The WSGI app. `config` is the tap's config (app id/secret, Graph hosts, `oauth_settings_location`)."""
    oauth_settings = OAuthSettings.from_config(config)
    oauth_settings.require_app()
    store = store or open_store(config.get("oauth_settings_location"))
    if http is None:
        http = requests.Session()
        http.headers["User-Agent"] = "tap-creatorsocial-connect"
    client = OAuthClient(oauth_settings, http, clock=clock, logger=logging.getLogger("tap-creatorsocial.oauth"))
    signer = inv.InviteSigner(settings.derived_key("invites"), settings.invite_lifetime)
    throttle = _LoginThrottle()
    guard_request_logs()

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.derived_key("session"),
        SESSION_COOKIE_NAME="creatorsocial_connect",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",  # sent on Meta's top-level redirect to /callback, not on cross-site POSTs
        SESSION_COOKIE_SECURE=settings.secure,
        PREFERRED_URL_SCHEME="https" if settings.secure else "http",
        PERMANENT_SESSION_LIFETIME=ADMIN_SESSION,
        WTF_CSRF_TIME_LIMIT=int(ADMIN_SESSION.total_seconds()),
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    if settings.proxy_hops:
        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_prefix=hops)  # type: ignore[method-assign]
    CSRFProtect(app)
    app.extensions["creatorsocial_connect"] = {"store": store, "settings": settings, "client": client}
    consent_origins = " ".join(
        sorted({_origin(oauth_settings.facebook_www_url), _origin(oauth_settings.instagram_www_url)})
    )
    csp = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; base-uri 'none'; "
        f"frame-ancestors 'none'; form-action 'self' {consent_origins}"  # our forms redirect to Meta's dialogs
    )
    organization = settings.organization or "Your partner"

    # -- helpers --------------------------------------------------------------------------------------------
    def now() -> dt.datetime:
        return clock()

    def page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
        return render_template(template, organization=organization, **context), status

    def message(title: str, text: str, status: int, *, back: str | None = None) -> tuple[str, int]:
        return page("message.html", status, title=title, text=text, back=back)

    def invite_link(invite_id: str) -> str:
        return f"{settings.public_url}/connect?{urlencode({'invite': signer.sign(invite_id)})}"

    def is_admin() -> bool:
        since = session.get("admin_since")
        return (
            bool(session.get("admin"))
            and isinstance(since, (int, float))
            and time.time() - since < ADMIN_SESSION.total_seconds()
        )

    def admin_required(view: Callable[..., R]) -> Callable[..., R | Response]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> R | Response:
            if not is_admin():
                if request.method == "GET":
                    return redirect(url_for("admin_login"), 303)
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    def ours(conn: StoredConnection) -> bool:
        """Issued for the Graph host this app talks to (a sandbox token is never sent to Meta, nor back)."""
        return conn.api_url == oauth_settings.api_url(conn.provider)

    # -- responses ------------------------------------------------------------------------------------------
    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "same-origin"  # invite tokens never leak to Meta in Referer
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = csp
        return response

    @app.errorhandler(CSRFError)
    def csrf_refused(error: CSRFError) -> tuple[str, int]:
        log.warning("Refused a form without a valid CSRF token: %s %s", request.method, request.path)
        return message(
            "Form expired",
            "This form was not sent from this page, or it is too old. Go back, reload the page and try again.",
            400,
        )

    @app.errorhandler(inv.InviteError)
    def invite_refused(error: inv.InviteError) -> tuple[str, int]:
        return message("Link not usable", str(error), error.status)

    @app.errorhandler(OAuthStoreError)
    def store_unusable(error: OAuthStoreError) -> tuple[str, int]:
        log.error("%s", error)  # names the file and the fix; holds no token
        return message(
            "Temporarily unavailable", "The connection store cannot be used right now. Try again later.", 503
        )

    @app.errorhandler(403)
    def forbidden(_error: Exception) -> tuple[str, int]:
        return message("Not allowed", "Sign in as an admin first.", 403, back=url_for("admin_login"))

    @app.get("/")
    def index() -> Response:
        return redirect(url_for("admin"), 303)

    @app.get("/healthz")
    def healthz() -> tuple[str, int, dict[str, str]]:
        return "ok", 200, {"Content-Type": "text/plain"}

    # -- admin ----------------------------------------------------------------------------------------------
    @app.route("/admin/login", methods=["GET", "POST"])
    def admin_login() -> Any:
        if request.method == "GET":
            return page("admin_login.html")
        who = request.remote_addr or "?"
        if throttle.blocked(who):
            log.warning("Admin sign-in paused for %s after repeated failures", who)
            return message("Too many attempts", "Too many wrong secrets. Wait 15 minutes and try again.", 429)
        given = request.form.get("secret", "")
        if not hmac.compare_digest(given.encode(), settings.admin_secret.encode()):
            throttle.failed(who)
            log.warning("Failed admin sign-in from %s", who)
            return page("admin_login.html", 401, error="That is not the admin secret.")
        throttle.succeeded(who)
        session.clear()  # a fresh session (and CSRF token) for the admin
        session.permanent = True
        session["admin"] = True
        session["admin_since"] = time.time()
        log.info("Admin signed in from %s", who)
        return redirect(url_for("admin"), 303)

    @app.post("/admin/logout")
    def admin_logout() -> Response:
        session.clear()
        return redirect(url_for("admin_login"), 303)

    @app.get("/admin")
    @admin_required
    def admin() -> Any:
        moment = now()
        data = store.load()
        rows = []
        for conn in sorted(data.connections.values(), key=lambda c: (c.name.lower(), c.key)):
            health = assess(conn, moment)
            rows.append(
                {
                    "key": conn.key,
                    "name": conn.name,
                    "provider": BRANDS[conn.provider],
                    "accounts": ", ".join(_accounts(conn)) or "(none)",
                    "expires": _when(conn.expires_at),
                    "data_access": _when(conn.data_access_expires_at),
                    "status": health.status,
                    "label": health.label,
                    "reason": health.reason,
                    "ours": ours(conn),
                }
            )
        invites = []
        for invite in inv.load_invites(data):
            status = invite.status(moment)
            invites.append(
                {
                    "id": invite.id,
                    "label": invite.label,
                    "kind": "Reconnect" if invite.kind == "reconnect" else "New",
                    "connection": invite.connection,
                    "status": status,
                    "expires": _when(invite.expires_at),
                    "used": _when(invite.used_at) if invite.used_at else "",
                    "result": invite.result,
                    "link": invite_link(invite.id) if status == "open" else None,
                }
            )
        fresh = request.args.get("invite")
        return page(
            "admin.html",
            rows=rows,
            invites=invites,
            fresh=next((i for i in invites if i["id"] == fresh and i["link"]), None),
            store_location=store.location,
            redirect_uri=settings.redirect_uri,
            invite_days=_duration(settings.invite_lifetime),
        )

    @app.post("/admin/invites")
    @admin_required
    def create_invite() -> Response:
        label = request.form.get("label", "").strip()
        if not label:
            flash("Give the invite a name (the creator it is for).", "error")
            return redirect(url_for("admin"), 303)
        invite = inv.new_invite(label, now(), settings.invite_lifetime)

        def mutate(data: StoreData) -> None:
            inv.prune(data, now())
            inv.put_invite(data, invite)

        store.update(mutate)
        log.info("Invite %s created for %r", invite.id, invite.label)
        flash(f"Invite created for {invite.label}. Copy the link below and send it to them.", "ok")
        return redirect(url_for("admin", invite=invite.id, _anchor="new-invite"), 303)

    @app.post("/admin/invites/cancel")
    @admin_required
    def cancel_invite() -> Response:
        invite_id = request.form.get("invite", "")

        def mutate(data: StoreData) -> bool:
            invite = inv.get_invite(data, invite_id)
            if invite is None or invite.status(now()) != "open":
                return False
            invite.cancelled_at = now()
            invite.consent_state = None
            inv.put_invite(data, invite)
            return True

        if store.update(mutate):
            flash("Invite withdrawn: its link no longer works.", "ok")
        return redirect(url_for("admin", _anchor="invites"), 303)

    @app.post("/admin/connections/reconnect")
    @admin_required
    def reconnect_invite() -> Response:
        key = request.form.get("key", "")

        def mutate(data: StoreData) -> inv.Invite | None:
            conn = data.connections.get(key)
            if conn is None:
                return None
            invite = inv.new_invite(
                conn.name, now(), settings.invite_lifetime, connection=conn.key, provider=conn.provider
            )
            inv.prune(data, now())
            inv.put_invite(data, invite)
            return invite

        invite = store.update(mutate)
        if invite is None:
            flash("That connection no longer exists.", "error")
            return redirect(url_for("admin"), 303)
        log.info("Reconnect invite %s created for %s", invite.id, key)
        flash(f"Reconnect link for {invite.label}: it only accepts a login as that same account.", "ok")
        return redirect(url_for("admin", invite=invite.id, _anchor="new-invite"), 303)

    @app.post("/admin/connections/check")
    @admin_required
    def check_connections() -> Response:
        wanted = request.form.get("key") or None
        counts = {"linked": 0, "expiring_soon": 0, "reconnect_needed": 0, "unchecked": 0}
        for conn in list(store.load().connections.values()):
            if wanted is not None and conn.key != wanted:
                continue
            if not ours(conn) or conn.status == "reconnect_needed":
                counts["unchecked" if not ours(conn) else "reconnect_needed"] += 1
                continue
            verdict = verify(client, conn)
            if verdict is None:
                counts["unchecked"] += 1
                continue
            record_check(store, conn, verdict, now())
            counts["linked" if verdict.valid else "reconnect_needed"] += 1
        flash(
            f"Checked with Meta: {counts['linked']} valid, {counts['reconnect_needed']} need reconnecting"
            + (f", {counts['unchecked']} could not be checked" if counts["unchecked"] else "")
            + ".",
            "ok",
        )
        return redirect(url_for("admin", _anchor="connections"), 303)

    @app.post("/admin/connections/revoke")
    @admin_required
    def revoke_connection() -> Response:
        key = request.form.get("key", "")
        conn = store.load().connections.get(key)
        if conn is None:
            flash("That connection no longer exists.", "error")
            return redirect(url_for("admin"), 303)
        label = connection_label(conn)
        if conn.provider == "facebook" and ours(conn):
            try:
                client.revoke_facebook(conn.access_token)
                note = "app permissions revoked at Facebook"
            except GraphAPIError as exc:
                if classify(exc) is not Action.RECONNECT:
                    flash(f"Meta refused the revocation ({exc.message}); the connection was kept. Try again.", "error")
                    return redirect(url_for("admin"), 303)
                note = "the token was already invalid at Facebook"
            except requests.RequestException:
                flash("Could not reach Meta to revoke; the connection was kept. Try again.", "error")
                return redirect(url_for("admin"), 303)
        elif conn.provider == "instagram":
            note = "Instagram has no revocation API; the creator can remove the app in " + REVOKE_HOW["instagram"]
        else:
            note = "token issued for another API host; forgotten here only"

        def mutate(data: StoreData) -> None:
            data.connections.pop(key, None)

        store.update(mutate)
        log.info("Revoked and removed connection %s", label)
        flash(f"{conn.name}: {note}. The connection was removed.", "ok")
        return redirect(url_for("admin"), 303)

    # -- creator --------------------------------------------------------------------------------------------
    @app.get("/connect")
    def connect_page() -> Any:
        token = request.args.get("invite")
        if token is not None:
            invite_id = signer.unsign(token)
            inv.require_open(inv.get_invite(store.load(), invite_id), now())
            session.pop("oauth", None)
            session.pop("result", None)
            session["invite"] = invite_id
            return redirect(url_for("connect_page"), 303)  # the token leaves the address bar and history
        current = session.get("invite")
        if not isinstance(current, str):
            return message("Open your link", "Open the link you were sent to connect your account.", 400)
        invite = inv.require_open(inv.get_invite(store.load(), current), now())
        return page("connect.html", invite=invite, brands=BRANDS, providers=invite.providers())

    @app.post("/connect/start")
    def connect_start() -> Response:
        invite_id = session.get("invite")
        provider = request.form.get("provider")
        if not isinstance(invite_id, str):
            raise inv.InviteError("Open the link you were sent to connect your account.")
        if provider not in BRANDS:
            abort(400)
        chosen: Provider = "instagram" if provider == "instagram" else "facebook"
        _invite, state = store.update(lambda data: inv.begin_consent(data, invite_id, chosen, now()))
        session["oauth"] = {"invite": invite_id, "state": state, "provider": chosen}
        url = client.authorization_url(chosen, state, redirect_uri=settings.redirect_uri)
        return redirect(url, 303)

    @app.get("/callback")
    def callback() -> Any:
        flow = session.get("oauth")
        state = request.args.get("state")
        if not isinstance(flow, dict) or not isinstance(flow.get("state"), str):
            log.warning("Refused a callback with no login in progress in this browser")
            return message(
                "Login not recognised",
                "This login response did not come from a login started from your link in this browser, so it was "
                "refused. Open your link again and press the button once more.",
                400,
            )
        if state is None or not hmac.compare_digest(state, flow["state"]):
            log.warning("Refused a callback whose `state` does not match the login in progress")
            return message(
                "Login refused",
                "This login response does not match the login started from your link (it may be stale or forged), "
                "so it was refused. Open your link again and press the button once more.",
                400,
            )
        invite_id = str(flow["invite"])
        invite = store.update(lambda data: inv.consume_consent(data, invite_id, state, now()))
        session.pop("oauth", None)
        provider: Provider = invite.consent_provider or (
            "instagram" if flow.get("provider") == "instagram" else "facebook"
        )
        back = url_for("connect_page")
        if request.args.get("error"):
            return message(
                "Nothing was connected",
                f"You did not grant access on {BRANDS[provider]}, so nothing was connected. You can try again with "
                "your link.",
                200,
                back=back,
            )
        code = (request.args.get("code") or "").removesuffix("#_")
        if not code:
            return message("Login incomplete", "Meta's response had no authorization code. Try again.", 400, back=back)
        try:
            conn = client.complete_login(provider, code, redirect_uri=settings.redirect_uri)
        except (GraphAPIError, OAuthFlowError, requests.RequestException) as exc:
            log.warning(
                "Login for invite %s failed: %s", invite_id, redact(str(exc), code, oauth_settings.client_secret)
            )
            return message(
                "Login did not complete",
                "Meta did not complete the login. Nothing was connected. Try again with your link in a few minutes.",
                502,
                back=back,
            )
        if invite.kind == "reconnect" and conn.key != invite.connection:
            log.warning(
                "Reconnect invite %s was used by %s instead of %s; refused", invite_id, conn.key, invite.connection
            )
            return message(
                "Different account",
                f"You logged in as {conn.name}, but this link is for reconnecting {invite.label}. Nothing was "
                "changed. Log out of that account on Meta, open your link again and log in as the right one.",
                409,
                back=back,
            )
        saved = save_connection(store, conn, now())
        store.update(lambda data: inv.mark_used(data, invite_id, saved.key, now()))
        session.pop("invite", None)
        session["result"] = {
            "name": saved.name,
            "provider": saved.provider,
            "accounts": _accounts(saved),
            "reconnect": invite.kind == "reconnect",
        }
        log.info("Invite %s connected %s (%d account(s))", invite_id, connection_label(saved), len(saved.accounts))
        return redirect(url_for("connect_done"), 303)  # the code leaves the address bar and history

    @app.get("/connect/done")
    def connect_done() -> Any:
        result = session.get("result")
        if not isinstance(result, dict):
            return message("Open your link", "Open the link you were sent to connect your account.", 400)
        provider: Provider = "instagram" if result.get("provider") == "instagram" else "facebook"
        return page("done.html", result=result, brand=BRANDS[provider], revoke_how=REVOKE_HOW[provider])

    return app


# -- token checks -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What Meta said about one token when an admin checked it."""

    valid: bool
    reason: str = ""
    expires_at: dt.datetime | None = None
    data_access_expires_at: dt.datetime | None = None


def verify(client: OAuthClient, conn: StoredConnection) -> Verdict | None:
    """Ask Meta whether a token still works (FB: /debug_token; IG: /me); None when Meta could not tell us."""
    try:
        if conn.provider == "facebook":
            info = client.debug_token(conn.access_token)
            if info.is_valid:
                return Verdict(True, expires_at=info.expires_at, data_access_expires_at=info.data_access_expires_at)
            return Verdict(False, f"Meta reports the token invalid: {info.error or 'no detail'}")
        client.instagram_profile(conn.access_token)
        return Verdict(True)
    except GraphAPIError as exc:
        if classify(exc) is Action.RECONNECT:
            return Verdict(False, f"Meta rejected the token: {exc.message}")
        log.warning("Could not check %s: %s", connection_label(conn), exc)
        return None
    except (requests.RequestException, OAuthFlowError) as exc:
        log.warning("Could not check %s: %s", connection_label(conn), redact(str(exc), conn.access_token))
        return None


def record_check(store: OAuthStore, checked: StoredConnection, verdict: Verdict, now: dt.datetime) -> None:
    """Persist a check, unless the connection changed meanwhile (e.g. the creator reconnected with a new token)."""
    secrets_ = (checked.access_token, *(p.access_token for p in checked.pages))

    def mutate(data: StoreData) -> None:
        current = data.connections.get(checked.key)
        if current is None or current.access_token != checked.access_token:
            return
        if verdict.valid:
            current.expires_at = verdict.expires_at or current.expires_at
            current.data_access_expires_at = verdict.data_access_expires_at or current.data_access_expires_at
            current.status = assess(current, now).status
        else:
            current.status = "reconnect_needed"
            current.last_error = redact(f"{verdict.reason} (checked {_when(now)})", *secrets_)
        current.updated_at = now

    store.update(mutate)

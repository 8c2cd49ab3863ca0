"""`tap-creatorsocial-auth`: connect creators (OAuth), see their health, renew and revoke their tokens.

It reads the same settings as the tap: a `--config FILE` JSON like the tap's, then TAP_CREATORSOCIAL_* environment
variables (how Meltano passes settings to plugin commands), so `meltano invoke tap-creatorsocial:login` and the tap
share one OAuth store. It never prints a token or secret.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import requests

from tap_creatorsocial.error_policy import Action, classify
from tap_creatorsocial.errors import GraphAPIError, redact
from tap_creatorsocial.oauth.flows import (
    OAuthClient,
    OAuthFlowError,
    OAuthSettings,
    begin_pending_login,
    browser_login,
    parse_redirect,
    redeem_pending_login,
    require_code,
    save_connection,
    utcnow,
)
from tap_creatorsocial.oauth.manager import connection_label, renew
from tap_creatorsocial.oauth.store import (
    OAuthStore,
    OAuthStoreError,
    Provider,
    StoreData,
    StoredConnection,
    assess,
    open_store,
)
from tap_creatorsocial.settings import CONFIG_SCHEMA, DEFAULT_URLS

ENV_PREFIX = "TAP_CREATORSOCIAL_"


class CLIError(Exception):
    """A failure to report as one line (exit status 1)."""


# -- settings --------------------------------------------------------------------------------------------------


def _coerce(name: str, raw: str, schema: Mapping[str, Any]) -> Any:
    types = schema.get("type", "string")
    types = set(types) if isinstance(types, list) else {types}
    value = raw.strip()
    if "boolean" in types:
        return value.lower() in ("1", "true", "yes", "on")
    if "integer" in types:
        try:
            return int(value)
        except ValueError:
            raise CLIError(f"Environment variable {ENV_PREFIX}{name.upper()} must be an integer.") from None
    if types & {"array", "object"}:
        try:
            return json.loads(value)
        except ValueError:
            if "array" in types:
                return [v.strip() for v in value.split(",") if v.strip()]
            raise CLIError(f"Environment variable {ENV_PREFIX}{name.upper()} must be JSON.") from None
    return raw


def load_config(paths: Sequence[str], environ: Mapping[str, str]) -> dict[str, Any]:
    """Config files in order, then TAP_CREATORSOCIAL_<SETTING> variables on top (like `--config ENV`)."""
    config: dict[str, Any] = {}
    for path in paths:
        try:
            loaded = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CLIError(f"Cannot read the config file {path}: {exc}. Fix: pass a JSON object file.") from None
        if not isinstance(loaded, dict):
            raise CLIError(f"The config file {path} is not a JSON object.")
        config.update(loaded)
    for name, schema in CONFIG_SCHEMA.get("properties", {}).items():
        env = f"{ENV_PREFIX}{name.upper()}"
        if env in environ and environ[env] != "":
            config[name] = _coerce(name, environ[env], schema)
    return config


# -- output ----------------------------------------------------------------------------------------------------


def _when(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "never"


def _accounts(conn: StoredConnection) -> str:
    if not conn.accounts:
        return "(none)"
    return ", ".join(f"@{a.username}" if a.username else a.id for a in conn.accounts)


def render_table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()
    rule = "  ".join("-" * w for w in widths)
    body = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join([line, rule, *body])


def status_rows(data: StoreData, now: dt.datetime) -> list[dict[str, Any]]:
    """One dict per connection with everything `status` shows (no token)."""
    rows = []
    for conn in sorted(data.connections.values(), key=lambda c: (c.name.lower(), c.key)):
        health = assess(conn, now)
        rows.append(
            {
                "connection": conn.key,
                "creator": conn.name,
                "provider": conn.provider,
                "accounts": [{"id": a.id, "username": a.username, "page_id": a.page_id} for a in conn.accounts],
                "token_expires_at": conn.expires_at.isoformat() if conn.expires_at else None,
                "data_access_expires_at": (
                    conn.data_access_expires_at.isoformat() if conn.data_access_expires_at else None
                ),
                "status": health.status,
                "status_label": health.label,
                "reason": health.reason,
                "scopes": list(conn.scopes),
                "api_url": conn.api_url,
                "_conn": conn,
            }
        )
    return rows


# -- commands --------------------------------------------------------------------------------------------------


class AuthCLI:
    """The subcommands, with their dependencies injectable for tests (session, clock, browser, streams)."""

    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        session: requests.Session | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        open_browser: Callable[[str], object] | None = None,
        out: TextIO | None = None,
        err: TextIO | None = None,
    ) -> None:
        self.config = dict(config)
        self.session_given = session is not None
        self.session = session or self._session()
        self.clock = clock
        self.open_browser = open_browser
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        try:
            self.settings = OAuthSettings.from_config(self.config)
        except ValueError as exc:
            raise CLIError(str(exc)) from None
        self.store: OAuthStore = open_store(self.config.get("oauth_settings_location"))
        self.client = OAuthClient(
            self.settings, self.session, clock=clock, logger=logging.getLogger("tap-creatorsocial")
        )

    @staticmethod
    def _session() -> requests.Session:
        session = requests.Session()
        session.headers["User-Agent"] = "tap-creatorsocial-auth"
        return session

    def say(self, text: str) -> None:
        print(text, file=self.out)

    def note(self, text: str) -> None:
        print(text, file=self.err)

    def provider(self, arg: str | None) -> Provider:
        value = arg or self.config.get("auth_provider") or "facebook"
        return "instagram" if value == "instagram" else "facebook"

    def _require_reachable_sandbox(self) -> None:
        """An in-process sandbox (sandbox: true, default URLs) has no login pages a browser could reach."""
        in_process = bool(self.config.get("sandbox")) and all(
            str(self.config.get(k) or v).rstrip("/") == v for k, v in DEFAULT_URLS.items()
        )
        if in_process and not self.session_given:
            raise CLIError(
                "With `sandbox: true` and the default URLs the sandbox lives inside each tap run and needs no login. "
                "Fix: to try the login flow, start `tap-creatorsocial-sandbox serve` and set `graph_api_url` and "
                "`instagram_api_url` to the URLs it prints."
            )

    def _report(self, conn: StoredConnection) -> None:
        health = assess(conn, self.clock())
        self.say(f"Connected {conn.name} ({conn.provider} login) [{conn.key}]")
        self.say(f"  accounts: {_accounts(conn)}")
        self.say(
            f"  token expires: {_when(conn.expires_at)}; data access expires: {_when(conn.data_access_expires_at)}"
        )
        self.say(f"  status: {health.label}{' - ' + health.reason if health.reason else ''}")
        self.say(f"  stored in: {self.store.location}")

    # login / url / exchange -----------------------------------------------------------------------------------
    def login(self, provider_arg: str | None, timeout: float, no_browser: bool) -> int:
        self._require_reachable_sandbox()
        provider = self.provider(provider_arg)
        opener: Callable[[str], object] | None = (lambda _url: None) if no_browser else self.open_browser
        conn = browser_login(self.client, self.store, provider, open_browser=opener, timeout=timeout, out=self.err)
        self._report(conn)
        return 0

    def url(self, provider_arg: str | None) -> int:
        self._require_reachable_sandbox()
        provider = self.provider(provider_arg)
        self.settings.require_app()
        state = begin_pending_login(self.store, self.settings, provider, self.clock())
        self.say(self.client.authorization_url(provider, state))
        self.note(
            "Open this URL in any browser and log in. The browser then goes to "
            f"{self.settings.redirect_uri}?code=… (the page may fail to load: that is fine). Copy that full URL and "
            "run: tap-creatorsocial-auth exchange --redirect-url '<URL>' (within 30 minutes)."
        )
        return 0

    def exchange(self, redirect_url: str) -> int:
        self._require_reachable_sandbox()
        redirect = parse_redirect(redirect_url)
        pending = redeem_pending_login(self.store, redirect, self.clock())
        if pending.api_url != self.settings.api_url(pending.provider):
            raise CLIError(
                f"This login was started against {pending.api_url}, but the settings now point at "
                f"{self.settings.api_url(pending.provider)}. Fix: run `url` again with the current settings."
            )
        code = require_code(redirect, pending.state)
        conn = self.client.complete_login(pending.provider, code, redirect_uri=pending.redirect_uri)
        self._report(save_connection(self.store, conn, self.clock()))
        return 0

    # status / refresh / revoke --------------------------------------------------------------------------------
    def status(self, as_json: bool) -> int:
        data = self.store.load()
        rows = status_rows(data, self.clock())
        if as_json:
            self.say(json.dumps([{k: v for k, v in r.items() if k != "_conn"} for r in rows], indent=2))
            return 0
        if not rows:
            self.say(f"No creator is connected yet (store: {self.store.location}).")
            self.say("Connect one with: tap-creatorsocial-auth login  (or `url` + `exchange` on a headless machine)")
            return 0
        table = [
            [
                r["creator"],
                r["provider"],
                _accounts(r["_conn"]),
                _when(r["_conn"].expires_at),
                _when(r["_conn"].data_access_expires_at),
                r["status_label"] + (f" - {r['reason']}" if r["reason"] else ""),
            ]
            for r in rows
        ]
        self.say(
            render_table(table, ["Creator", "Provider", "Accounts", "Token expires", "Data access expires", "Status"])
        )
        self.say(f"\nStore: {self.store.location}")
        return 0

    def _select(self, data: StoreData, wanted: Sequence[str]) -> list[StoredConnection]:
        """Connections named by key, user id, creator name, account id or @username (all when none named)."""
        conns = sorted(data.connections.values(), key=lambda c: c.key)
        if not wanted:
            return conns
        chosen: list[StoredConnection] = []
        for name in wanted:
            needle = name.lstrip("@").lower()
            matches = [
                c
                for c in conns
                if needle in (c.key.lower(), c.user_id.lower(), c.name.lstrip("@").lower())
                or any(needle in (a.id, (a.username or "").lower()) for a in c.accounts)
            ]
            if not matches:
                raise CLIError(f"No stored connection matches {name!r}. Fix: see `tap-creatorsocial-auth status`.")
            chosen.extend(m for m in matches if m not in chosen)
        return chosen

    def refresh(self, wanted: Sequence[str], force: bool) -> int:
        from tap_creatorsocial.oauth.manager import REFRESH_MARGIN

        data = self.store.load()
        conns = self._select(data, wanted)
        if not conns:
            self.say("No creator is connected yet; nothing to refresh.")
            return 0
        failures = 0
        for conn in conns:
            now = self.clock()
            label = connection_label(conn)
            health = assess(conn, now)
            if not health.usable:
                self.say(f"{label}: cannot renew ({health.reason}); the creator must log in again.")
                failures += 1
                continue
            near = conn.expires_at is not None and conn.expires_at - now <= REFRESH_MARGIN
            if not (force or near):
                self.say(f"{label}: not due (token expires {_when(conn.expires_at)})")
                continue
            if not self.client.can_refresh(conn):
                why = (
                    "Instagram tokens can be refreshed only once they are 24 hours old"
                    if conn.provider == "instagram"
                    else "the app's client_id/client_secret are not set"
                )
                self.say(f"{label}: not renewed yet ({why})")
                continue
            result = renew(self.store, self.client, conn.key, logger=logging.getLogger("tap-creatorsocial"))
            if result is None:
                self.say(f"{label}: removed meanwhile")
            elif result.access_token != conn.access_token or result.refreshed_at != conn.refreshed_at:
                self.say(f"{label}: renewed, token expires {_when(result.expires_at)}")
            else:
                failures += 1
                self.say(f"{label}: renewal failed - {result.last_error}")
        return 1 if failures else 0

    def revoke(self, wanted: Sequence[str], local_only: bool) -> int:
        data = self.store.load()
        conns = self._select(data, wanted)
        for conn in conns:
            label = connection_label(conn)
            if conn.provider == "facebook" and not local_only:
                try:
                    self.client.revoke_facebook(conn.access_token)
                    self.say(f"{label}: app permissions revoked at Facebook (DELETE /me/permissions)")
                except GraphAPIError as exc:
                    if classify(exc) is not Action.RECONNECT:
                        raise CLIError(
                            f"{label}: Meta refused the revocation ({exc.message}); the connection was kept. "
                            "Fix: try again, or pass --local-only to just forget it."
                        ) from None
                    self.say(f"{label}: token already invalid at Facebook ({exc.message}); forgetting it")
            elif conn.provider == "instagram":
                self.say(
                    f"{label}: Instagram has no API to revoke an app; the creator can remove it in Instagram → "
                    "Settings → Apps and websites. Forgetting the token here."
                )

            def mutate(store_data: StoreData, key: str = conn.key) -> None:
                store_data.connections.pop(key, None)

            self.store.update(mutate)
            self.say(f"{label}: removed from {self.store.location}")
        return 0

    # serve -------------------------------------------------------------------------------------------------------
    def serve(self, host: str, port: int, overrides: Mapping[str, Any], environ: Mapping[str, str]) -> int:
        """The creator connect page (`tap_creatorsocial.connect`), writing into this CLI's OAuth store."""
        self._require_reachable_sandbox()
        from tap_creatorsocial.connect import ConnectSettings, ConnectSetupError, create_app, serve

        try:
            settings = ConnectSettings.from_config(self.config, environ, port=port, overrides=overrides)
            app = create_app(self.config, settings, store=self.store, http=self.session, clock=self.clock)
        except ConnectSetupError as exc:
            raise CLIError(str(exc)) from None
        serve(app, settings, host, port, out=self.err)
        return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tap-creatorsocial-auth",
        description="Connect creators to tap-creatorsocial through Facebook Login or Instagram Login, and manage "
        "their stored tokens. Settings come from --config and TAP_CREATORSOCIAL_* environment variables.",
    )
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="FILE",
        help="tap config JSON (repeatable; later files win; env vars win over files)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log HTTP retries and renewals")
    sub = parser.add_subparsers(dest="command", required=True)

    login = sub.add_parser("login", help="open the consent dialog in a browser and store the connection")
    login.add_argument("--provider", choices=["facebook", "instagram"], help="default: setting auth_provider")
    login.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the browser (300)")
    login.add_argument("--no-browser", action="store_true", help="only print the URL; still serve the callback")

    url = sub.add_parser("url", help="headless step 1: print a consent URL (its state is kept for 30 minutes)")
    url.add_argument("--provider", choices=["facebook", "instagram"], help="default: setting auth_provider")

    exchange = sub.add_parser("exchange", help="headless step 2: finish a login from the URL the browser ended on")
    exchange.add_argument("--redirect-url", required=True, help="the full callback URL, with code and state")

    status = sub.add_parser("status", help="table of connections: accounts, expiries, Linked/Expiring/Reconnect")
    status.add_argument("--json", action="store_true", help="machine-readable output (no tokens)")

    refresh = sub.add_parser("refresh", help="renew tokens nearing expiry now")
    refresh.add_argument("connections", nargs="*", help="connection key, creator, account id or @username")
    refresh.add_argument("--force", action="store_true", help="renew even when not near expiry")

    revoke = sub.add_parser("revoke", help="revoke the app's access (Facebook) and forget the connection")
    revoke.add_argument("connections", nargs="+", help="connection key, creator, account id or @username")
    revoke.add_argument("--local-only", action="store_true", help="only forget it here; do not call Meta")

    serve = sub.add_parser(
        "serve",
        help="run the creator connect page: invite links, consent, status (admin secret: "
        "TAP_CREATORSOCIAL_CONNECT_ADMIN_SECRET)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (127.0.0.1)")
    serve.add_argument("--port", type=int, default=33333, help="port to listen on (33333)")
    serve.add_argument(
        "--public-url",
        help="base URL creators open (default http://localhost:PORT); consent returns to PUBLIC_URL/callback",
    )
    serve.add_argument("--invite-days", type=float, help="how long invite links stay valid (7)")
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    session: requests.Session | None = None,
    clock: Callable[[], dt.datetime] = utcnow,
    open_browser: Callable[[str], object] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Entry point of `tap-creatorsocial-auth`; returns the exit status."""
    args = build_parser().parse_args(argv)
    err_stream = err or sys.stderr
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, stream=err_stream, format="%(levelname)s %(message)s"
    )
    config: dict[str, Any] = {}
    try:
        config = load_config(args.config, os.environ if environ is None else environ)
        cli = AuthCLI(config, session=session, clock=clock, open_browser=open_browser, out=out, err=err)
        if args.command == "login":
            return cli.login(args.provider, args.timeout, args.no_browser)
        if args.command == "url":
            return cli.url(args.provider)
        if args.command == "exchange":
            return cli.exchange(args.redirect_url)
        if args.command == "status":
            return cli.status(args.json)
        if args.command == "refresh":
            return cli.refresh(args.connections, args.force)
        if args.command == "serve":
            overrides = {"connect_public_url": args.public_url, "connect_invite_days": args.invite_days}
            return cli.serve(args.host, args.port, overrides, os.environ if environ is None else environ)
        return cli.revoke(args.connections, args.local_only)
    except (CLIError, OAuthFlowError, OAuthStoreError) as exc:
        print(f"Error: {redact(str(exc), config.get('client_secret'))}", file=err_stream)
        return 1
    except GraphAPIError as exc:
        print(f"Error: Meta refused the request: {redact(str(exc), config.get('client_secret'))}", file=err_stream)
        return 1


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()

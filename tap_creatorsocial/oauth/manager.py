"""During a run: stored OAuth connections → the tap's `Connection`s, renewing tokens ahead of expiry.

Renewal happens inside the store's lock and is persisted at once, so two runs starting together renew a token once
and a crash right after a renewal cannot lose the new token. A run never waits for a person unless it is
interactive (TTY) in GETANDREFRESH mode; otherwise it fails with the exact command that fixes it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, TextIO, cast

import requests

from tap_creatorsocial.directory import Connection
from tap_creatorsocial.error_policy import Action, classify
from tap_creatorsocial.errors import GraphAPIError, redact

from .flows import Clock, OAuthClient, OAuthFlowError, OAuthSettings, browser_login, utcnow
from .store import Health, OAuthStore, OAuthStoreError, Provider, StoreData, StoredConnection, assess, open_store

Mode = Literal["OFF", "GETANDREFRESH", "REFRESH"]
MODES: tuple[Mode, ...] = ("OFF", "GETANDREFRESH", "REFRESH")
DEFAULT_MODE: Mode = "GETANDREFRESH"
REFRESH_MARGIN = dt.timedelta(days=14)  # renew this long before expiry: weekly runs get two chances
FB_RETRY_AFTER = dt.timedelta(hours=24)  # a re-exchange that did not extend the token is not retried sooner


class AuthSetupError(Exception):
    """No usable connection and no way to get one without a person; the message is the exact fix."""


@dataclass(frozen=True)
class AuthProblem:
    """A stored connection the run skipped (`on_auth_error: skip`)."""

    subject: str
    reason: str


def initiate_mode(config: Mapping[str, Any]) -> Mode:
    """`initiate_oauth`, case-insensitive, default GETANDREFRESH."""
    value = str(config.get("initiate_oauth") or DEFAULT_MODE).strip().upper()
    if value not in MODES:
        raise ValueError(f"Setting `initiate_oauth` is {value!r}. Fix: use one of {', '.join(MODES)}.")
    return cast(Mode, value)


def connection_label(conn: StoredConnection) -> str:
    """How a connection is named in logs and summaries (never the token)."""
    return f"{conn.name} [{conn.key}]"


def auth_command(subcommand: str) -> str:
    """The command a person runs, in the form that fits how the tap was started (Meltano or plain)."""
    if os.environ.get("MELTANO_PROJECT_ROOT"):
        return f"meltano invoke tap-creatorsocial:{subcommand}"
    return f"tap-creatorsocial-auth --config CONFIG.json {subcommand}"


def setup_fix(provider: str) -> str:
    """The 'Fix:' sentence for a missing or dead login."""
    plain = not os.environ.get("MELTANO_PROJECT_ROOT")
    suffix = f" --provider {provider}" if plain else ""
    return (
        f"Fix: connect the creator on a machine with a browser: `{auth_command('login')}{suffix}`; on a machine "
        f"without one: `{auth_command('url')}{suffix}`, open that URL anywhere and log in, then "
        f"`{auth_command('exchange')} --redirect-url '<the URL the browser ended on>'`. "
        "(Or set `access_token`, or `initiate_oauth: OFF`.)"
    )


def usable_connection_count(config: Mapping[str, Any], now: dt.datetime | None = None) -> int:
    """How many stored connections a run with `config` could use now (for the settings' credentials check).

    Raises `OAuthStoreError` when the store cannot be read.
    """
    settings = OAuthSettings(
        client_id="",
        client_secret="",
        graph_api_url=str(config.get("graph_api_url") or "https://graph.facebook.com").rstrip("/"),
        instagram_api_url=str(config.get("instagram_api_url") or "https://graph.instagram.com").rstrip("/"),
    )
    data = open_store(config.get("oauth_settings_location")).load()
    moment = now or utcnow()
    return sum(
        1
        for conn in data.connections.values()
        if conn.api_url == settings.api_url(conn.provider) and assess(conn, moment).usable
    )


class OAuthManager:
    """Turns the OAuth store into the connections one run reads; renews and records what it learns."""

    def __init__(
        self,
        config: Mapping[str, Any],
        session: requests.Session,
        *,
        logger: logging.Logger | None = None,
        clock: Clock = utcnow,
        interactive: bool | None = None,
        store: OAuthStore | None = None,
        open_browser: Callable[[str], object] | None = None,
        out: TextIO | None = None,
        refresh_margin: dt.timedelta = REFRESH_MARGIN,
    ) -> None:
        self.mode = initiate_mode(config)
        self.settings = OAuthSettings.from_config(config)
        self.store = store or open_store(config.get("oauth_settings_location"))
        self.logger = logger or logging.getLogger("tap-creatorsocial")
        self.client = OAuthClient(self.settings, session, clock=clock, logger=self.logger)
        self.clock = clock
        self.provider: Provider = "instagram" if config.get("auth_provider") == "instagram" else "facebook"
        self.fail_on_auth_error = str(config.get("on_auth_error") or "skip").lower() == "fail"
        self.interactive = interactive if interactive is not None else bool(sys.stdin.isatty() and sys.stderr.isatty())
        self.open_browser = open_browser
        self.out = out
        self.refresh_margin = refresh_margin
        self.problems: list[AuthProblem] = []
        self._keys: dict[str, str] = {}  # Connection.label -> store key

    # -- the run's connections -------------------------------------------------------------------------------
    def has_connections(self) -> bool:
        """Whether the store holds any connection for this run's hosts (usable or not)."""
        return bool(self._ours(self.store.load()))

    def connections(self) -> list[Connection]:
        """Usable connections for this run's hosts, renewed where due; skipped ones land in `problems`."""
        stored = self._ours(self.store.load())
        if not stored:
            self._obtain("the store has no connection for this app's hosts")
            stored = self._ours(self.store.load())
        result = self._usable(stored)
        if not result:
            self._obtain(
                "no stored connection is usable: " + "; ".join(f"{p.subject}: {p.reason}" for p in self.problems)
            )
            self.problems.clear()
            result = self._usable(self._ours(self.store.load()))
        self.logger.info("Using %d OAuth connection(s) from %s", len(result), self.store.location)
        return result

    def stored(self) -> list[StoredConnection]:
        """Every stored connection for this run's hosts, usable or not (the `connections` stream reports them)."""
        return self._ours(self.store.load())

    def _ours(self, data: StoreData) -> list[StoredConnection]:
        """Connections issued for the hosts this run talks to (a sandbox token is never sent to Meta, nor back)."""
        ours = [c for c in data.connections.values() if c.api_url == self.settings.api_url(c.provider)]
        others = len(data.connections) - len(ours)
        if others:
            self.logger.debug("Ignoring %d stored connection(s) issued for other API hosts", others)
        return sorted(ours, key=lambda c: c.key)

    def _usable(self, stored: list[StoredConnection]) -> list[Connection]:
        result: list[Connection] = []
        for conn in stored:
            current = self._renew_if_due(conn) if self.mode != "OFF" else conn
            if current is None:  # removed by another process meanwhile
                continue
            health = assess(current, self.clock())
            label = connection_label(current)
            if not health.usable:
                self._unusable(current, health)
                continue
            if health.status == "expiring_soon":
                self.logger.warning("Connection %s: %s", label, health.reason)
            self._keys[label] = current.key
            result.append(Connection(current.provider, current.access_token, label=label))
        return result

    def _unusable(self, conn: StoredConnection, health: Health) -> None:
        subject = f"connection {connection_label(conn)}"
        reason = f"Reconnect needed: {health.reason}. {setup_fix(conn.provider)}"
        if self.fail_on_auth_error:
            raise AuthSetupError(f"{subject}: {reason} (The run stopped because `on_auth_error` is `fail`.)")
        self.problems.append(AuthProblem(subject, reason))  # the tap reports it (run summary), once
        self.logger.debug("Skipping %s: %s", subject, reason)

    def _obtain(self, why: str) -> None:
        """Get a first login from a person when allowed (GETANDREFRESH + TTY); otherwise fail with the command."""
        if self.mode == "GETANDREFRESH" and self.interactive:
            out = self.out or sys.stderr
            print(f"No usable creator connection ({why}). Starting the {self.provider} login.", file=out)
            try:
                browser_login(self.client, self.store, self.provider, open_browser=self.open_browser, out=out)
            except OAuthFlowError as exc:
                raise AuthSetupError(f"{exc} {setup_fix(self.provider)}") from None
            return
        detail = (
            "and `initiate_oauth` is REFRESH, which never asks anyone to log in"
            if self.mode == "REFRESH"
            else "and this run has no terminal to log in from"
        )
        raise AuthSetupError(
            f"No usable creator connection in the OAuth store {self.store.location} ({why}) {detail}. "
            f"{setup_fix(self.provider)}"
        )

    # -- renewal ---------------------------------------------------------------------------------------------
    def due(self, conn: StoredConnection, now: dt.datetime) -> bool:
        """Renew when the token expires within the margin, is still valid, and Meta will accept a renewal."""
        if conn.status == "reconnect_needed" or conn.expires_at is None:
            return False
        if now >= conn.expires_at or conn.expires_at - now > self.refresh_margin:
            return False
        if conn.provider == "facebook" and conn.refreshed_at is not None and now - conn.refreshed_at < FB_RETRY_AFTER:
            return False
        return self.client.can_refresh(conn)

    def _renew_if_due(self, conn: StoredConnection) -> StoredConnection | None:
        if not self.due(conn, self.clock()):
            return conn
        return renew(self.store, self.client, conn.key, due=self.due, logger=self.logger)

    # -- what the run learns ---------------------------------------------------------------------------------
    def key_for(self, label: str) -> str | None:
        """The store key behind a `Connection.label` this manager produced."""
        return self._keys.get(label)

    def mark_reconnect_needed(self, label: str, reason: str) -> None:
        """Record that Meta rejected a connection's token mid-run (190), so `status` and the next run know."""
        key = self._keys.get(label)
        if key is None:
            return
        now = self.clock()

        def mutate(data: StoreData) -> None:
            conn = data.connections.get(key)
            if conn is not None:
                conn.status = "reconnect_needed"
                conn.last_error = redact(reason, conn.access_token, *(p.access_token for p in conn.pages))
                conn.updated_at = now

        try:
            self.store.update(mutate)
        except OAuthStoreError as exc:
            self.logger.error("Could not record the dead connection %s: %s", label, exc)


def renew(
    store: OAuthStore,
    client: OAuthClient,
    key: str,
    *,
    due: Callable[[StoredConnection, dt.datetime], bool] | None = None,
    logger: logging.Logger | None = None,
) -> StoredConnection | None:
    """Renew one stored connection under the store's lock and persist the outcome (new token or the error).

    Re-reads inside the lock: if another process renewed it meanwhile (`due` now false), nothing is sent to Meta.
    A refusal that means the token is dead marks the connection `reconnect_needed`; any other failure keeps the
    current token (still valid) and records the error.
    """
    log = logger or logging.getLogger("tap-creatorsocial")
    now = client.clock()

    def mutate(data: StoreData) -> StoredConnection | None:
        current = data.connections.get(key)
        if current is None or (due is not None and not due(current, now)):
            return current
        try:
            renewed = client.refresh(current)
        except GraphAPIError as exc:
            if classify(exc) is Action.RECONNECT:
                current.status = "reconnect_needed"
                current.last_error = f"Meta refused to renew the token: {exc.message}"
            else:
                current.last_error = f"Renewal failed on {now:%Y-%m-%d %H:%M} UTC: {exc.message}"
            current.updated_at = now
            log.warning("Could not renew %s: %s", connection_label(current), exc)
            return current
        except (OAuthFlowError, requests.RequestException) as exc:
            current.last_error = redact(f"Renewal failed on {now:%Y-%m-%d %H:%M} UTC: {exc}", current.access_token)
            current.updated_at = now
            log.warning("Could not renew %s: %s", connection_label(current), current.last_error)
            return current
        renewed = replace(renewed, status=assess(renewed, now).status)
        data.connections[key] = renewed
        log.info("Renewed the token of %s (now expires %s)", connection_label(renewed), renewed.expires_at)
        return renewed

    return store.update(mutate)

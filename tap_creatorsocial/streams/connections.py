"""The `connections` stream: one row per creator login (health, expiries, scopes, accounts) and never a token.

It runs last, so a token Meta rejected during this run already shows as `reconnect_needed`. Rows come from the
OAuth store when the run uses it (no API call: only what logins and renewals recorded); otherwise from the
connections the run was given (`access_token`, the sandbox's demo creators), asking Meta what it can:
`/debug_token` for the expiry when `client_id` and `client_secret` are known, `/me` for who it is.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import typing as t

from singer_sdk import Stream
from singer_sdk import typing as th

from tap_creatorsocial.client import utc_now
from tap_creatorsocial.directory import AccountRoute, Connection, reconnect_reason
from tap_creatorsocial.error_policy import Action, classify
from tap_creatorsocial.errors import GraphAPIError, redact
from tap_creatorsocial.oauth.flows import OAuthClient, OAuthSettings
from tap_creatorsocial.oauth.manager import connection_label
from tap_creatorsocial.oauth.store import Health, OAuthStoreError, StoredConnection, assess
from tap_creatorsocial.streams.media import run_now

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_creatorsocial.oauth import OAuthManager
    from tap_creatorsocial.tap import TapCreatorSocial

STATUSES = ["linked", "expiring_soon", "reconnect_needed"]


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value else None


class ConnectionsStream(Stream):
    """Creator logins and their health: status, expiries, scopes, accounts; never a token (one row per login)."""

    name = "connections"
    primary_keys: t.ClassVar[list[str]] = ["connection_id"]
    replication_key = None

    schema = th.PropertiesList(
        th.Property(
            "connection_id",
            th.StringType,
            required=True,
            description="Stable, non-secret id of the login: `provider:user_id` (e.g. facebook:1078…).",
        ),
        th.Property("provider", th.StringType, allowed_values=["facebook", "instagram"], description="Login path."),
        th.Property(
            "user_id",
            th.StringType,
            description="App-scoped Facebook user id (Facebook Login) or IG professional account id (Instagram Login).",
        ),
        th.Property("user_name", th.StringType, description="Facebook user name, or @username (Instagram Login)."),
        th.Property("account_ids", th.ArrayType(th.StringType), description="IG accounts this login can read."),
        th.Property("page_ids", th.ArrayType(th.StringType), description="Facebook Pages of the login (FB only)."),
        th.Property(
            "status",
            th.StringType,
            allowed_values=STATUSES,
            description="linked; expiring_soon (token or data access lapses within 7 days); reconnect_needed "
            "(Meta rejected or expired the token: the creator must log in again).",
        ),
        th.Property("reason", th.StringType, description="Why the status is what it is, and what to do."),
        th.Property("token_expires_at", th.DateTimeType, description="Token expiry; null: never or unknown."),
        th.Property(
            "data_access_expires_at",
            th.DateTimeType,
            description="Facebook Login data-access expiry (90 days after the creator last logged in).",
        ),
        th.Property("scopes", th.ArrayType(th.StringType), description="Permissions granted to the app."),
        th.Property("last_refreshed_at", th.DateTimeType, description="When the tap last renewed the token."),
        th.Property("connected_at", th.DateTimeType, description="When the creator first connected (OAuth store)."),
        th.Property(
            "source",
            th.StringType,
            allowed_values=["oauth_store", "access_token", "sandbox"],
            description="Where the run got this login.",
        ),
        th.Property("extracted_at", th.DateTimeType, description="When this run read it (UTC)."),
    ).to_dict()

    @property
    def tap(self) -> TapCreatorSocial:
        return t.cast("TapCreatorSocial", self._tap)

    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        manager = self._store_manager()
        rows = self._stored_rows(manager) if manager is not None else self._given_rows()
        extracted_at = utc_now()
        for row in rows:
            yield {**row, "extracted_at": extracted_at}

    # -- from the OAuth store ----------------------------------------------------------------------------------------
    def _store_manager(self) -> OAuthManager | None:
        """The OAuth manager when this run reads its logins from the store (mirrors `TapCreatorSocial.connections`)."""
        manager = self.tap.oauth
        if manager is None or self.tap.sandbox_emulator is not None:
            return None
        try:
            if self.config.get("sandbox") and not manager.has_connections():
                return None  # a served sandbox without logins: its demo creators are used
        except OAuthStoreError:
            return manager  # `connections()` reports it; the stream does not hide it
        return manager

    def _stored_rows(self, manager: OAuthManager) -> t.Iterator[dict[str, t.Any]]:
        now = manager.clock()
        dead = self.tap.dead_connections()
        for conn in manager.stored():
            health = assess(conn, now)
            label = connection_label(conn)
            if label in dead and health.usable:  # the store write failed, or nothing persisted it
                health = Health("reconnect_needed", dead[label])
            secrets = (conn.access_token, *(p.access_token for p in conn.pages))
            yield {
                "connection_id": conn.key,
                "provider": conn.provider,
                "user_id": conn.user_id,
                "user_name": conn.name,
                "account_ids": [a.id for a in conn.accounts],
                "page_ids": [p.id for p in conn.pages],
                "status": health.status,
                "reason": redact(health.reason, *secrets) or None,
                "token_expires_at": _iso(conn.expires_at),
                "data_access_expires_at": _iso(conn.data_access_expires_at),
                "scopes": list(conn.scopes),
                "last_refreshed_at": _iso(conn.refreshed_at),
                "connected_at": _iso(conn.created_at),
                "source": "oauth_store",
            }

    # -- from `access_token` or the sandbox's demo creators -----------------------------------------------------------
    def _given_rows(self) -> t.Iterator[dict[str, t.Any]]:
        directory = self.tap.directory
        routes: dict[str, list[AccountRoute]] = {}
        for route in directory.routes.values():
            routes.setdefault(route.connection, []).append(route)
        settings = OAuthSettings.from_config(self.config)
        oauth = OAuthClient(settings, self.tap.graph.session, logger=self.logger) if settings.client_id else None
        source = "access_token" if self.config.get("access_token") else "sandbox"
        for connection in directory.connections:
            label = connection.label or connection.provider
            mine = routes.get(label, [])
            row = self._describe(connection, mine, oauth if settings.client_secret else None)
            if label in directory.dead:
                row.update(status="reconnect_needed", reason=directory.dead[label])
            row["reason"] = redact(row["reason"], connection.access_token) if row["reason"] else None
            yield {**row, "source": source}

    def _describe(
        self, connection: Connection, routes: list[AccountRoute], oauth: OAuthClient | None
    ) -> dict[str, t.Any]:
        """What Meta says about one given token; a dead token gives `reconnect_needed`, never an exception."""
        token = connection.access_token
        row: dict[str, t.Any] = {
            "provider": connection.provider,
            "user_id": None,
            "user_name": None,
            "account_ids": [r.account_id for r in routes],
            "page_ids": [r.page_id for r in routes if r.page_id],
            "status": "linked",
            "reason": None,
            "token_expires_at": None,
            "data_access_expires_at": None,
            "scopes": [],
            "last_refreshed_at": None,
            "connected_at": None,
        }
        graph = self.tap.graph
        base = graph_base(self.config, connection.provider)
        try:
            if connection.provider == "facebook":
                me = graph.get(graph.url(base, "me"), token, {"fields": "id,name"})
                row.update(user_id=str(me.get("id") or "") or None, user_name=me.get("name"))
            else:
                me = graph.get(graph.url(base, "me"), token, {"fields": "user_id,username"})
                username = me.get("username")
                row.update(user_id=str(me.get("user_id") or me.get("id") or "") or None)
                row.update(user_name=f"@{username}" if username else None)
            if oauth is not None and connection.provider == "facebook":
                row.update(self._debug_token_status(oauth, connection, row))
            else:
                row["reason"] = (
                    "token expiry unknown: set `client_id` and `client_secret` so the tap can read it from "
                    "/debug_token, or connect the creator with `tap-creatorsocial-auth login`"
                    if connection.provider == "facebook"
                    else "token expiry unknown: Instagram Login tokens cannot be inspected; connect the creator with "
                    "`tap-creatorsocial-auth login` to track and renew it"
                )
        except GraphAPIError as exc:
            action = classify(exc)
            if action is Action.RETRY:  # Meta kept failing: report the login without its details, do not stop
                row["reason"] = f"could not check the token this run: {exc.message}"
            elif action is Action.RECONNECT:
                row.update(status="reconnect_needed", reason=reconnect_reason(exc))
            else:
                raise
        if row["user_id"] is None and routes and connection.provider == "instagram":
            row.update(user_id=routes[0].account_id)
        row["connection_id"] = f"{connection.provider}:{row['user_id'] or anonymous_id(token)}"
        return row

    def _debug_token_status(
        self, oauth: OAuthClient, connection: Connection, row: dict[str, t.Any]
    ) -> dict[str, t.Any]:
        info = oauth.debug_token(connection.access_token)
        now = run_now(self.tap)
        update: dict[str, t.Any] = {
            "token_expires_at": _iso(info.expires_at),
            "data_access_expires_at": _iso(info.data_access_expires_at),
            "scopes": info.scopes,
        }
        if not info.is_valid:
            return {**update, "status": "reconnect_needed", "reason": info.error or "/debug_token: not valid"}
        probe = StoredConnection(
            provider=connection.provider,
            user_id=str(row["user_id"] or info.user_id or ""),
            name=str(row["user_name"] or ""),
            access_token=connection.access_token,
            api_url="",
            issued_at=info.issued_at or now,
            expires_at=info.expires_at,
            data_access_expires_at=info.data_access_expires_at,
        )
        health = assess(probe, now)
        return {**update, "status": health.status, "reason": health.reason or None}


def graph_base(config: t.Mapping[str, t.Any], provider: str) -> str:
    if provider == "facebook":
        return str(config.get("graph_api_url") or "https://graph.facebook.com")
    return str(config.get("instagram_api_url") or "https://graph.instagram.com")


def anonymous_id(token: str) -> str:
    """A stable id for a login whose user Meta would not name: a short one-way hash (not reversible to the token)."""
    return "unknown-" + hashlib.sha256(token.encode()).hexdigest()[:12]

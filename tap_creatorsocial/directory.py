"""Which Instagram accounts a run reads, through which login, host and token.

Stream contexts and state hold account ids only; the token for an account is looked up here, so it can never leak
into Singer STATE or records.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from tap_creatorsocial.error_policy import Action, classify
from tap_creatorsocial.errors import GraphAPIError
from tap_creatorsocial.graph import GraphClient
from tap_creatorsocial.sharding import Shard

Provider = Literal["facebook", "instagram"]

# Batch requests are documented for graph.facebook.com only; for graph.instagram.com (Instagram Login) support is
# UNCERTAIN (graph-api.md §7a), so those accounts get one GET per object: same API calls, more round trips.
BATCH_PROVIDERS: frozenset[str] = frozenset({"facebook"})


@dataclass(frozen=True)
class Connection:
    """One creator login: a user token from Facebook Login or Instagram Login."""

    provider: Provider
    access_token: str = field(repr=False)
    label: str = ""  # who it is, for messages (never the token)


@dataclass(frozen=True)
class AccountRoute:
    """How to reach one IG professional account."""

    account_id: str
    login: Provider
    base_url: str
    access_token: str = field(repr=False)
    page_id: str | None = None
    username: str | None = None
    connection: str = ""

    @property
    def supports_batch(self) -> bool:
        return self.login in BATCH_PROVIDERS


def reconnect_reason(exc: GraphAPIError) -> str:
    """What to record for a token Meta rejected: the code/subcode and Meta's (redacted) message."""
    sub = f"/{exc.subcode}" if exc.subcode else ""
    return f"Meta rejected the token during a run ({exc.code}{sub}): {exc.message}"


class AccountSelectionError(Exception):
    """`account_ids` names only accounts no connected login can see: a settings mistake, not a partial run."""


@dataclass
class AccountProblem:
    """An account (or a whole connection) the run skipped, and why."""

    subject: str
    kind: str  # reconnect | deferred | permission | not_found | error
    reason: str


class AccountDirectory:
    """Discovers the accounts each connection can read (`/me/accounts` or `/me`) and remembers their routes."""

    def __init__(
        self,
        client: GraphClient,
        connections: list[Connection],
        *,
        graph_api_url: str,
        instagram_api_url: str,
        account_ids: list[str] | None = None,
        shard: Shard | None = None,
        logger: logging.Logger | None = None,
        on_reconnect: Callable[[str, str], None] | None = None,
    ) -> None:
        self.client = client
        self.connections = connections
        self.base_urls: dict[Provider, str] = {"facebook": graph_api_url, "instagram": instagram_api_url}
        self.wanted = list(dict.fromkeys(account_ids)) if account_ids else None
        self.shard = shard
        self.logger = logger or logging.getLogger("tap-creatorsocial")
        self.problems: list[AccountProblem] = []
        #: connection label -> why Meta rejected its token this run; its accounts are skipped from then on
        self.dead: dict[str, str] = {}
        #: account id -> why it is left for the next run (rate-limited too long, Meta kept failing)
        self.deferred: dict[str, str] = {}
        #: told (label, reason) once per dead connection, e.g. to record it in the OAuth store (may raise to stop)
        self.on_reconnect = on_reconnect
        self._routes: dict[str, AccountRoute] | None = None

    @property
    def routes(self) -> dict[str, AccountRoute]:
        if self._routes is None:
            self._routes = self._discover()
        return self._routes

    def account_ids(self) -> list[str]:
        """Accounts still to read: those of a connection whose token died this run, and deferred ones, are left out."""
        return [a for a in self.routes if not self.is_dead(a)]

    def is_dead(self, account_id: str) -> bool:
        """Whether the account is off for the rest of the run: its connection died, or it was deferred (then no
        stream calls Meta for it again)."""
        route = self.routes.get(account_id)
        return account_id in self.deferred or (route is not None and route.connection in self.dead)

    def defer(self, account_id: str, reason: str) -> None:
        """Leave an account for the next run (once): later streams skip it; its bookmarks stay where they were."""
        if account_id in self.deferred:
            return
        self.deferred[account_id] = reason
        self.mark(f"account {account_id}", "deferred", reason)

    def connection_dead(self, label: str, reason: str) -> None:
        """Meta rejected a connection's token (190/102): skip all its accounts for the rest of the run, once."""
        if label in self.dead:
            return
        self.dead[label] = reason
        self.mark(f"connection {label}", "reconnect", reason)
        if self.on_reconnect is not None:
            self.on_reconnect(label, reason)

    def route(self, account_id: str) -> AccountRoute:
        return self.routes[account_id]

    def mark(self, subject: str, kind: str, reason: str) -> None:
        """Record a skipped account once; the run summary lists these."""
        if not any(p.subject == subject and p.kind == kind for p in self.problems):
            self.problems.append(AccountProblem(subject, kind, reason))
            self.logger.error("Skipping %s (%s): %s", subject, kind, reason)

    def _discover(self) -> dict[str, AccountRoute]:
        routes: dict[str, AccountRoute] = {}
        for connection in self.connections:
            try:
                for route in self._discover_connection(connection):
                    routes.setdefault(route.account_id, route)
            except GraphAPIError as exc:
                action = classify(exc)
                kind = {Action.RECONNECT: "reconnect", Action.PERMISSION: "permission", Action.RETRY: "deferred"}.get(
                    action, "error"
                )
                if action is Action.FAIL:
                    raise
                if action is Action.RECONNECT:
                    self.connection_dead(connection.label or connection.provider, reconnect_reason(exc))
                    continue
                self.mark(f"connection {connection.label or connection.provider}", kind, exc.message)
        # Without a shard, `account_ids` naming only unseen accounts is a settings mistake (a shard may legitimately
        # hold none of them: the owning shard reports each one below).
        if (
            self.wanted is not None
            and self.shard is None
            and self.connections
            and not self.problems
            and not set(self.wanted) & set(routes)
        ):
            raise AccountSelectionError(
                f"Setting `account_ids` names {', '.join(self.wanted)}, but no connected login can see any of them "
                f"(they see {', '.join(sorted(routes)) or 'no account'}). Fix: correct `account_ids`, or remove it "
                "to extract every account the logins can see."
            )
        if self.wanted is not None:
            # a missing account is reported by the one shard it belongs to, not by all N jobs
            for missing in [a for a in self.wanted if a not in routes and (not self.shard or self.shard.contains(a))]:
                self.mark(
                    f"account {missing}",
                    "not_found",
                    "setting `account_ids` names it, but no connected login can see it. Fix: remove it from "
                    "`account_ids`, or connect the creator who owns it.",
                )
            routes = {a: routes[a] for a in self.wanted if a in routes}
        if self.shard is not None:
            kept = {a: route for a, route in routes.items() if self.shard.contains(a)}
            self.logger.info("Shard %s (account_shard): %d of %d account(s)", self.shard, len(kept), len(routes))
            routes = kept
        self.logger.info("Extracting %d Instagram account(s)", len(routes))
        return routes

    def _discover_connection(self, connection: Connection) -> list[AccountRoute]:
        base = self.base_urls[connection.provider]
        token = connection.access_token
        if connection.provider == "instagram":
            me = self.client.get(self.client.url(base, "me"), token, {"fields": "user_id,username"})
            account_id = str(me.get("user_id") or me["id"])
            return [AccountRoute(account_id, "instagram", base, token, None, me.get("username"), connection.label)]
        routes = []
        fields = {"fields": "id,name,instagram_business_account", "limit": 100}
        for page in self.client.paginate(self.client.url(base, "me/accounts"), token, fields):
            for fb_page in page.get("data", []):
                ig = fb_page.get("instagram_business_account")
                if ig and ig.get("id"):
                    routes.append(
                        AccountRoute(str(ig["id"]), "facebook", base, token, str(fb_page["id"]), None, connection.label)
                    )
        return routes

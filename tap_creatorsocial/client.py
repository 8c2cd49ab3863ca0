"""Base stream for Graph API edges: one partition per IG account, paging on `paging.next`, per-account isolation."""

from __future__ import annotations

import datetime as dt
import typing as t
from urllib.parse import ParseResult, urlunparse

import requests
from singer_sdk.pagination import BaseHATEOASPaginator
from singer_sdk.streams import RESTStream
from singer_sdk.streams.rest import HTTPRequest, PageContext

from tap_creatorsocial.account_pool import AccountPool
from tap_creatorsocial.directory import reconnect_reason
from tap_creatorsocial.error_policy import Action, classify, missing_scope
from tap_creatorsocial.errors import GraphAPIError
from tap_creatorsocial.throttle import AccountDeferred

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_creatorsocial.directory import AccountDirectory, AccountRoute
    from tap_creatorsocial.graph import GraphClient
    from tap_creatorsocial.tap import TapCreatorSocial


# `breakdown` and `breakdown_value` of a metric's total row. Not "": they are primary-key columns, and loaders that
# stage through CSV (target-duckdb) read "" back as NULL and then refuse the row.
TOTAL_ROW = "total"


def graph_timestamp(value: str | None) -> str | None:
    """Meta's `2017-08-31T19:16:02+0000` as ISO-8601 with an explicit UTC offset (`…+00:00`)."""
    if not value:
        return None
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z").astimezone(dt.UTC).isoformat()


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


class GraphPaginator(BaseHATEOASPaginator):
    """Follows `paging.next`; a page with no items but a `next` link is not the end (graph-api.md §3g).

    `stop(response)` ends paging early, e.g. once a newest-first edge reaches records older than the bookmark.
    """

    def __init__(self, stop: t.Callable[[requests.Response], bool] | None = None) -> None:
        super().__init__()
        self.stop = stop

    def get_next_url(self, response: requests.Response) -> str | None:
        if self.stop and self.stop(response):
            return None
        return t.cast(str | None, (response.json().get("paging") or {}).get("next"))

    def continue_if_empty(self, response: requests.Response) -> bool:
        return self.get_next_url(response) is not None


class GraphStream(RESTStream[t.Any]):
    """An edge read once per Instagram account; the account's host and token come from the account directory."""

    records_jsonpath = "$.data[*]"
    url_base = ""  # per account: see get_url
    #: path under the account, formatted with the context, e.g. "{account_id}/media"
    path = "{account_id}"

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._pool: AccountPool[dict[str, t.Any]] | None = None

    @property
    def tap(self) -> TapCreatorSocial:
        return t.cast("TapCreatorSocial", self._tap)

    @property
    def graph(self) -> GraphClient:
        return self.tap.graph

    @property
    def directory(self) -> AccountDirectory:
        return self.tap.directory

    @property
    def requests_session(self) -> requests.Session:
        return self.graph.session

    @property
    def partitions(self) -> list[dict[str, t.Any]] | None:
        return [{"account_id": account_id} for account_id in self.directory.account_ids()]

    def route(self, context: Context | None) -> AccountRoute:
        assert context is not None
        return self.directory.route(str(context["account_id"]))

    def get_url(self, context: Context | None) -> str:
        return self.graph.url(self.route(context).base_url, self.path.format(**(context or {})))

    def get_new_paginator(self) -> GraphPaginator:
        return GraphPaginator()

    def get_http_request(self, *, page: PageContext) -> HTTPRequest:
        token = page.next_page_token
        if isinstance(token, ParseResult):  # Meta's `next` link already carries every parameter
            return HTTPRequest(url=urlunparse(token), headers=self.http_headers)
        return super().get_http_request(page=page)

    def _request(self, prepared_request: requests.PreparedRequest, context: Context | None) -> requests.Response:
        account_id = str(context["account_id"]) if context else None
        return self.graph.send(prepared_request, self.route(context).access_token, account_id=account_id)

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        if context:
            row["account_id"] = str(context["account_id"])
        return row

    def account_is_dead(self, context: Context) -> bool:
        """Nothing to read: the account's login died earlier in this run, or it was deferred (no call to Meta)."""
        return self.directory.is_dead(str(context["account_id"]))

    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """Records of one account; an account-level failure skips that account and the run goes on.

        Runs on the writer thread: the account's records may have been read ahead by the stream's account pool,
        and its failure (raised where its reading stopped) is handled here, as are state changes.
        """
        if context is None:
            return
        account_id = str(context["account_id"])
        try:
            yield from self._records_in_order(account_id)
            self.account_done(context)
        except AccountDeferred as exc:
            self.account_incomplete(context)
            self.directory.defer(exc.account_id, str(exc))
        except GraphAPIError as exc:
            self.account_incomplete(context)
            self.handle_account_error(exc, context)
        except BaseException:  # the run (or singer-sdk's record limit) stops this stream: stop reading ahead
            self._close_pool()
            raise

    def _records_in_order(self, account_id: str) -> t.Iterator[dict[str, t.Any]]:
        """The account's records: read ahead on the stream's account pool (up to `max_workers` accounts at once)
        when several accounts are left, else read here."""
        pool = self._pool
        if pool is None or account_id not in pool:
            self._close_pool()
            left = self.directory.account_ids()
            ahead = left[left.index(account_id) :] if account_id in left else []
            if self.graph.max_workers > 1 and len(ahead) > 1:
                for other in ahead[1:]:  # what singer-sdk does at each partition's start, before it is read
                    self._write_starting_replication_value({"account_id": other})
                pool = self._pool = AccountPool(ahead, self._read_account, workers=self.graph.max_workers)
        if pool is not None and account_id in pool:
            return pool.records(account_id)
        return iter(self._read_account(account_id))

    def _read_account(self, account_id: str) -> t.Iterable[dict[str, t.Any]]:
        """One account's records, read on a pool worker (or the writer thread); nothing here touches state."""
        context = {"account_id": account_id}
        if self.account_is_dead(context):  # its login died or it was deferred earlier in the run: no call
            return []
        return self.account_records(context)

    def _close_pool(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def account_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """The account's records (singer-sdk's request/paginate loop unless a stream reads differently).

        May run on a pool worker thread, several accounts at once: it must not change the stream's state (do that
        in `account_done`, which runs on the writer thread once the account's records are all written).
        """
        return super().get_records(context)

    def account_done(self, context: Context) -> None:
        """Every record of the account was written (writer thread): record what the account's state should say."""

    def account_incomplete(self, context: Context | None) -> None:
        """The account stopped part-way: forget the bookmark progress its records made, so the state never claims
        data this run did not extract (singer-sdk would promote it when the partition or the run ends). The
        partition keeps the bookmark it started with, and the next run reads the rest again."""
        if context is None:
            return
        state = self.get_context_state(context)
        state.pop("progress_markers", None)
        state.pop("replication_key_signpost", None)

    def handle_account_error(self, exc: GraphAPIError, context: Context | None) -> None:
        """Act on an account-level error: a dead token ends its whole connection for the run, not just the account."""
        account = f"account {context['account_id']}" if context else "account"
        action = classify(exc)
        if action is Action.RETRY and context:  # retries exhausted on a call not tied to the account (rare)
            self.directory.defer(str(context["account_id"]), f"{account}: {exc}; deferred to the next run")
        elif action is Action.RECONNECT:
            label = self.route(context).connection if context else ""
            self.directory.connection_dead(label or account, reconnect_reason(exc))
        elif action is Action.PERMISSION:
            scope = missing_scope(exc)
            reason = f"permission {scope} not granted" if scope else exc.message
            self.directory.mark(f"{account} stream {self.name}", "permission", reason)
        elif action is Action.SKIP_OBJECT:
            self.logger.warning("Skipping %s for stream %s: %s", account, self.name, exc.message)
        else:
            raise exc

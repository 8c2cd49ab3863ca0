"""tap-creatorsocial: the Singer tap for first-party creator data (Instagram professional accounts)."""

from __future__ import annotations

import datetime as dt
import io
import json
import sys
import typing as t
from dataclasses import dataclass
from functools import cached_property

import click
import requests
from singer_sdk import Stream, Tap, about
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.singerlib import RecordMessage

from tap_creatorsocial import streams
from tap_creatorsocial.about import stream_info, streams_markdown
from tap_creatorsocial.catalog.versions import DEFAULT_API_VERSION, parse_api_version
from tap_creatorsocial.directory import AccountDirectory, AccountSelectionError, Connection
from tap_creatorsocial.graph import GraphClient
from tap_creatorsocial.media_index import MediaIndex
from tap_creatorsocial.settings import CONFIG_SCHEMA, DEFAULT_URLS, config_errors
from tap_creatorsocial.sharding import parse_shard
from tap_creatorsocial.state_file import BadInputError, read_state_file

if t.TYPE_CHECKING:
    from tap_creatorsocial.oauth import OAuthManager
    from tap_creatorsocial.sandbox import GraphEmulator


#: Exit status when `fail_on_skipped_accounts` is on and some accounts were deferred or need a reconnect while the
#: others completed (1 stays "the run failed", 2 "bad input").
EXIT_PARTIAL = 3
EXIT_BAD_INPUT = 2


@dataclass
class RunOutcome:
    """What happened to the run's accounts, for the summary line and the exit status."""

    done: list[str]
    deferred: list[str]
    reconnect: list[str]  # connection labels
    reconnect_accounts: list[str]


class SingerWriter(MsgSpecWriter):
    """singer-sdk's fast (msgspec) writer, without its flush after every message: RECORD lines go out through the
    stdout buffer, and everything written so far is flushed with each STATE or SCHEMA message (and at exit). A crash
    can lose only records no STATE message has vouched for yet, which the next run reads again; one write call per
    record cost more than encoding it."""

    def write_message(self, message: t.Any) -> None:
        sys.stdout.buffer.write(self.format_message(message))
        if not isinstance(message, RecordMessage):
            sys.stdout.flush()


class ReconnectNeededError(Exception):
    """A connection's token died mid-run and `on_auth_error` is `fail`: the run stops (after recording it)."""


STREAM_TYPES: list[type[Stream]] = [
    streams.AccountsStream,
    streams.MediaStream,
    streams.StoriesStream,
    streams.MediaInsightsStream,
    streams.StoryInsightsStream,
    streams.CommentsStream,
    streams.TagsStream,
    streams.AccountInsightsStream,
    streams.AudienceStream,
    streams.OnlineFollowersStream,
    streams.ConnectionsStream,  # last: it reports tokens that died during this run as reconnect_needed
]


class TapCreatorSocial(Tap):
    """Extracts Instagram professional accounts connected through Facebook Login and Instagram Login."""

    name = "tap-creatorsocial"
    config_jsonschema = CONFIG_SCHEMA
    message_writer_class = SingerWriter

    @classmethod
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: t.Any = None,
        state: t.IO[str] | None = None,
        catalog: t.IO[str] | None = None,
    ) -> None:
        """singer-sdk's entry point, with bad input (settings, state file, OAuth store, account_ids) reported as
        one ERROR line naming what is wrong and the fix, and exit status 2 instead of a traceback."""
        try:
            checked_state = io.StringIO(json.dumps(read_state_file(state))) if state is not None else None
            super().invoke(about=about, about_format=about_format, config=config, state=checked_state, catalog=catalog)
        except ConfigValidationError as exc:
            for error in exc.errors or [str(exc)]:
                cls.logger.error("%s", error)
            raise click.exceptions.Exit(EXIT_BAD_INPUT) from None
        except BadInputError as exc:
            cls.logger.error("%s", exc)
            raise click.exceptions.Exit(EXIT_BAD_INPUT) from None

    @classmethod
    def cb_config(cls, ctx: click.Context, param: click.Option, value: tuple[str, ...]) -> t.Any:
        """Read `--config` files; one that is missing or not JSON is a usage error naming the file, not a traceback."""
        try:
            return super().cb_config(ctx, param, value)
        except (OSError, ValueError) as exc:
            raise click.BadParameter(f"{exc}. Fix: pass a readable JSON object file (or ENV).") from None

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Report bad settings by name with the fix, instead of raw JSON-schema messages that may echo secrets."""
        errors = config_errors(self.config)
        if errors and raise_errors:
            raise ConfigValidationError("Config validation failed", errors=errors, schema={})
        return errors

    @classmethod
    def print_about(cls, output_format: str | None = None) -> None:
        """singer-sdk's `--about` plus the streams: key, replication method and every field's meaning."""
        text = about.AboutFormatter.get_formatter(output_format or "text").format_about(cls._get_about_info())
        if output_format == "json":
            text = json.dumps({**json.loads(text), "streams": stream_info(STREAM_TYPES)}, indent=2)
        else:
            text = f"{text.rstrip()}\n\n{streams_markdown(STREAM_TYPES)}"
        print(text)

    def discover_streams(self) -> list[Stream]:
        return [stream_type(tap=self) for stream_type in STREAM_TYPES]

    @property
    def streams(self) -> dict[str, Stream]:
        """Streams in `STREAM_TYPES` order, not singer-sdk's alphabetical one: `media` must fill the run's media
        index before `comments` (alphabetically earlier) reads it, or `/media` would be walked twice."""
        loaded = super().streams
        order = {stream_type: i for i, stream_type in enumerate(STREAM_TYPES)}
        if list(loaded.values()) != sorted(loaded.values(), key=lambda s: order.get(type(s), len(order))):
            self._streams = dict(sorted(loaded.items(), key=lambda kv: order.get(type(kv[1]), len(order))))
        return t.cast("dict[str, Stream]", self._streams)

    # -- run-wide services ------------------------------------------------------------------------------------------
    @property
    def api_version(self) -> str:
        return f"v{parse_api_version(str(self.config.get('api_version') or DEFAULT_API_VERSION))}.0"

    @property
    def uses_inprocess_sandbox(self) -> bool:
        return bool(self.config.get("sandbox")) and all(
            self.config.get(key, default) == default for key, default in DEFAULT_URLS.items()
        )

    @cached_property
    def sandbox_emulator(self) -> GraphEmulator | None:
        """The in-process emulator (only with `sandbox: true` and default URLs)."""
        if not self.uses_inprocess_sandbox:
            return None
        from tap_creatorsocial.sandbox import create_emulator

        options = dict(self.config.get("sandbox_options") or {})
        if options.get("now"):
            options["now"] = dt.datetime.fromisoformat(str(options["now"]).replace("Z", "+00:00"))
        return create_emulator(**options)

    @cached_property
    def graph(self) -> GraphClient:
        from tap_creatorsocial.oauth.flows import guard_http_debug_logs

        guard_http_debug_logs()  # urllib3's DEBUG lines show URLs, which carry `appsecret_proof`
        workers = int(self.config.get("max_workers", 8))
        session = requests.Session()
        session.headers["User-Agent"] = "tap-creatorsocial"
        for prefix in ("https://", "http://"):  # up to `max_workers` accounts, each with `max_workers` requests
            session.mount(prefix, requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=workers * workers))
        if self.sandbox_emulator is not None:
            from tap_creatorsocial.sandbox import mount

            mount(session, self.sandbox_emulator)
        return GraphClient(
            session,
            api_version=self.api_version,
            app_secret=self.config.get("client_secret"),
            timeout=(float(self.config.get("connect_timeout", 10)), float(self.config.get("request_timeout", 60))),
            max_tries=int(self.config.get("max_retries", 5)) + 1,
            max_retry_seconds=float(self.config.get("max_retry_seconds", 300)),
            retry_base_seconds=float(self.config.get("retry_base_seconds", 1)),
            max_rate_limit_wait=float(self.config.get("max_rate_limit_wait", 600)),
            max_workers=workers,
            logger=self.logger,
        )

    @cached_property
    def media_index(self) -> MediaIndex:
        """Media per account in this run's window: `media` fills it, `media_insights` / `comments` read it."""
        return MediaIndex()

    @cached_property
    def story_index(self) -> MediaIndex:
        """Live stories per account: `stories` fills it, `story_insights` reads it (one `/stories` call per run)."""
        return MediaIndex()

    @cached_property
    def oauth(self) -> OAuthManager | None:
        """The OAuth store's connections (`initiate_oauth` not OFF and no `access_token`); tokens stay out of STATE."""
        if self.config.get("access_token") or str(self.config.get("initiate_oauth") or "").upper() == "OFF":
            return None
        if self.uses_inprocess_sandbox:  # nobody can have logged in to an in-process emulator
            return None
        from tap_creatorsocial.oauth import OAuthManager

        return OAuthManager(self.config, self.graph.session, logger=self.logger)

    def connections(self) -> list[Connection]:
        """The creator logins this run reads: `access_token`, the OAuth store, or the sandbox's demo creators."""
        if self.config.get("access_token"):
            provider = self.config.get("auth_provider", "facebook")
            return [Connection(provider, self.config["access_token"], label="access_token")]
        if self.sandbox_emulator is not None:  # in-process: nobody can have logged in to it, demo tokens only
            tokens = self.sandbox_emulator.dataset.demo_tokens
            return [Connection(login, token, label=f"sandbox {login} {owner}") for login, owner, token in tokens]
        if self.oauth is not None:
            from tap_creatorsocial.oauth import AuthSetupError, OAuthStoreError

            try:
                if not self.config.get("sandbox") or self.oauth.has_connections():
                    return self.oauth.connections()
            except (AuthSetupError, OAuthStoreError) as exc:
                raise ConfigValidationError("Authentication setup needed", errors=[str(exc)], schema={}) from None
        if self.config.get("sandbox"):
            url = f"{self.config['graph_api_url'].rstrip('/')}/__sandbox/connections"
            demo = self.graph.session.get(url, timeout=self.graph.timeout).json()
            return [
                Connection(c["provider"], c["access_token"], label=f"sandbox {c['provider']} {c['owner_id']}")
                for c in demo
            ]
        return []

    @cached_property
    def directory(self) -> AccountDirectory:
        directory = AccountDirectory(
            self.graph,
            self.connections(),
            graph_api_url=self.config.get("graph_api_url", DEFAULT_URLS["graph_api_url"]),
            instagram_api_url=self.config.get("instagram_api_url", DEFAULT_URLS["instagram_api_url"]),
            account_ids=self.config.get("account_ids"),
            shard=parse_shard(self.config.get("account_shard")),
            logger=self.logger,
            on_reconnect=self._connection_died,
        )
        for problem in self.oauth.problems if self.oauth is not None else []:  # stored logins needing a reconnect
            directory.mark(problem.subject, "reconnect", problem.reason)
        return directory

    def _connection_died(self, label: str, reason: str) -> None:
        """Meta rejected a connection's token mid-run: record it in the OAuth store; stop if `on_auth_error: fail`."""
        if self.oauth is not None:
            self.oauth.mark_reconnect_needed(label, reason)
        if str(self.config.get("on_auth_error") or "skip").lower() == "fail":
            raise ReconnectNeededError(
                f"Connection {label} needs reconnecting: {reason}. The run stopped because `on_auth_error` is "
                "`fail`; set it to `skip` to extract the other creators anyway."
            )

    def dead_connections(self) -> dict[str, str]:
        """Connections whose token Meta rejected this run (label -> reason); empty before any account was read."""
        directory = self.__dict__.get("directory")  # never start discovery just to ask
        return dict(directory.dead) if isinstance(directory, AccountDirectory) else {}

    def write_message(self, message: t.Any) -> None:  # type: ignore[misc]  # final in singer-sdk; only counts
        """Write as singer-sdk does, counting RECORD messages per stream for the run summary."""
        if isinstance(message, RecordMessage):
            self.record_counts[message.stream] = self.record_counts.get(message.stream, 0) + 1
        super().write_message(message)

    @cached_property
    def record_counts(self) -> dict[str, int]:
        """Records written per stream (alias) this run."""
        return {}

    def sync_all(self) -> None:  # type: ignore[misc]  # singer-sdk marks it final but offers no after-sync hook
        try:
            _ = self.directory.routes  # discover first: a wrong `account_ids` is a settings error, not a stream's
            super().sync_all()
        except ReconnectNeededError as exc:
            self.log_summary()
            self.logger.error("%s", exc)
            raise click.exceptions.Exit(1) from None  # a clean non-zero exit (no traceback) under the CLI
        except AccountSelectionError as exc:
            raise ConfigValidationError("Account selection", errors=[str(exc)], schema={}) from None
        outcome = self.log_summary()
        if self.config.get("fail_on_skipped_accounts") and (outcome.deferred or outcome.reconnect):
            self.logger.error(
                "Exit status %d: %d account(s) deferred, %d connection(s) need a reconnect; every other account was "
                "extracted and its state emitted (`fail_on_skipped_accounts` is true).",
                EXIT_PARTIAL,
                len(outcome.deferred),
                len(outcome.reconnect),
            )
            raise click.exceptions.Exit(EXIT_PARTIAL)

    def run_outcome(self) -> RunOutcome:
        """Which accounts were finished, deferred, or lost to a dead connection this run."""
        directory = self.__dict__.get("directory")
        if not isinstance(directory, AccountDirectory):
            return RunOutcome([], [], [], [])
        problems = directory.problems
        routes = directory.routes
        reconnect_accounts = [a for a, route in routes.items() if route.connection in directory.dead]
        return RunOutcome(
            done=directory.account_ids(),
            deferred=sorted(directory.deferred),
            reconnect=[p.subject.removeprefix("connection ") for p in problems if p.kind == "reconnect"],
            reconnect_accounts=reconnect_accounts,
        )

    def log_summary(self) -> RunOutcome:
        """One closing line a scheduler can read (accounts done / deferred / needing reconnect, records per stream,
        requests), plus one line per skipped account."""
        stats = self.graph.stats
        outcome = self.run_outcome()
        problems = self.directory.problems
        counts = self.record_counts
        records = " ".join(f"{name}={counts.get(name, 0)}" for name, stream in self.streams.items() if stream.selected)
        self.logger.info(
            "Run summary: accounts done %d, deferred %d, reconnect needed %d; records %s; HTTP requests %d, "
            "API calls %d; rate-limit pauses %d (%.1fs)",
            len(outcome.done),
            len(outcome.deferred),
            len(outcome.reconnect_accounts),
            records or "none",
            stats.http_requests,
            stats.api_calls,
            self.graph.limiter.pauses,
            self.graph.limiter.paused_seconds,
        )
        for problem in problems:
            self.logger.warning("Skipped %s (%s): %s", problem.subject, problem.kind, problem.reason)
        dead = outcome.reconnect
        if outcome.deferred:
            self.logger.warning(
                "Deferred to the next run: %s. Their bookmarks cover only what was extracted, so the next run (with "
                "this run's state) picks up the rest.",
                ", ".join(outcome.deferred),
            )
        if dead:  # found dead before the run (store) or during it (a 190)
            from tap_creatorsocial.oauth.manager import auth_command

            self.logger.warning(
                "Reconnect needed for %d connection(s): %s. Fix: the creator logs in again (`%s`); `%s` shows them.",
                len(dead),
                ", ".join(dead),
                auth_command("login"),
                auth_command("status"),
            )
        return outcome


if __name__ == "__main__":
    TapCreatorSocial.cli()

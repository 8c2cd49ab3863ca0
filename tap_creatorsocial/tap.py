"""tap-creatorsocial: the Singer tap for first-party creator data (Instagram professional accounts)."""

from __future__ import annotations

import datetime as dt
import json
import typing as t
from functools import cached_property

import click
import requests
from singer_sdk import Stream, Tap, about
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.exceptions import ConfigValidationError

from tap_creatorsocial import streams
from tap_creatorsocial.about import stream_info, streams_markdown
from tap_creatorsocial.catalog.versions import DEFAULT_API_VERSION, parse_api_version
from tap_creatorsocial.directory import AccountDirectory, Connection
from tap_creatorsocial.graph import GraphClient
from tap_creatorsocial.media_index import MediaIndex
from tap_creatorsocial.settings import CONFIG_SCHEMA, config_errors
from tap_creatorsocial.sharding import parse_shard

if t.TYPE_CHECKING:
    from tap_creatorsocial.oauth import OAuthManager
    from tap_creatorsocial.sandbox import GraphEmulator


class ReconnectNeededError(Exception):
    """A connection's token died mid-run and `on_auth_error` is `fail`: the run stops (after recording it)."""


DEFAULT_URLS = {"graph_api_url": "https://graph.facebook.com", "instagram_api_url": "https://graph.instagram.com"}

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
    message_writer_class = MsgSpecWriter

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
        session = requests.Session()
        session.headers["User-Agent"] = "tap-creatorsocial"
        if self.sandbox_emulator is not None:
            from tap_creatorsocial.sandbox import mount

            mount(session, self.sandbox_emulator)
        return GraphClient(
            session,
            api_version=self.api_version,
            app_secret=self.config.get("client_secret"),
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

    def sync_all(self) -> None:  # type: ignore[misc]  # singer-sdk marks it final but offers no after-sync hook
        try:
            super().sync_all()
        except ReconnectNeededError as exc:
            self.log_summary()
            self.logger.error("%s", exc)
            raise click.exceptions.Exit(1) from None  # a clean non-zero exit (no traceback) under the CLI
        self.log_summary()

    def log_summary(self) -> None:
        """One closing line a scheduler can read, plus one line per skipped account."""
        stats = self.graph.stats
        problems = self.directory.problems
        self.logger.info(
            "Run summary: %d account(s) extracted, %d skipped; %d HTTP requests, %d API calls",
            len(self.directory.account_ids()),
            len(problems),
            stats.http_requests,
            stats.api_calls,
        )
        for problem in problems:
            self.logger.warning("Skipped %s (%s): %s", problem.subject, problem.kind, problem.reason)
        dead = [p.subject.removeprefix("connection ") for p in problems if p.kind == "reconnect"]
        if dead:  # found dead before the run (store) or during it (a 190)
            from tap_creatorsocial.oauth.manager import auth_command

            self.logger.warning(
                "Reconnect needed for %d connection(s): %s. Fix: the creator logs in again (`%s`); `%s` shows them.",
                len(dead),
                ", ".join(dead),
                auth_command("login"),
                auth_command("status"),
            )


if __name__ == "__main__":
    TapCreatorSocial.cli()

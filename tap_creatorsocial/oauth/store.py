"""The OAuth settings store: every creator login (connection) the tap may use, with its tokens and health.

Tokens live here and only here (never in Singer STATE or records). The file is shared by concurrent runs and the
`tap-creatorsocial-auth` CLI, so every change is a read-modify-write under an inter-process lock, written atomically
(temp file in the same directory, fsync, rename, fsync the directory) with mode 0600. A file that cannot be read is
reported with its path and the fix, and is never replaced: it may hold the only copy of many creators' logins.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import os
import tempfile
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

import platformdirs
from filelock import FileLock, Timeout

Provider = Literal["facebook", "instagram"]
Status = Literal["linked", "expiring_soon", "reconnect_needed"]

STORE_FORMAT = "tap-creatorsocial/oauth"
STORE_VERSION = 1
MEMORY_PREFIX = "memory://"
STORE_FILENAME = "oauth.json"
EXPIRY_WARNING = dt.timedelta(days=7)  # "Expiring soon" this long before the token or data access lapses
LOCK_TIMEOUT_SECONDS = 120.0  # a refresh holds the lock for a few HTTP calls at most

STATUS_LABELS: dict[Status, str] = {
    "linked": "Linked",
    "expiring_soon": "Expiring soon",
    "reconnect_needed": "Reconnect needed",
}

T = TypeVar("T")


class OAuthStoreError(Exception):
    """The store cannot be read, written or locked; the message names the file and the fix."""


# -- data ----------------------------------------------------------------------------------------------------------


def _ts(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else None


def _parse_ts(value: Any) -> dt.datetime | None:
    if value in (None, ""):
        return None
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _required_ts(value: Any) -> dt.datetime:
    parsed = _parse_ts(value)
    if parsed is None:
        raise ValueError("missing timestamp")
    return parsed


@dataclass
class LinkedPage:
    """A Facebook Page the creator manages; its page token never expires but dies with the login's data access."""

    id: str
    name: str | None = None
    ig_account_id: str | None = None
    access_token: str | None = field(default=None, repr=False)


@dataclass
class LinkedAccount:
    """An Instagram professional account a connection can read."""

    id: str
    username: str | None = None
    page_id: str | None = None


@dataclass
class StoredConnection:
    """One creator login: who, which login path and host, the long-lived token, its expiries and its health."""

    provider: Provider
    user_id: str  # app-scoped FB user id, or the IG professional account id (Instagram Login)
    name: str  # the creator, for people: FB user name or IG username
    access_token: str = field(repr=False)
    api_url: str  # base URL of the Graph host the token belongs to (a sandbox token never goes to Meta)
    issued_at: dt.datetime
    expires_at: dt.datetime | None  # None: never expires
    data_access_expires_at: dt.datetime | None = None  # Facebook Login: 90 days after the creator last logged in
    scopes: list[str] = field(default_factory=list)
    pages: list[LinkedPage] = field(default_factory=list)
    accounts: list[LinkedAccount] = field(default_factory=list)
    status: Status = "linked"
    last_error: str | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    refreshed_at: dt.datetime | None = None

    @property
    def key(self) -> str:
        return connection_key(self.provider, self.user_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "user_id": self.user_id,
            "name": self.name,
            "access_token": self.access_token,
            "api_url": self.api_url,
            "issued_at": _ts(self.issued_at),
            "expires_at": _ts(self.expires_at),
            "data_access_expires_at": _ts(self.data_access_expires_at),
            "scopes": list(self.scopes),
            "pages": [
                {"id": p.id, "name": p.name, "ig_account_id": p.ig_account_id, "access_token": p.access_token}
                for p in self.pages
            ],
            "accounts": [{"id": a.id, "username": a.username, "page_id": a.page_id} for a in self.accounts],
            "status": self.status,
            "last_error": self.last_error,
            "created_at": _ts(self.created_at),
            "updated_at": _ts(self.updated_at),
            "refreshed_at": _ts(self.refreshed_at),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> StoredConnection:
        provider = raw["provider"]
        if provider not in ("facebook", "instagram"):
            raise ValueError(f"unknown provider {provider!r}")
        status = raw.get("status") or "linked"
        if status not in STATUS_LABELS:
            raise ValueError(f"unknown status {status!r}")
        token = raw["access_token"]
        if not isinstance(token, str) or not token:
            raise ValueError("empty access_token")
        return cls(
            provider=provider,
            user_id=str(raw["user_id"]),
            name=str(raw.get("name") or raw["user_id"]),
            access_token=token,
            api_url=str(raw["api_url"]),
            issued_at=_required_ts(raw["issued_at"]),
            expires_at=_parse_ts(raw.get("expires_at")),
            data_access_expires_at=_parse_ts(raw.get("data_access_expires_at")),
            scopes=[str(s) for s in raw.get("scopes") or []],
            pages=[
                LinkedPage(str(p["id"]), p.get("name"), p.get("ig_account_id"), p.get("access_token"))
                for p in raw.get("pages") or []
            ],
            accounts=[
                LinkedAccount(str(a["id"]), a.get("username"), a.get("page_id")) for a in raw.get("accounts") or []
            ],
            status=cast(Status, status),
            last_error=raw.get("last_error"),
            created_at=_parse_ts(raw.get("created_at")),
            updated_at=_parse_ts(raw.get("updated_at")),
            refreshed_at=_parse_ts(raw.get("refreshed_at")),
        )


@dataclass
class PendingLogin:
    """An authorization URL handed out by `tap-creatorsocial-auth url`, awaiting `exchange` (headless logins).

    Persisting it lets `exchange`, a separate process, verify the `state` it receives and use the same
    `redirect_uri` (Meta requires it to be identical).
    """

    state: str = field(repr=False)
    provider: Provider
    redirect_uri: str
    api_url: str
    created_at: dt.datetime
    expires_at: dt.datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "redirect_uri": self.redirect_uri,
            "api_url": self.api_url,
            "created_at": _ts(self.created_at),
            "expires_at": _ts(self.expires_at),
        }

    @classmethod
    def from_dict(cls, state: str, raw: dict[str, Any]) -> PendingLogin:
        provider = raw["provider"]
        if provider not in ("facebook", "instagram"):
            raise ValueError(f"unknown provider {provider!r}")
        return cls(
            state=state,
            provider=provider,
            redirect_uri=str(raw["redirect_uri"]),
            api_url=str(raw["api_url"]),
            created_at=_required_ts(raw["created_at"]),
            expires_at=_required_ts(raw["expires_at"]),
        )


@dataclass
class StoreData:
    """The whole store: connections by key (`provider:user_id`) and pending headless logins by `state`.

    `invites` belongs to the creator connect page (`tap_creatorsocial.connect.invites` reads and validates it); the
    store keeps it verbatim so every writer (tap runs, the CLI) preserves it under the same lock.
    """

    connections: dict[str, StoredConnection] = field(default_factory=dict)
    pending: dict[str, PendingLogin] = field(default_factory=dict)
    invites: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": STORE_FORMAT,
            "version": STORE_VERSION,
            "connections": {key: c.to_dict() for key, c in sorted(self.connections.items())},
            "pending_logins": {state: p.to_dict() for state, p in self.pending.items()},
        }
        if self.invites:
            out["invites"] = copy.deepcopy(self.invites)
        return out

    @classmethod
    def from_dict(cls, raw: Any) -> StoreData:
        """Parse a decoded file; raise ValueError (with what is wrong) on anything unexpected."""
        if not isinstance(raw, dict) or raw.get("format") != STORE_FORMAT:
            raise ValueError(f'it is not a tap-creatorsocial OAuth store (no "format": "{STORE_FORMAT}")')
        version = raw.get("version")
        if version != STORE_VERSION:
            raise ValueError(f"it has format version {version!r}; this tap reads version {STORE_VERSION}")
        data = cls()
        try:
            for key, item in (raw.get("connections") or {}).items():
                conn = StoredConnection.from_dict(item)
                data.connections[conn.key] = conn
                if key != conn.key:
                    raise ValueError(f"connection {key!r} holds {conn.key!r}")
            for state, item in (raw.get("pending_logins") or {}).items():
                data.pending[state] = PendingLogin.from_dict(state, item)
            for invite_id, item in (raw.get("invites") or {}).items():
                if not isinstance(item, dict):
                    raise ValueError(f"invite {invite_id!r} is not an object")
                data.invites[str(invite_id)] = item
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"a connection entry is incomplete ({type(exc).__name__}: {exc})") from exc
        return data

    def drop_expired_pending(self, now: dt.datetime) -> None:
        for state in [s for s, p in self.pending.items() if p.expires_at <= now]:
            del self.pending[state]


def connection_key(provider: str, user_id: str) -> str:
    return f"{provider}:{user_id}"


# -- health --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Health:
    """A connection's status at one instant, with the reason people need to act on it."""

    status: Status
    reason: str = ""

    @property
    def usable(self) -> bool:
        return self.status != "reconnect_needed"

    @property
    def label(self) -> str:
        return STATUS_LABELS[self.status]


def _day(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def assess(conn: StoredConnection, now: dt.datetime, *, warning: dt.timedelta = EXPIRY_WARNING) -> Health:
    """Linked / Expiring soon / Reconnect needed, from the stored facts and the clock (not only the stored status).

    A `reconnect_needed` recorded after Meta rejected the token sticks until the creator logs in again.
    """
    if conn.status == "reconnect_needed":
        return Health("reconnect_needed", conn.last_error or "Meta rejected the token")
    if conn.expires_at is not None and now >= conn.expires_at:
        return Health("reconnect_needed", f"token expired on {_day(conn.expires_at)}")
    if conn.data_access_expires_at is not None and now >= conn.data_access_expires_at:
        return Health(
            "reconnect_needed",
            f"data access expired on {_day(conn.data_access_expires_at)} (90 days without the creator logging in)",
        )
    if conn.data_access_expires_at is not None and conn.data_access_expires_at - now <= warning:
        return Health(
            "expiring_soon",
            f"data access expires on {_day(conn.data_access_expires_at)}; the creator must log in again",
        )
    if conn.expires_at is not None and conn.expires_at - now <= warning:
        how = (
            "the creator must log in again"
            if conn.provider == "facebook"
            else "run `tap-creatorsocial-auth refresh` (or any tap run) to renew it"
        )
        return Health("expiring_soon", f"token expires on {_day(conn.expires_at)}; {how}")
    return Health("linked", conn.last_error or "")


# -- stores --------------------------------------------------------------------------------------------------------


class OAuthStore(ABC):
    """Where connections persist. `update` is the only way to change them: it runs a read-modify-write atomically."""

    location: str

    @abstractmethod
    def load(self) -> StoreData:
        """A snapshot of the store (empty when it does not exist yet)."""

    @abstractmethod
    def update(self, mutate: Callable[[StoreData], T]) -> T:
        """Lock, read the current data, let `mutate` change it in place, write it back, unlock; return its result.

        `mutate` sees what other processes wrote up to that moment, so concurrent updates to different
        connections never lose each other's changes. If `mutate` raises, nothing is written.
        """


class FileStore(OAuthStore):
    """A JSON file (mode 0600) guarded by `<file>.lock` (filelock) for concurrent runs."""

    def __init__(self, path: Path, *, lock_timeout: float = LOCK_TIMEOUT_SECONDS) -> None:
        self.path = path.expanduser()
        self.location = str(self.path)
        self.lock_timeout = lock_timeout
        self._lock = FileLock(str(self.path) + ".lock", timeout=lock_timeout, mode=0o600)

    def __repr__(self) -> str:
        return f"FileStore({self.location!r})"

    def _corrupt(self, detail: str) -> OAuthStoreError:
        return OAuthStoreError(
            f"The OAuth settings store {self.path} cannot be read: {detail}. It was left untouched. "
            f"Fix: if it was edited by hand, repair it; otherwise move it aside (mv '{self.path}' "
            f"'{self.path}.broken') and connect the creators again with `tap-creatorsocial-auth login`, "
            "or point the setting `oauth_settings_location` at another file."
        )

    def load(self) -> StoreData:
        # Writers replace the file atomically, so a reader without the lock still sees a whole file.
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return StoreData()
        except OSError as exc:
            raise OAuthStoreError(
                f"The OAuth settings store {self.path} cannot be opened ({exc.strerror}). "
                "Fix: check its permissions, or set `oauth_settings_location` to a file this user can write."
            ) from exc
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise self._corrupt(f"it is not valid JSON ({exc})") from exc
        try:
            return StoreData.from_dict(raw)
        except ValueError as exc:
            raise self._corrupt(str(exc)) from exc

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise OAuthStoreError(
                f"Cannot create the directory of the OAuth settings store {self.path} ({exc.strerror}). "
                "Fix: set `oauth_settings_location` to a writable path."
            ) from exc
        try:
            with self._lock:
                yield
        except Timeout as exc:
            raise OAuthStoreError(
                f"Another process has held the lock {self._lock.lock_file} for over {self.lock_timeout:.0f}s. "
                "Fix: wait for the other tap run or `tap-creatorsocial-auth` command to finish; if none is running, "
                "delete the lock file."
            ) from exc

    def update(self, mutate: Callable[[StoreData], T]) -> T:
        with self._locked():
            data = self.load()
            result = mutate(data)
            self._write(data)
            return result

    def _write(self, data: StoreData) -> None:
        """Atomic replace: a crash at any point leaves either the old or the new file, both complete."""
        directory = self.path.parent
        self._remove_stale_temp_files()
        payload = json.dumps(data.to_dict(), indent=2, sort_keys=False).encode("utf-8") + b"\n"
        fd, tmp_name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)  # mode 0600
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp_name, 0o600)
            os.replace(tmp_name, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
            raise
        _fsync_directory(directory)

    def _remove_stale_temp_files(self) -> None:
        """Temp files of writers killed mid-write; safe to delete because writes only happen under the lock."""
        for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class MemoryStore(OAuthStore):
    """`memory://[name]`: a per-process store for tests and throwaway runs; same name, same data."""

    _registry: dict[str, dict[str, Any]] = {}
    _registry_lock = threading.RLock()

    def __init__(self, location: str = MEMORY_PREFIX) -> None:
        self.location = location

    def __repr__(self) -> str:
        return f"MemoryStore({self.location!r})"

    def load(self) -> StoreData:
        with self._registry_lock:
            raw = copy.deepcopy(self._registry.get(self.location))
        return StoreData.from_dict(raw) if raw is not None else StoreData()

    def update(self, mutate: Callable[[StoreData], T]) -> T:
        with self._registry_lock:
            data = self.load()
            result = mutate(data)
            self._registry[self.location] = data.to_dict()  # serialised, like the file: no shared mutable objects
            return result

    @classmethod
    def clear_all(cls) -> None:
        with cls._registry_lock:
            cls._registry.clear()


def default_store_path() -> Path:
    """`<user config dir>/tap-creatorsocial/oauth.json` (e.g. ~/.config/tap-creatorsocial/oauth.json on Linux)."""
    return platformdirs.user_config_path("tap-creatorsocial", appauthor=False) / STORE_FILENAME


def open_store(location: str | os.PathLike[str] | None = None) -> OAuthStore:
    """The store at `oauth_settings_location`: a file path, `memory://[name]`, or the default file when empty."""
    if location is None or str(location).strip() == "":
        return FileStore(default_store_path())
    text = str(location).strip()
    if text.startswith(MEMORY_PREFIX):
        return MemoryStore(text)
    return FileStore(Path(text))

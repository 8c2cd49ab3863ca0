"""The OAuth store keeps every creator's login safe: atomic, private, lock-protected, never silently replaced."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from filelock import FileLock

from tap_creatorsocial.oauth.store import (
    FileStore,
    LinkedAccount,
    LinkedPage,
    MemoryStore,
    OAuthStoreError,
    PendingLogin,
    StoreData,
    StoredConnection,
    assess,
    default_store_path,
    open_store,
)

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
TOKEN = "SBXFBUstoretesttoken0000000000000001"


def make_conn(user_id: str = "1001", provider: str = "facebook", **changes: object) -> StoredConnection:
    conn = StoredConnection(
        provider=provider,  # type: ignore[arg-type]
        user_id=user_id,
        name=f"Creator {user_id}",
        access_token=f"{TOKEN}-{user_id}",
        api_url="https://graph.facebook.com" if provider == "facebook" else "https://graph.instagram.com",
        issued_at=NOW - dt.timedelta(days=1),
        expires_at=NOW + dt.timedelta(days=59),
        data_access_expires_at=NOW + dt.timedelta(days=89) if provider == "facebook" else None,
        scopes=["instagram_basic"],
        pages=[LinkedPage("p1", "Page", "17841400000000001", "SBXFBPpagetoken")],
        accounts=[LinkedAccount("17841400000000001", "creator", "p1")],
        created_at=NOW,
        updated_at=NOW,
    )
    for key, value in changes.items():
        setattr(conn, key, value)
    return conn


def put(store: FileStore | MemoryStore, conn: StoredConnection) -> None:
    def mutate(data: StoreData) -> None:
        data.connections[conn.key] = conn

    store.update(mutate)


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "oauth.json")
    conn = make_conn()
    put(store, conn)
    pending = PendingLogin(
        "state-1",
        "instagram",
        "http://localhost:33333/callback",
        "https://graph.instagram.com",
        NOW,
        NOW + dt.timedelta(minutes=30),
    )
    store.update(lambda data: data.pending.__setitem__(pending.state, pending))

    loaded = store.load()
    assert loaded.connections == {conn.key: conn}
    assert loaded.pending["state-1"] == pending
    raw = json.loads((tmp_path / "oauth.json").read_text())
    assert raw["format"] == "tap-creatorsocial/oauth"
    assert raw["version"] == 1


def test_file_and_lock_are_private(tmp_path: Path) -> None:
    path = tmp_path / "new-dir" / "oauth.json"
    store = FileStore(path)
    put(store, make_conn())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    # an existing wider file becomes 0600 on the next write (the rename replaces it)
    path.chmod(0o644)
    put(store, make_conn("1002"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_token_is_not_in_repr() -> None:
    conn = make_conn()
    assert conn.access_token not in repr(conn)
    assert "SBXFBPpagetoken" not in repr(conn)


def test_missing_file_is_an_empty_store(tmp_path: Path) -> None:
    assert FileStore(tmp_path / "absent.json").load() == StoreData()


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        ('{"format": "tap-creatorsocial/oauth", "version": 1, "connections": {', "not valid JSON"),
        ('{"something": "else"}', "not a tap-creatorsocial OAuth store"),
        ('{"format": "tap-creatorsocial/oauth", "version": 9}', "format version 9"),
        (
            '{"format": "tap-creatorsocial/oauth", "version": 1, '
            '"connections": {"facebook:1": {"provider": "facebook"}}}',
            "incomplete",
        ),
    ],
)
def test_corrupt_file_gives_a_clear_error_and_is_never_replaced(tmp_path: Path, content: str, detail: str) -> None:
    path = tmp_path / "oauth.json"
    path.write_text(content)
    before = path.read_bytes()
    store = FileStore(path)

    with pytest.raises(OAuthStoreError) as exc_info:
        store.load()
    message = str(exc_info.value)
    assert str(path) in message
    assert detail in message
    assert "Fix:" in message
    assert "tap-creatorsocial-auth login" in message

    with pytest.raises(OAuthStoreError):
        put(store, make_conn())  # an update must not write over it either
    assert path.read_bytes() == before


def test_failed_mutation_writes_nothing(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "oauth.json")
    put(store, make_conn())
    before = (tmp_path / "oauth.json").read_bytes()

    def boom(data: StoreData) -> None:
        data.connections.clear()
        raise RuntimeError("mid-update failure")

    with pytest.raises(RuntimeError):
        store.update(boom)
    assert (tmp_path / "oauth.json").read_bytes() == before


_WRITER = r"""
import datetime as dt, sys
from pathlib import Path
from tap_creatorsocial.oauth.store import FileStore, StoredConnection
store = FileStore(Path(sys.argv[1]))
now = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
if len(sys.argv) > 2:  # stall inside the 3rd write, after the temp file is written but before the rename
    import os, time
    real_fsync, calls = os.fsync, [0]
    def stalling_fsync(fd):
        calls[0] += 1
        if calls[0] == 5:  # two fsyncs per write (file, directory): this is the 3rd write's file fsync
            print("stalled", flush=True)
            time.sleep(60)
        real_fsync(fd)
    os.fsync = stalling_fsync
i = 0
while True:
    i += 1
    def mutate(data, i=i):
        data.connections["facebook:1"] = StoredConnection(
            provider="facebook", user_id="1", name="c", access_token="T" * 10 + str(i),
            api_url="https://graph.facebook.com", issued_at=now, expires_at=None,
            last_error="x" * 2_000_000 + str(i))
    store.update(mutate)
    print(i, flush=True)
"""


def _kill_writer(path: Path, *, stall: bool, delay: float = 0.0) -> None:
    args = [sys.executable, "-c", _WRITER, str(path), *(["stall"] if stall else [])]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    if stall:
        while (line := proc.stdout.readline()) and line.strip() != "stalled":
            pass
    else:
        proc.stdout.readline()  # at least one complete write happened
        time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stdout.close()


def _assert_complete(store: FileStore) -> None:
    data = store.load()  # a complete file: the old or the new version, never a torn one
    conn = data.connections["facebook:1"]
    assert conn.access_token == "T" * 10 + (conn.last_error or "").removeprefix("x" * 2_000_000)


def test_write_killed_midway_leaves_a_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "oauth.json"
    store = FileStore(path)

    _kill_writer(path, stall=True)  # killed with the new version fully in the temp file, before the rename
    assert list(tmp_path.glob(".oauth.json.*.tmp")), "the kill should have hit mid-write"
    _assert_complete(store)
    assert store.load().connections["facebook:1"].access_token == "T" * 10 + "2"

    for delay in (0.0, 0.005, 0.02):  # and killed at arbitrary moments of a busy write loop
        _kill_writer(path, stall=False, delay=delay)
        _assert_complete(store)

    put(store, make_conn())  # the next writer still works and sweeps temp files of killed writers
    assert not list(tmp_path.glob(".oauth.json.*.tmp"))
    assert set(store.load().connections) == {"facebook:1", "facebook:1001"}


def _concurrent_worker(path: str, worker: int, updates: int) -> None:
    store = FileStore(Path(path))
    for n in range(updates):

        def mutate(data: StoreData, n: int = n) -> None:
            key = f"facebook:{worker}"
            if key not in data.connections:
                data.connections[key] = make_conn(str(worker), scopes=[])
            data.connections[key].scopes.append(f"u{n}")
            shared = data.connections.setdefault("facebook:shared", make_conn("shared", scopes=[]))
            shared.scopes.append(f"w{worker}-u{n}")

        store.update(mutate)


def test_concurrent_processes_lose_no_update(tmp_path: Path) -> None:
    path = tmp_path / "oauth.json"
    workers, updates = 4, 25
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_concurrent_worker, args=(str(path), w, updates)) for w in range(workers)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0

    data = FileStore(path).load()
    for w in range(workers):
        assert data.connections[f"facebook:{w}"].scopes == [f"u{n}" for n in range(updates)]
    assert len(data.connections["facebook:shared"].scopes) == workers * updates


def test_lock_held_too_long_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "oauth.json"
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with FileLock(str(path) + ".lock"):
            held.set()
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(5)
    try:
        with pytest.raises(OAuthStoreError, match="held the lock"):
            put(FileStore(path, lock_timeout=0.2), make_conn())
    finally:
        release.set()
        thread.join()


def test_memory_store_shares_by_name_and_touches_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    MemoryStore.clear_all()
    first = open_store("memory://")
    assert isinstance(first, MemoryStore)
    put(first, make_conn())
    assert set(open_store("memory://").load().connections) == {"facebook:1001"}
    assert open_store("memory://other").load().connections == {}
    # snapshots are copies: changing one does not change the store
    open_store("memory://").load().connections["facebook:1001"].name = "changed"
    assert open_store("memory://").load().connections["facebook:1001"].name == "Creator 1001"
    assert list(tmp_path.iterdir()) == []
    MemoryStore.clear_all()


def test_default_location_is_the_user_config_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    store = open_store(None)
    assert isinstance(store, FileStore)
    assert store.path == default_store_path() == tmp_path / "tap-creatorsocial" / "oauth.json"
    assert isinstance(open_store(str(tmp_path / "x.json")), FileStore)


def test_health_linked_expiring_and_reconnect() -> None:
    assert assess(make_conn(), NOW).status == "linked"

    soon = assess(make_conn(expires_at=NOW + dt.timedelta(days=3)), NOW)
    assert soon.status == "expiring_soon"
    assert soon.usable
    assert "token expires on 2026-03-04" in soon.reason
    assert "log in again" in soon.reason

    ig_soon = assess(make_conn(provider="instagram", expires_at=NOW + dt.timedelta(days=3)), NOW)
    assert "refresh" in ig_soon.reason

    data_soon = assess(make_conn(data_access_expires_at=NOW + dt.timedelta(days=2)), NOW)
    assert data_soon.status == "expiring_soon"
    assert "data access expires" in data_soon.reason

    expired = assess(make_conn(expires_at=NOW - dt.timedelta(seconds=1)), NOW)
    assert expired.status == "reconnect_needed"
    assert not expired.usable
    assert "token expired on" in expired.reason

    lapsed = assess(make_conn(data_access_expires_at=NOW - dt.timedelta(days=1)), NOW)
    assert lapsed.status == "reconnect_needed"
    assert "90 days" in lapsed.reason

    rejected = assess(make_conn(status="reconnect_needed", last_error="Error validating access token"), NOW)
    assert rejected.status == "reconnect_needed"
    assert rejected.reason == "Error validating access token"
    assert rejected.label == "Reconnect needed"

    never = assess(make_conn(expires_at=None, data_access_expires_at=None), NOW)
    assert never.status == "linked"


def test_store_file_mode_survives_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = tmp_path / "oauth.json"
        put(FileStore(path), make_conn())
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(Path(str(path) + ".lock").stat().st_mode) & 0o077 == 0
    finally:
        os.umask(old)

"""No token, app secret or appsecret_proof ever leaves the OAuth store: a whole pipeline, scanned byte by byte.

Creators are connected through the real login flow into a file store; the tap then runs as a process (DEBUG logs,
`client_secret` set, so every call carries `appsecret_proof`) into target-duckdb. Every secret the sandbox issued or
received is then searched for in the tap's stdout and stderr, the final state, the target's output and the DuckDB
file (its raw bytes and every value of every table, since DuckDB compresses strings on disk).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import duckdb
import pytest
import requests

from tap_creatorsocial.oauth.flows import OAuthClient, OAuthSettings
from tap_creatorsocial.oauth.store import FileStore
from tap_creatorsocial.sandbox import GraphEmulator, create_emulator
from tap_creatorsocial.sandbox.dataset import APP_ID, APP_SECRET
from tap_creatorsocial.sandbox.server import serve_in_thread
from tests.test_oauth_midrun import connect

REPO = Path(__file__).resolve().parents[1]
# Meltano's install of the loader (`make demo`); without it the rows are loaded in-process (same file, same scan).
TARGET_DUCKDB = Path(
    os.environ.get("TARGET_DUCKDB_BIN")
    or REPO / ".meltano" / "loaders" / "target-duckdb" / "venv" / "bin" / "target-duckdb"
)
SECRET_PARAMS = ("access_token", "appsecret_proof", "client_secret", "input_token", "code", "fb_exchange_token")


class SecretLog:
    """Every secret value the sandbox saw in a request (bearer tokens, proofs, codes, secrets)."""

    def __init__(self) -> None:
        self.values: set[str] = set()

    def record(self, url: str, headers: Any, body: bytes | None) -> None:
        auth = dict(headers).get("Authorization", "")
        if auth.startswith("Bearer "):
            self.values.add(auth.removeprefix("Bearer "))
        params = parse_qsl(urlsplit(url).query)
        if body:
            params += parse_qsl(body.decode("utf-8", "replace"))
        self.values.update(v for k, v in params if k in SECRET_PARAMS and v)


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[tuple[GraphEmulator, dict[str, Any], SecretLog]]:
    emu = create_emulator(accounts=5, media=2, stories=1, scenario="appsecret-proof")  # calls without proof fail
    seen = SecretLog()
    handle = emu.handle

    def recording(method: str, url: str, headers: Any, body: bytes | None = None) -> Any:
        seen.record(url, headers, body)
        return handle(method, url, headers, body)

    emu.handle = recording  # type: ignore[method-assign]
    server, base = serve_in_thread(emu)
    config = {
        "graph_api_url": f"{base}/graph.facebook.com",
        "instagram_api_url": f"{base}/graph.instagram.com",
        "oauth_settings_location": str(tmp_path / "oauth.json"),
        "client_id": APP_ID,
        "client_secret": APP_SECRET,
        "sandbox": True,
    }
    store = FileStore(tmp_path / "oauth.json")
    client = OAuthClient(OAuthSettings.from_config(config), requests.Session())
    connect(client, "facebook", None, store, emu)
    for user in emu.dataset.instagram_users:
        connect(client, "instagram", user.account_id, store, emu)
    try:
        yield emu, config, seen
    finally:
        server.stop()


def every_secret(emu: GraphEmulator, store: FileStore, seen: SecretLog) -> list[str]:
    found = {APP_SECRET, f"{APP_ID}|{APP_SECRET}", *seen.values, *emu.tokens._tokens, *emu.tokens._codes}
    for conn in store.load().connections.values():
        found.add(conn.access_token)
        found.update(p.access_token for p in conn.pages if p.access_token)
    tokens = [s for s in found if s.startswith("SBX")]
    found.update(hmac.new(APP_SECRET.encode(), t.encode(), hashlib.sha256).hexdigest() for t in tokens)
    return sorted(s for s in found if len(s) >= 8)


def load_in_process(singer_lines: bytes, db_path: Path) -> None:
    """Fallback when target-duckdb is not installed (.meltano absent): every record, every field as VARCHAR."""
    streams: dict[str, list[dict[str, Any]]] = {}
    for line in singer_lines.splitlines():
        message = json.loads(line)
        if message.get("type") == "RECORD":
            streams.setdefault(message["stream"], []).append(message["record"])
    with duckdb.connect(str(db_path)) as con:
        con.execute("create schema creatorsocial")
        for stream, records in streams.items():
            names = list(dict.fromkeys(k for r in records for k in r))
            staged = db_path.with_name(f"{stream}.jsonl")
            staged.write_text(
                "".join(
                    json.dumps({n: v if isinstance(v, str) or v is None else json.dumps(v) for n, v in r.items()})
                    + "\n"
                    for r in records
                )
            )
            columns = "{" + ", ".join(f"'{n}': 'VARCHAR'" for n in names) + "}"
            con.execute(
                f'create table creatorsocial."{stream}" as select * from read_json(?, columns = {columns})',
                [str(staged)],
            )
            staged.unlink()


def dump(db_path: Path) -> str:
    """Every value of every table as text (the file's bytes alone can hide a compressed string)."""
    parts: list[str] = []
    with duckdb.connect(str(db_path), read_only=True) as con:
        tables = con.execute("select table_schema, table_name from information_schema.tables").fetchall()
        for schema, table in tables:
            for row in con.execute(f'select * from "{schema}"."{table}"').fetchall():
                parts.append("\t".join(str(v) for v in row))
    return "\n".join(parts)


def test_no_secret_in_stdout_stderr_state_or_duckdb(
    pipeline: tuple[GraphEmulator, dict[str, Any], SecretLog], tmp_path: Path
) -> None:
    emu, config, seen = pipeline
    config_path = tmp_path / "tap.json"
    config_path.write_text(json.dumps(config))
    env = {**os.environ, "LOGLEVEL": "DEBUG"}  # the most the tap (and urllib3) ever log
    tap = subprocess.run(
        [sys.executable, "-m", "tap_creatorsocial", "--config", str(config_path)],
        capture_output=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        env=env,
        check=False,
    )
    assert tap.returncode == 0, tap.stderr[-3000:].decode()
    messages = [json.loads(line) for line in tap.stdout.splitlines()]
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    state_path = tmp_path / "state.json"
    state_path.write_text(json.dumps(states[-1]))

    db_path = tmp_path / "creators.duckdb"
    if TARGET_DUCKDB.exists():
        target_config = tmp_path / "target.json"
        target_config.write_text(json.dumps({"path": str(db_path), "default_target_schema": "creatorsocial"}))
        target = subprocess.run(
            [str(TARGET_DUCKDB), "--config", str(target_config)],
            input=tap.stdout,
            capture_output=True,
            timeout=300,
            check=False,
        )
        assert target.returncode == 0, target.stderr[-3000:].decode()
        target_output = target.stdout + target.stderr
    else:
        load_in_process(tap.stdout, db_path)
        target_output = b""

    # The scan is not vacuous: the run read every creator, proofs were sent, and the load holds the rows.
    store = FileStore(Path(config["oauth_settings_location"]))
    secrets = every_secret(emu, store, seen)
    proofs = [s for s in seen.values if len(s) == 64 and all(c in "0123456789abcdef" for c in s)]
    assert proofs, "client_secret was set, so calls must carry appsecret_proof"
    table_text = dump(db_path)
    accounts = {a.id for c in store.load().connections.values() for a in c.accounts}
    assert len(accounts) == 5
    assert all(a in table_text for a in accounts)
    assert all(key in table_text for key in store.load().connections)  # the `connections` table
    assert b"Run summary: accounts done 5, deferred 0, reconnect needed 0; records accounts=5 " in tap.stderr
    assert b"appsecret_proof=***" in tap.stderr  # urllib3's DEBUG URL lines were there, masked

    sources = {
        "tap stdout": tap.stdout,
        "tap stderr": tap.stderr,
        "state": state_path.read_bytes(),
        "target output": target_output,
        "duckdb file": b"".join(p.read_bytes() for p in tmp_path.glob("creators.duckdb*")),
        "duckdb tables": table_text.encode(),
    }
    leaks = [
        f"{secret[:6]}… in {name}" for secret in secrets for name, data in sources.items() if secret.encode() in data
    ]
    assert not leaks, leaks
    assert len(secrets) > 20

"""Fixtures: a deterministic emulator on a controllable clock, and a requests session mounted on it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import requests

from tap_creatorsocial.sandbox import DatasetSpec, GraphEmulator, Scenario, generate, mount
from tap_creatorsocial.sandbox.model import Account, Dataset

NOW = dt.datetime(2026, 9, 15, 12, 0, tzinfo=dt.UTC)
V = 25
FB = f"https://graph.facebook.com/v{V}.0"
IG = f"https://graph.instagram.com/v{V}.0"


class Clock:
    """A settable clock for the emulator (token expiry, refresh age, throttle windows)."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += dt.timedelta(**kwargs)


@dataclass
class Sandbox:
    """An emulator, its clock, a mounted session and the demo tokens."""

    emu: GraphEmulator
    clock: Clock
    http: requests.Session

    @property
    def dataset(self) -> Dataset:
        return self.emu.dataset

    @property
    def fb_token(self) -> str:
        return next(c["access_token"] for c in self.emu.connections() if c["provider"] == "facebook")

    def ig_token(self, index: int = 0) -> str:
        return [c["access_token"] for c in self.emu.connections() if c["provider"] == "instagram"][index]

    def ig_owner(self, index: int = 0) -> str:
        return [c["owner_id"] for c in self.emu.connections() if c["provider"] == "instagram"][index]

    def fb_accounts(self) -> list[Account]:
        return [a for a in self.dataset.accounts.values() if a.login == "facebook"]

    def ig_accounts(self) -> list[Account]:
        return [a for a in self.dataset.accounts.values() if a.login == "instagram"]

    def get(self, url: str, **params: str) -> requests.Response:
        params.setdefault("access_token", self.fb_token)
        return self.http.get(url, params=params)


@pytest.fixture(scope="session")
def base_dataset() -> Dataset:
    """The default demo-sized dataset, generated once (emulators never mutate it beyond demo_tokens)."""
    return generate(DatasetSpec(seed=7, accounts=4, media=40, stories=3), now=NOW)


@pytest.fixture
def make_sandbox(base_dataset: Dataset) -> Iterator[Callable[..., Sandbox]]:
    """Factory: ``make_sandbox(scenario=..., dataset=...)`` → a fresh emulator + session on its own clock."""
    sessions: list[requests.Session] = []

    def factory(scenario: Scenario | str | None = None, dataset: Dataset | None = None) -> Sandbox:
        clock = Clock(NOW)
        scn = Scenario.named(scenario) if isinstance(scenario, str) else scenario
        emu = GraphEmulator(dataset or base_dataset, scn, clock=clock)
        http = requests.Session()
        mount(http, emu)
        sessions.append(http)
        return Sandbox(emu, clock, http)

    yield factory
    for s in sessions:
        s.close()


@pytest.fixture
def sb(make_sandbox: Callable[..., Sandbox]) -> Sandbox:
    """A default-scenario sandbox."""
    return make_sandbox()


@pytest.fixture
def emulator(sb: Sandbox) -> GraphEmulator:
    """The emulator of ``sb``."""
    return sb.emu


@pytest.fixture
def session(sb: Sandbox) -> requests.Session:
    """A requests session mounted on ``emulator``."""
    return sb.http

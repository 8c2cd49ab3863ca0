"""A strict, local emulator of Meta's Instagram Platform / Graph API (the tap's test ground and demo).

Quick start::

    from tap_creatorsocial.sandbox import create_emulator, mount
    emu = create_emulator(seed=7, accounts=4)
    session = requests.Session(); mount(session, emu)
    token = emu.connections()[0]["access_token"]
    session.get("https://graph.facebook.com/v25.0/me/accounts", params={"access_token": token}).json()
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

from .api import GraphEmulator, SandboxResponse
from .dataset import DatasetSpec, generate
from .scenario import Scenario
from .transport import SandboxAdapter, mount

__all__ = [
    "DatasetSpec",
    "GraphEmulator",
    "SandboxAdapter",
    "SandboxResponse",
    "Scenario",
    "create_emulator",
    "generate",
    "mount",
]


def create_emulator(
    *,
    seed: int = 7,
    accounts: int = 4,
    media: int = 40,
    stories: int = 3,
    scenario: str | Scenario | None = None,
    now: dt.datetime | None = None,
    **knobs: Any,
) -> GraphEmulator:
    """Generate a dataset and wrap it in an emulator (a named scenario gets the same seed for reproducibility).

    `knobs` override fields of the scenario (e.g. ``throttle_minutes=0``), so tests can tune a preset.
    """
    dataset = generate(DatasetSpec(seed=seed, accounts=accounts, media=media, stories=stories), now=now)
    scn = replace(Scenario.named(scenario), seed=seed) if isinstance(scenario, str) else scenario
    if knobs:
        scn = replace(scn or Scenario(), **knobs)
    return GraphEmulator(dataset, scn)

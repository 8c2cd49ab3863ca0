"""Session fixtures shared by the end-to-end tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e import install_project


@pytest.fixture(scope="session")
def meltano_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repo's meltano.yml in a temp project, every plugin installed once per test session."""
    return install_project(tmp_path_factory.mktemp("meltano"))

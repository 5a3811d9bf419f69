"""Fixtures shared by every test suite."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def state_directory(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """The default state directory (systemd's $STATE_DIRECTORY), one per test, outside
    every guarded directory: no test writes into the real /var/lib or ~/.local/state."""
    directory = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("STATE_DIRECTORY", str(directory))
    return directory


@pytest.fixture
def models(tmp_path: Path) -> Path:
    """An empty directory to guard, `tmp_path/models`."""
    directory = tmp_path / "models"
    directory.mkdir()
    return directory

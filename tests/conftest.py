"""Fixtures shared by every test suite."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def models(tmp_path: Path) -> Path:
    """An empty directory to guard, `tmp_path/models`."""
    directory = tmp_path / "models"
    directory.mkdir()
    return directory

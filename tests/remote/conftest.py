"""One real S3 API server (moto in server mode on 127.0.0.1) for the remote tests, and a
fresh bucket per test. Skipped with the reason when moto or s3fs is not installed."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support import MotoServer, aws_environ, new_bucket, s3fs_client

HERE = Path(__file__).parent


def _missing() -> str | None:
    for module, what in (("moto", "moto[server]"), ("flask", "moto[server]"), ("s3fs", "s3fs")):
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return f"needs {what} (the remote extra: pip install -e '.[remote]')"
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here needs a real S3 API server: skipped, with the reason, without one."""
    reason = _missing()
    if reason is None:
        return
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    server = MotoServer().start()
    yield server
    server.stop()


@dataclass
class Bucket:
    server: MotoServer
    fs: Any
    name: str

    def url(self, prefix: str = "run") -> str:
        return f"s3://{self.name}/{prefix}"

    def keys(self, prefix: str = "run") -> set[str]:
        root = f"{self.name}/{prefix}"
        return {k[len(root) + 1 :] for k in self.fs.find(root)}

    @property
    def env(self) -> dict[str, str]:
        return self.server.environ()


@pytest.fixture
def bucket(moto: MotoServer) -> Iterator[Bucket]:
    """A new bucket on the shared server, this process's SDK variables pointed at it."""
    fs = s3fs_client(moto.endpoint)
    with aws_environ(moto):
        yield Bucket(moto, fs, new_bucket(fs))

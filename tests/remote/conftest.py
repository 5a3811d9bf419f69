"""One real S3 API server (moto in server mode on 127.0.0.1) for the remote tests, and a
fresh bucket per test. Skipped with the reason when moto or s3fs is not installed.

The `gs://` tests (test_gcs_*.py) have a GCS JSON-API server of their own instead
(fake-gcs-server), and are skipped with the reason when it or gcsfs is missing."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support import GcsServer, MotoServer, aws_environ, new_bucket, s3fs_client

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
    """Every test here needs a real S3 API server (the gs:// ones a GCS server): skipped,
    with the reason, without one."""
    reasons = {"s3": _missing(), "gcs": GcsServer.unavailable()}
    for item in items:
        path = Path(item.path)
        if HERE in path.parents:
            reason = reasons["gcs" if path.name.startswith("test_gcs") else "s3"]
            if reason is not None:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    server = MotoServer().start()
    yield server
    server.stop()


@dataclass
class Bucket:
    server: MotoServer | GcsServer
    fs: Any
    name: str
    scheme: str = "s3"

    def url(self, prefix: str = "run") -> str:
        return f"{self.scheme}://{self.name}/{prefix}"

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


@pytest.fixture(scope="session")
def gcs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GcsServer]:
    log = tmp_path_factory.mktemp("gcs") / "fake-gcs-server.log"
    try:
        server = GcsServer(log).start()
    except RuntimeError as error:
        pytest.skip(f"the GCS server (fake-gcs-server) cannot run here: {error}")
    yield server
    server.stop()


@pytest.fixture
def gcs_bucket(gcs_server: GcsServer) -> Bucket:
    """A new bucket on the shared GCS server (`env` is what a CLI process needs for it)."""
    fs = gcs_server.client()
    return Bucket(gcs_server, fs, new_bucket(fs), scheme="gs")

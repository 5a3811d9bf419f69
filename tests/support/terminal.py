"""A real terminal: a command run in a detached tmux session, its screen read back.

Each session gets its own tmux server socket (`-L`), so tests never touch a user's tmux.
The command runs under `sh -c 'CMD; echo "[exit $?]"; sleep 600'`, so its exit status
shows on the screen and the pane stays readable after it ends.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import uuid
from collections.abc import Mapping

import pytest

from support.waiting import wait_for

TMUX = shutil.which("tmux")
needs_tmux = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (Debian: tmux)")


class Terminal:
    """One tmux session of `width` x `height` running `argv` with `env` added."""

    def __init__(
        self,
        argv: list[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        width: int = 160,
        height: int = 50,
    ) -> None:
        assert TMUX is not None
        self.socket = f"ckptguard-test-{uuid.uuid4().hex[:12]}"
        exported = [f"{k}={shlex.quote(v)}" for k, v in (env or {}).items()]
        command = " ".join([*exported, *(shlex.quote(a) for a in argv)])
        shell = f'{command}; echo "[exit $?]"; sleep 600'
        self._tmux(
            "new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height),
            *(["-c", cwd] if cwd else []), shell,
        )  # fmt: skip

    def _tmux(self, *args: str) -> str:
        assert TMUX is not None
        done = subprocess.run(
            [TMUX, "-L", self.socket, "-f", os.devnull, *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return done.stdout

    def screen(self, *, escapes: bool = False) -> str:
        """What the pane shows now, with its scrollback; `escapes` keeps colour codes."""
        return self._tmux(
            "capture-pane", "-p", "-J", "-S", "-1000", *(["-e"] if escapes else []), "-t", "t"
        )

    def wait_for(self, *texts: str, timeout: float = 30.0) -> str:
        """The screen once it shows every one of `texts` (fails after `timeout`)."""
        return wait_for(
            lambda: (lambda s: s if all(t in s for t in texts) else "")(self.screen()),
            timeout=timeout,
            interval=0.05,
            message=f"the terminal to show {texts!r}; it shows:\n{self.screen()[-3000:]}",
        )

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "t", *keys)

    def close(self) -> None:
        """Stop what runs in the pane, then the server. Killing the server only hangs up
        the pane, and `ckptguard run` takes SIGHUP for a reload: it would live on."""
        try:
            pid = int(self._tmux("display-message", "-p", "-t", "t", "#{pane_pid}"))
            os.killpg(pid, signal.SIGTERM)  # the shell and its command: one process group
        except (subprocess.CalledProcessError, ValueError, ProcessLookupError):
            pass  # the pane is gone already
        subprocess.run(
            [TMUX or "tmux", "-L", self.socket, "kill-server"], capture_output=True, check=False
        )

"""On a real terminal (tmux): the demo, the daemon's lines, colours and prune's report.

Each test reads the screen as a person would see it, polling with a deadline.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from support import Terminal, needs_tmux, write_checkpoint

pytestmark = needs_tmux
CLI = (sys.executable, "-m", "ckptguard")
Start = Callable[..., Terminal]


def demo_directory(screen: str) -> Path:
    found = re.search(r"into (/\S+/models)\.", screen)
    assert found, screen
    return Path(found.group(1)).parent


def test_demo_shows_the_guard_at_work_and_cleans_up(terminal: Start) -> None:
    """`ckptguard demo` on a terminal: the live view shows saves, deletions with their
    reasons and the space used; it ends with the comparison computed from the run, and
    its temporary directory is gone."""
    screen = terminal(*CLI, "demo", "--saves", "10", "--pace", "0.3")
    live = screen.wait_for("space used:", "deleted checkpoint_step_", "of the 10.5 MB budget")
    assert "older than the 2 newest valid checkpoints" in live
    root = demo_directory(live)
    assert root.is_dir()
    done = screen.wait_for("[exit 0]")
    assert (
        "Without a guard this run needed 10 checkpoints of space (21.0 MB) and would have "
        "died at save 6 on its 10.5 MB budget; with ckptguard the directory never held more "
        "than 3" in " ".join(done.split())
    )
    assert not root.exists()


def test_demo_interrupted_removes_its_directory(terminal: Start) -> None:
    """Ctrl-C in the middle of the demo: it stops, exits 130 and leaves nothing behind."""
    screen = terminal(*CLI, "demo", "--saves", "50", "--pace", "0.5")
    root = demo_directory(screen.wait_for("save  2"))
    screen.keys("C-c")
    screen.wait_for("[exit 130]")
    assert not root.exists()


def test_demo_off_a_terminal_prints_plain_lines(tmp_path: Path) -> None:
    """Piped, the demo prints one plain line per save and deletion, no escape codes."""
    import subprocess

    done = subprocess.run(
        [*CLI, "demo", "--saves", "8", "--pace", "0"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "\x1b[" not in done.stdout
    assert "save  8: checkpoint_step_800.keras (2.1 MB)" in done.stdout
    assert "ckptguard deleted checkpoint_step_100.keras (2.1 MB): older than the 2" in done.stdout
    assert "needed 8 checkpoints of space" in done.stdout
    assert not demo_directory(done.stdout).exists()


def guarded(models: Path) -> Path:
    for step in (100, 200, 300, 400):
        write_checkpoint(models, step)
    return models


def test_run_on_a_terminal_prints_a_summary_and_short_lines(terminal: Start, models: Path) -> None:
    """`run` on a terminal: the version, the policy in words, free space and target, one
    short human line per deletion, a wait for a missing directory; stopped by Ctrl-C."""
    later = models.parent / "later"
    screen = terminal(
        *CLI, "run", "--dir", str(guarded(models)), "--dir", str(later), "--keep", "2"
    )
    shown = screen.wait_for("ready:", "deleted checkpoint_step_200.keras")
    assert "ckptguard 0.1.0: guarding 2 directories" in shown
    assert re.search(rf"  {models}\n\S+ +checkpoint_step_\{{step\}}\.keras \(keras\): keep", shown)
    assert "keep the 2 newest valid (--keep 2)" in shown
    assert f"waiting for {later} to appear" in shown
    assert re.search(rf"{models}: 4 checkpoints, keeping 2; [0-9.]+ [kMGT]?B free, target", shown)
    assert re.search(
        r"deleted checkpoint_step_100\.keras \(4\.\d kB\): older than the 2 newest valid "
        r"checkpoints; [0-9.]+ [kMGT]?B free",
        shown,
    )
    assert '"event"' not in shown  # no JSON on a terminal
    deletions = [line for line in shown.splitlines() if "deleted" in line]
    assert deletions and all(len(line) <= 160 for line in deletions)
    screen.keys("C-c")
    assert "stopped" in screen.wait_for("[exit 0]")


@pytest.mark.parametrize("no_color", [False, True], ids=["colour", "NO_COLOR"])
def test_colour_only_without_no_color(terminal: Start, models: Path, no_color: bool) -> None:
    """Warnings are coloured on a terminal, unless NO_COLOR is set."""
    env = {"NO_COLOR": "1"} if no_color else {}
    screen = terminal(*CLI, "run", "--dir", str(models.parent / "later"), env=env)
    screen.wait_for("waiting for")
    coloured = "\x1b[" in screen.screen(escapes=True)
    assert coloured is not no_color
    screen.keys("C-c")
    screen.wait_for("[exit 0]")


def test_prune_execute_reports_each_deletion_once(terminal: Start, models: Path) -> None:
    """`prune --execute` on a terminal: the table says what was deleted, the log does not
    say it again."""
    screen = terminal(*CLI, "prune", "--execute", "--dir", str(guarded(models)), "--keep", "1")
    shown = screen.wait_for("[exit 0]")
    assert shown.count("checkpoint_step_100.keras") == 1
    assert "3 deleted" in shown

"""Real Hugging Face and Lightning training runs under `ckptguard run --preset ...`.

train_frameworks.py trains a tiny model for 40 steps and saves every 5, as each framework
does by default; the guard runs beside it as a separate process, as in production.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support import NotifyListener, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SCRIPT = Path(__file__).resolve().parent / "train_frameworks.py"


def needs(*modules: str) -> None:
    # find_spec, not import: the frameworks are only ever imported by the training process.
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: pip install -e '.[e2e]'")


def listing(directory: Path) -> list[str]:
    """What the training sees in its directory (the guard's lock file aside)."""
    return sorted(n for n in os.listdir(directory) if n != ".ckptguard.lock")


def tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.splitlines()[-lines:])


def train_under_guard(
    framework: str, out: Path, *guard_args: str
) -> tuple[dict[str, object], subprocess.Popen[str]]:
    """Start the guard, train beside it; the training summary and the still running guard."""
    out.mkdir()
    listener = NotifyListener()
    daemon = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ckptguard",
            "run",
            "--dir",
            str(out),
            "--log-format=json",
            *guard_args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NOTIFY_SOCKET": listener.name},
    )
    try:
        listener.wait_for("READY=1", timeout=60)
        trained = subprocess.run(
            [sys.executable, str(SCRIPT), framework, str(out)],
            capture_output=True,
            text=True,
            env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "HF_HUB_OFFLINE": "1"},
            timeout=240,
            check=False,
        )
        assert trained.returncode == 0, tail(trained.stderr)
        summary = json.loads(trained.stdout.splitlines()[-1])
        return summary, daemon
    except BaseException:
        daemon.kill()
        daemon.communicate(timeout=30)
        raise
    finally:
        listener.close()


def settle_on(out: Path, expected: list[str], daemon: subprocess.Popen[str]) -> None:
    """Wait for the directory to hold `expected`; on timeout, say what it held and logged."""
    try:
        wait_for(lambda: listing(out) == expected, timeout=15, message=str(expected))
    except AssertionError:
        daemon.send_signal(signal.SIGTERM)
        _, log = daemon.communicate(timeout=60)
        raise AssertionError(
            f"expected {expected}, found {listing(out)}\n--- ckptguard:\n{tail(log)}"
        ) from None


def stop(daemon: subprocess.Popen[str]) -> list[dict[str, object]]:
    """SIGTERM the guard; it must exit 0. Its JSON log events."""
    daemon.send_signal(signal.SIGTERM)
    _, log = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, tail(log)
    return [json.loads(line) for line in log.splitlines() if line.startswith("{")]


def test_hf_trainer_keeps_newest_and_best_by_eval_loss(tmp_path: Path) -> None:
    """hf: 8 Trainer checkpoints; the 2 newest and the best by eval_loss remain, whole."""
    needs("torch", "transformers", "accelerate")
    out = tmp_path / "out"
    summary, daemon = train_under_guard(
        "hf",
        out,
        *("--preset", "hf", "--keep", "2", "--keep-best", "1", "--metric", "eval_loss"),
    )
    losses = {int(step): loss for step, loss in summary["eval_loss"].items()}  # type: ignore[attr-defined]
    best = min(sorted(losses, reverse=True), key=lambda step: losses[step])
    expected = sorted({f"checkpoint-{s}" for s in (35, 40, best)})
    settle_on(out, expected, daemon)
    events = stop(daemon)
    assert best not in (35, 40), "the run should make an early checkpoint the best"
    deleted = sorted(str(e["path"]) for e in events if e["event"] == "deleted")
    assert len(deleted) == 8 - len(expected)
    for name in expected:  # kept checkpoints are untouched, complete Trainer checkpoints
        assert (out / name / "trainer_state.json").is_file()
        assert (out / name / "model.safetensors").is_file()


def test_lightning_keeps_newest_and_last_link(tmp_path: Path) -> None:
    """lightning: 8 saves with save_last="link"; the 2 newest and last.ckpt remain."""
    needs("torch", "lightning")
    out = tmp_path / "ckpts"
    _, daemon = train_under_guard("lightning", out, "--preset", "lightning", "--keep", "2")
    expected = ["epoch=0-step=35.ckpt", "epoch=0-step=40.ckpt", "last.ckpt"]
    settle_on(out, expected, daemon)
    stop(daemon)
    assert os.readlink(out / "last.ckpt") == "epoch=0-step=40.ckpt"

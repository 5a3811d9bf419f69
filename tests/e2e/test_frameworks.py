"""Real Hugging Face and Lightning training runs under `ckptguard run --preset ...`.

train_frameworks.py trains a tiny model for 40 steps and saves every 5, as each framework
does by default; the guard runs beside it as a separate process, as in production.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import GuardProcess, tail, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SCRIPT = Path(__file__).resolve().parent / "train_frameworks.py"


def needs(*modules: str) -> None:
    # find_spec, not import: the frameworks are only ever imported by the training process.
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: pip install -e '.[e2e]'")


def listing(directory: Path) -> list[str]:
    """What the training sees in its directory (the guard adds nothing to it)."""
    return sorted(os.listdir(directory))


def train(framework: str, out: Path) -> dict[str, object]:
    """Run train_frameworks.py into `out`; its summary line."""
    trained = subprocess.run(
        [sys.executable, str(SCRIPT), framework, str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "HF_HUB_OFFLINE": "1"},
        timeout=240,
        check=False,
    )
    assert trained.returncode == 0, tail(trained.stderr)
    summary: dict[str, object] = json.loads(trained.stdout.splitlines()[-1])
    return summary


def settle_on(out: Path, expected: list[str], guard: GuardProcess) -> None:
    """Wait for the directory to hold `expected`; on timeout, say what it held and logged."""
    try:
        wait_for(lambda: listing(out) == expected, timeout=15, message=str(expected))
    except AssertionError:
        guard.stop()
        log = guard.log_text()
        raise AssertionError(
            f"expected {expected}, found {listing(out)}\n--- ckptguard:\n{tail(log)}"
        ) from None


def test_hf_trainer_keeps_newest_and_best_by_eval_loss(tmp_path: Path, guard_running) -> None:
    """hf: 8 Trainer checkpoints; the 2 newest and the best by eval_loss remain, whole."""
    needs("torch", "transformers", "accelerate")
    out = tmp_path / "out"
    out.mkdir()
    policy = ("--preset", "hf", "--keep", "2", "--keep-best", "1", "--metric", "eval_loss")
    with guard_running("--dir", str(out), *policy) as guard:
        summary = train("hf", out)
        losses = {int(step): loss for step, loss in summary["eval_loss"].items()}  # type: ignore[attr-defined]
        best = min(sorted(losses, reverse=True), key=lambda step: losses[step])
        expected = sorted({f"checkpoint-{s}" for s in (35, 40, best)})
        settle_on(out, expected, guard)
    assert guard.exit_code == 0, tail(guard.log_text())
    assert best not in (35, 40), "the run should make an early checkpoint the best"
    deleted = sorted(str(e["path"]) for e in guard.events() if e["event"] == "deleted")
    assert len(deleted) == 8 - len(expected)
    for name in expected:  # kept checkpoints are untouched, complete Trainer checkpoints
        assert (out / name / "trainer_state.json").is_file()
        assert (out / name / "model.safetensors").is_file()


def test_lightning_keeps_newest_and_last_link(tmp_path: Path, guard_running) -> None:
    """lightning: 8 saves with save_last="link"; the 2 newest and last.ckpt remain."""
    needs("torch", "lightning")
    out = tmp_path / "ckpts"
    out.mkdir()
    with guard_running("--dir", str(out), "--preset", "lightning", "--keep", "2") as guard:
        train("lightning", out)
        expected = ["epoch=0-step=35.ckpt", "epoch=0-step=40.ckpt", "last.ckpt"]
        settle_on(out, expected, guard)
    assert guard.exit_code == 0, tail(guard.log_text())
    assert os.readlink(out / "last.ckpt") == "epoch=0-step=40.ckpt"

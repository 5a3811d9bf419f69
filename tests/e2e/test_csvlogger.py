"""Keep-best against Keras' own `CSVLogger`: a resumed run truncates the log it writes.

The callback is driven as `fit` drives it (train begins, one row per epoch), without
training a model: what matters here is the file it writes, byte for byte Keras'.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import VAL_LOSSES, steps_in, wait_for, write_checkpoint

pytestmark = pytest.mark.e2e


def csv_logger(path: Path):  # type: ignore[no-untyped-def]
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras", reason="needs Keras (the e2e extra)")
    return keras.callbacks.CSVLogger(str(path), append=False)


def test_the_best_survives_a_log_truncated_by_keras_csvlogger(models: Path, guard_running) -> None:
    """Keras' CSVLogger logs six epochs; a resumed run's CSVLogger empties the log; the
    best checkpoint keeps its place through the next saves."""
    log = models / "training.log"
    first = csv_logger(log)
    first.on_train_begin()
    for epoch, value in enumerate(VAL_LOSSES):
        first.on_epoch_end(epoch, {"loss": value + 0.05, "val_loss": value})
        write_checkpoint(models, epoch + 1)
    first.on_train_end()
    flags = ("--keep", "2", "--keep-best", "1", "--metric", "val_loss")
    with guard_running("--dir", str(models), *flags, "--metrics-file", "training.log") as guard:
        assert steps_in(models) == [2, 5, 6]
        resumed = csv_logger(log)
        resumed.on_train_begin()  # append=False: the log is emptied
        assert log.stat().st_size == 0
        write_checkpoint(models, 7)
        wait_for(lambda: 5 not in steps_in(models), message="checkpoint 5 deleted")
        resumed.on_epoch_end(6, {"loss": 0.95, "val_loss": 0.9})
        write_checkpoint(models, 8)
        wait_for(lambda: 6 not in steps_in(models), message="checkpoint 6 deleted")
        assert steps_in(models) == [2, 7, 8]
        resumed.on_train_end()
    lost = [e for e in guard.events() if e["event"] == "metrics_rows_lost"]
    assert len(lost) == 1, lost

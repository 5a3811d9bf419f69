"""A metrics file as Keras' `CSVLogger` writes it, and the guard's keep-best options on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from support.files import write_checkpoint

# val_loss of epochs 0..5 as CSVLogger logs them; ModelCheckpoint names epoch e's save
# e + 1, so checkpoint 2 is the best.
VAL_LOSSES = [0.9, 0.2, 0.5, 0.6, 0.7, 0.8]
LOG = "training.log"


class CsvLoggerFile:
    """A log written as Keras' `CSVLogger` (append=False) writes it.

    `start()` is `on_train_begin`: it opens the file with mode "w", truncating it. The
    first `epoch_end` writes the header, `epoch` then the sorted metric names, with the
    csv module's excel dialect (rows end in CRLF); every row is flushed at once.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: Any = None
        self._writer: Any = None

    def start(self) -> CsvLoggerFile:
        self.close()
        self._handle = self.path.open("w")  # kept open between epochs, as CSVLogger does
        self._writer = None
        return self

    def epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        import csv

        if self._writer is None:
            self._writer = csv.DictWriter(
                self._handle, fieldnames=["epoch", *sorted(logs)], dialect=csv.excel
            )
            self._writer.writeheader()
        self._writer.writerow({"epoch": epoch, **logs})
        self._handle.flush()

    def run(self, val_losses: list[float], *, first_epoch: int = 0) -> CsvLoggerFile:
        """A whole `fit`: train begins (truncating the log), then one row per epoch."""
        self.start()
        for epoch, value in enumerate(val_losses, start=first_epoch):
            self.epoch_end(epoch, {"loss": round(value + 0.05, 4), "val_loss": value})
        return self

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def six_epochs(directory: Path) -> CsvLoggerFile:
    """Six epochs saved as checkpoint_step_{1..6}.keras and logged to training.log; the
    logger is left open, as a run that goes on."""
    for step in range(1, 7):
        write_checkpoint(directory, step)
    return CsvLoggerFile(directory / LOG).run(VAL_LOSSES)


def keep_best_args(directory: Path, *extra: str) -> tuple[str, ...]:
    """Keep 2, and the best 1 by val_loss from training.log, with no settle time."""
    return (
        "--dir",
        str(directory),
        "--keep",
        "2",
        "--keep-best",
        "1",
        "--metric",
        "val_loss",
        "--metrics-file",
        LOG,
        "--settle",
        "0",
        *extra,
    )

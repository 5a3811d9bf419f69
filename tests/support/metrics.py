"""A metrics file as Keras' `CSVLogger` writes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any


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

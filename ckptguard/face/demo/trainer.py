"""A simulated training run: real-format `.keras` checkpoints, written at a visible pace.

Like Keras 3, it writes each archive straight into its final name in pieces (a zip's
central directory comes last, so a half-written file is not a complete checkpoint), then
looks at the directory as it goes to record the most it ever held.
"""

from __future__ import annotations

import io
import os
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field

TEMPLATE = "checkpoint_step_{step}.keras"
STEPS_PER_SAVE = 100
PIECES = 8  # writes per save, so that a save is visibly in progress


def archive(payload: int) -> bytes:
    """A `.keras` zip (metadata, config, weights) with `payload` bytes of weights."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as made:
        made.writestr("metadata.json", '{"keras_version": "3.0.0"}')
        made.writestr("config.json", '{"class_name": "Sequential"}')
        made.writestr("model.weights.h5", bytes(payload))
    return buffer.getvalue()


@dataclass
class Held:
    """The most the directory held at any look: checkpoints and bytes."""

    count: int = 0
    size: int = 0


@dataclass
class Trainer:
    """Writes `saves` checkpoints of `data` into `directory`, one every `pace` seconds."""

    directory: str
    data: bytes
    saves: int
    pace: float
    on_save: Callable[[int, str, int, int, int], None]  # index, name, size, held, held bytes
    stop: threading.Event = field(default_factory=threading.Event)
    peak: Held = field(default_factory=Held)
    done: int = 0

    def run(self) -> None:
        start = time.monotonic()
        for index in range(1, self.saves + 1):
            if self.stop.wait(max(0.0, start + (index - 1) * self.pace - time.monotonic())):
                return
            name = TEMPLATE.format(step=index * STEPS_PER_SAVE)
            self._write(name)
            count, size = self.look()
            self.done = index
            self.on_save(index, name, len(self.data), count, size)

    def _write(self, name: str) -> None:
        piece = -(-len(self.data) // PIECES)
        with open(os.path.join(self.directory, name), "wb") as out:
            for offset in range(0, len(self.data), piece):
                out.write(self.data[offset : offset + piece])
                out.flush()
                self.look()
                self.stop.wait(self.pace * 0.3 / PIECES)

    def look(self) -> tuple[int, int]:
        """What the directory holds now (checkpoints, bytes); the peak is kept."""
        count = size = 0
        with os.scandir(self.directory) as entries:
            for entry in entries:
                if entry.name.startswith("checkpoint_step_") and entry.name.endswith(".keras"):
                    try:
                        size += entry.stat(follow_symlinks=False).st_size
                    except FileNotFoundError:
                        continue  # deleted by the guard while we looked
                    count += 1
        self.peak = Held(max(self.peak.count, count), max(self.peak.size, size))
        return count, size

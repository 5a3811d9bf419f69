"""Metric values from files trainers already write, joined to checkpoints by step or epoch.

- CSV, as Keras' `CSVLogger` writes: a `step` (or `global_step`) column, else an `epoch`
  column, and one column per metric.
- Hugging Face's `trainer_state.json`: `log_history` entries carry `step` and metrics.
- JSON lines: one object per line with `step` (or `epoch`) and metric fields.

Rows are matched by step. Rows that only have an epoch are matched to the name's
`{epoch}` field, or to its `{step}` when the template has no `{epoch}` (a checkpoint per
epoch); `CSVLogger` counts epochs from 0 while `ModelCheckpoint` names them from 1, so
the row for epoch e belongs to the checkpoint named e + 1.

A CSV or JSON-lines file is read up to its last newline: a trainer may be in the middle
of writing the last line, and "0.2" of "0.2345" must not rank anything.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ckptguard.core.model import Checkpoint


@dataclass(frozen=True)
class MetricsTable:
    by_step: Mapping[int, Mapping[str, float]] = field(default_factory=dict)
    by_epoch: Mapping[int, Mapping[str, float]] = field(default_factory=dict)


def parse(text: str) -> MetricsTable:
    """The table in `text`: a trainer_state.json, JSON lines or CSV, told apart by content."""
    stripped = text.lstrip()
    if stripped.startswith("{") and '"log_history"' in text:
        history = json.loads(text).get("log_history")
        if not isinstance(history, list):
            raise ValueError("log_history is not a list")
        return _from_rows(history)
    text = complete_lines(text)
    if stripped.startswith("{"):
        return _from_rows(json.loads(line) for line in text.splitlines() if line.strip())
    return _from_rows(csv.DictReader(io.StringIO(text)))


def complete_lines(text: str) -> str:
    """`text` without a last line that has no newline yet (it may be half-written)."""
    return text[: text.rfind("\n") + 1]


def _from_rows(rows: Any) -> MetricsTable:
    by_step: dict[int, dict[str, float]] = {}
    by_epoch: dict[int, dict[str, float]] = {}
    for row in rows:
        if not isinstance(row, Mapping):
            continue
        values = {str(k): v for k, v in ((k, _number(v)) for k, v in row.items()) if v is not None}
        step = values.pop("step", None)
        step = values.pop("global_step", step)
        epoch = values.pop("epoch", None)
        if step is not None and step == int(step):
            by_step.setdefault(int(step), {}).update(values)
        elif epoch is not None and epoch == int(epoch):
            by_epoch.setdefault(int(epoch), {}).update(values)
    return MetricsTable(by_step, by_epoch)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def finite_json_number(value: Any) -> float | None:
    """A JSON number as a finite float; None for anything else (bools, NaN, 10**400)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def row_for(checkpoint: Checkpoint, table: MetricsTable) -> dict[str, float]:
    """The values `table` holds for `checkpoint`, joined by step, else by epoch."""
    found = dict(table.by_step.get(checkpoint.step, {}))
    if not found and table.by_epoch:
        # Rows counted in epochs: the name's {epoch} field, else its {step} is the epoch.
        named = checkpoint.metric("epoch")
        epoch = int(named) if named is not None and named == int(named) else checkpoint.step
        found = dict(table.by_epoch.get(epoch - 1, {}))
    return found

"""Metric values remembered per checkpoint, so that a metrics file losing rows cannot
take keep-best protection away (Keras' CSVLogger truncates its log when a run resumes;
another run may rewrite it).

Pure: values in, values out. Reading and writing the state file is `statedir`'s.

For the metric a policy ranks by:

- A value from the checkpoint's own name or content is a fact about that checkpoint and
  always wins. It is not remembered: it is read again with the checkpoint.
- A value read from the metrics file is remembered for the checkpoint's name and
  identity (a rewritten or replaced checkpoint is a new one). The first value wins: a
  later, different row for the same checkpoint is another run's (a restarted CSVLogger
  counts epochs from 0 again) and does not describe this file.
- A remembered value is used whenever the metrics file no longer gives it.
- Only checkpoints still present are remembered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ckptguard.core.metrics import MetricsTable, finite_json_number, row_for
from ckptguard.core.model import Checkpoint, FileIdentity, Integrity, Inventory, MetricSource

Key = tuple[str, FileIdentity]


@dataclass(frozen=True)
class MetricMemory:
    """Metric values read from metrics files, by checkpoint name and identity."""

    values: Mapping[Key, Mapping[str, float]] = field(default_factory=dict)

    def of(self, checkpoint: Checkpoint) -> Mapping[str, float]:
        return self.values.get((checkpoint.name, checkpoint.identity), {})

    def __len__(self) -> int:
        return len(self.values)

    def without(self, names: set[str]) -> MetricMemory:
        """The memory without the checkpoints named `names` (deleted ones, say)."""
        if not names:
            return self
        return MetricMemory({k: v for k, v in self.values.items() if k[0] not in names})


@dataclass(frozen=True)
class Recall:
    """An inventory with every metric value known, and what to remember from now on."""

    inventory: Inventory
    memory: MetricMemory
    # Checkpoints whose remembered value the metrics file no longer has (rows lost).
    lost: tuple[str, ...] = ()
    # Checkpoints whose row now holds another value (another run's log): the first stands.
    changed: tuple[str, ...] = ()


def recall(
    inventory: Inventory,
    table: MetricsTable | None,
    memory: MetricMemory,
    *,
    metric: str | None,
) -> Recall:
    """Join the metrics file's rows and the remembered values to `inventory`'s checkpoints.

    `table` is None when there is no metrics file, or it cannot be read: then only
    remembered values are known.
    """
    checkpoints: list[Checkpoint] = []
    remembered: dict[Key, Mapping[str, float]] = {}
    lost: list[str] = []
    changed: list[str] = []
    for checkpoint in inventory.checkpoints:
        if checkpoint.integrity is Integrity.UNREADABLE:
            # Not looked at this time (its identity is unknown): not gone either.
            remembered.update((k, v) for k, v in memory.values.items() if k[0] == checkpoint.name)
            checkpoints.append(checkpoint)
            continue
        row = row_for(checkpoint, table) if table is not None else {}
        joined, values, trouble = _recall_one(checkpoint, row, memory.of(checkpoint), metric)
        checkpoints.append(joined)
        if values:
            remembered[(checkpoint.name, checkpoint.identity)] = values
        if trouble is _LOST:
            lost.append(checkpoint.name)
        elif trouble is _CHANGED:
            changed.append(checkpoint.name)
    return Recall(
        inventory=replace(inventory, checkpoints=tuple(checkpoints)),
        memory=MetricMemory(remembered),
        lost=tuple(lost),
        changed=tuple(changed),
    )


_LOST, _CHANGED = "lost", "changed"


def _recall_one(
    checkpoint: Checkpoint,
    row: Mapping[str, float],
    before: Mapping[str, float],
    metric: str | None,
) -> tuple[Checkpoint, dict[str, float], str | None]:
    """The checkpoint with its values, what to remember of it, and any trouble seen."""
    values = dict(before)
    if metric is None or checkpoint.metric(metric) is not None:
        return _with_row(checkpoint, row), values, None
    first, now = before.get(metric), row.get(metric)
    if first is None or first == now:
        if now is not None:
            values[metric] = now
        return _with_row(checkpoint, row), values, None
    # The file lost this row, or holds another run's: none of it describes this checkpoint.
    joined = _with_values(checkpoint, {metric: first}, MetricSource.REMEMBERED)
    return joined, values, _LOST if now is None else _CHANGED


def _with_row(checkpoint: Checkpoint, row: Mapping[str, float]) -> Checkpoint:
    return _with_values(checkpoint, row, MetricSource.FILE)


def _with_values(
    checkpoint: Checkpoint, values: Mapping[str, float], source: MetricSource
) -> Checkpoint:
    """The checkpoint with `values` added where it has none of its own."""
    own = dict(checkpoint.metrics)
    added = {k: v for k, v in values.items() if k not in own}
    if not added:
        return checkpoint
    sources = {**dict.fromkeys(added, source), **dict(checkpoint.metric_sources)}
    return replace(
        checkpoint,
        metrics=tuple(sorted({**added, **own}.items())),
        metric_sources=tuple(sorted(sources.items(), key=lambda item: item[0])),
    )


def to_document(memory: MetricMemory) -> list[dict[str, Any]]:
    """The memory as JSON-ready values, in a stable order."""
    return [
        {
            "name": name,
            "identity": [identity.device, identity.inode, identity.size, identity.mtime_ns],
            "values": dict(sorted(values.items())),
        }
        for (name, identity), values in sorted(
            memory.values.items(), key=lambda item: (item[0][0], _identity_key(item[0][1]))
        )
    ]


def _identity_key(identity: FileIdentity) -> tuple[int, int, int, int]:
    return (identity.device, identity.inode, identity.size, identity.mtime_ns)


def from_document(entries: Any) -> MetricMemory:
    """The memory `to_document` wrote; ValueError when `entries` is not such a list.

    Entries that do not make sense are skipped: the file is ours, but a value that is not
    a finite number must never rank a checkpoint.
    """
    if not isinstance(entries, list):
        raise ValueError("remembered metrics are not a list")
    values: dict[Key, Mapping[str, float]] = {}
    for entry in entries:
        key = _key_of(entry)
        if key is None:
            continue
        numbers = {str(k): finite_json_number(v) for k, v in entry["values"].items()}
        finite = {k: n for k, n in numbers.items() if n is not None}
        if finite:
            values[key] = finite
    return MetricMemory(values)


def _key_of(entry: Any) -> Key | None:
    if not isinstance(entry, Mapping):
        return None
    name, identity, values = entry.get("name"), entry.get("identity"), entry.get("values")
    if not isinstance(name, str) or not isinstance(values, Mapping):
        return None
    if not (
        isinstance(identity, list)
        and len(identity) == 4
        and all(isinstance(n, int) and not isinstance(n, bool) for n in identity)
    ):
        return None
    return name, FileIdentity(*identity)

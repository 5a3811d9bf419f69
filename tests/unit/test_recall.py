"""The pure merge of metrics-file rows with remembered values: values in, values out."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ckptguard.core.metrics import MetricsTable
from ckptguard.core.model import (
    Checkpoint,
    DiskState,
    FileIdentity,
    Integrity,
    Inventory,
    Kind,
    MetricSource,
)
from ckptguard.core.recall import MetricMemory, from_document, recall, to_document

FILE, NAME, REMEMBERED = MetricSource.FILE, MetricSource.NAME, MetricSource.REMEMBERED


def ckpt(step: int, *, inode: int | None = None, **fields: float) -> Checkpoint:
    """A checkpoint named for `step`; `fields` are values its own name states."""
    return Checkpoint(
        name=f"checkpoint_step_{step}.keras",
        step=step,
        kind=Kind.REGULAR,
        identity=FileIdentity(1, 1000 + step if inode is None else inode, 4096, step),
        integrity=Integrity.VALID,
        metrics=tuple(sorted(fields.items())),
        metric_sources=tuple((k, NAME) for k in sorted(fields)),
    )


def inv(*checkpoints: Checkpoint) -> Inventory:
    return Inventory("models", checkpoints, DiskState(total=10**9, free=10**9))


def by_step(**rows: float) -> MetricsTable:
    """A table of val_loss by step: by_step(s2=0.2) -> {2: {"val_loss": 0.2}}."""
    return MetricsTable(by_step={int(k[1:]): {"val_loss": v} for k, v in rows.items()})


def known(result_inventory: Inventory) -> dict[int, tuple[float | None, MetricSource | None]]:
    return {
        c.step: (c.metric("val_loss"), c.metric_source("val_loss"))
        for c in result_inventory.checkpoints
    }


def test_file_values_are_read_and_remembered() -> None:
    """A value read from the file is used (source: file) and remembered for that identity."""
    result = recall(
        inv(ckpt(1), ckpt(2)), by_step(s1=0.9, s2=0.2), MetricMemory(), metric="val_loss"
    )
    assert known(result.inventory) == {1: (0.9, FILE), 2: (0.2, FILE)}
    assert result.memory.of(ckpt(2)) == {"val_loss": 0.2}
    assert result.lost == result.changed == ()


def test_truncated_file_falls_back_to_remembered_values() -> None:
    """Rows gone from the file (an empty table, or none at all) are replaced by memory."""
    first = recall(
        inv(ckpt(1), ckpt(2)), by_step(s1=0.9, s2=0.2), MetricMemory(), metric="val_loss"
    )
    for table in (MetricsTable(), None):
        again = recall(inv(ckpt(1), ckpt(2)), table, first.memory, metric="val_loss")
        assert known(again.inventory) == {1: (0.9, REMEMBERED), 2: (0.2, REMEMBERED)}
        assert again.lost == ("checkpoint_step_1.keras", "checkpoint_step_2.keras")
        assert again.memory == first.memory


def test_first_value_wins_over_a_rewritten_row() -> None:
    """Another run's row for the same checkpoint does not describe it; nothing of it is used."""
    first = recall(inv(ckpt(2)), by_step(s2=0.2), MetricMemory(), metric="val_loss")
    rewritten = MetricsTable(by_step={2: {"val_loss": 0.96, "loss": 1.5}})
    again = recall(inv(ckpt(2)), rewritten, first.memory, metric="val_loss")
    assert known(again.inventory) == {2: (0.2, REMEMBERED)}
    assert again.inventory.checkpoints[0].metric("loss") is None
    assert again.changed == ("checkpoint_step_2.keras",)
    assert again.memory == first.memory


def test_a_rewritten_checkpoint_is_a_new_one() -> None:
    """A checkpoint saved again under the same name takes its value afresh."""
    first = recall(inv(ckpt(2)), by_step(s2=0.2), MetricMemory(), metric="val_loss")
    resaved = ckpt(2, inode=9999)
    again = recall(inv(resaved), by_step(s2=0.96), first.memory, metric="val_loss")
    assert known(again.inventory) == {2: (0.96, FILE)}
    assert again.changed == ()
    assert again.memory.values == {(resaved.name, resaved.identity): {"val_loss": 0.96}}


def test_own_values_win_and_are_not_remembered() -> None:
    """A value the checkpoint states itself (name, trainer_state.json) beats file and memory."""
    memory = MetricMemory({("checkpoint_step_2.keras", ckpt(2).identity): {"val_loss": 0.5}})
    own = ckpt(2, val_loss=0.3)
    result = recall(inv(own), by_step(s2=0.9), memory, metric="val_loss")
    assert known(result.inventory) == {2: (0.3, NAME)}
    assert result.lost == result.changed == ()
    fresh = recall(inv(own), by_step(s2=0.9), MetricMemory(), metric="val_loss")
    assert fresh.memory == MetricMemory()
    content = replace(ckpt(3), metrics=(("val_loss", 0.4),), metric_sources=())
    in_content = replace(content, metric_sources=(("val_loss", MetricSource.CHECKPOINT),))
    checked = recall(inv(in_content), by_step(s3=0.1), MetricMemory(), metric="val_loss")
    assert known(checked.inventory) == {3: (0.4, MetricSource.CHECKPOINT)}


def test_memory_holds_only_present_checkpoints() -> None:
    """A deleted checkpoint is forgotten; one we could not look at this time is not."""
    first = recall(
        inv(ckpt(1), ckpt(2), ckpt(3)),
        by_step(s1=0.9, s2=0.2, s3=0.5),
        MetricMemory(),
        metric="val_loss",
    )
    unreadable = replace(ckpt(3), identity=FileIdentity(0, 0, 0, 0), integrity=Integrity.UNREADABLE)
    again = recall(inv(ckpt(2), unreadable), MetricsTable(), first.memory, metric="val_loss")
    assert sorted(name for name, _ in again.memory.values) == [
        "checkpoint_step_2.keras",
        "checkpoint_step_3.keras",
    ]
    assert first.memory.without({"checkpoint_step_1.keras"}) == again.memory


def test_without_a_metric_rows_are_joined_and_memory_kept() -> None:
    """No policy metric: every column is joined as before, nothing new is remembered."""
    memory = MetricMemory({("checkpoint_step_1.keras", ckpt(1).identity): {"val_loss": 0.9}})
    result = recall(inv(ckpt(1)), by_step(s1=0.5), memory, metric=None)
    assert known(result.inventory) == {1: (0.5, FILE)}
    assert result.memory == memory


def test_epoch_rows_join_the_next_name() -> None:
    """CSVLogger's epoch e is ModelCheckpoint's e + 1, remembered like any other row."""
    table = MetricsTable(by_epoch={0: {"val_loss": 0.9}, 1: {"val_loss": 0.2}})
    result = recall(inv(ckpt(1), ckpt(2)), table, MetricMemory(), metric="val_loss")
    assert known(result.inventory) == {1: (0.9, FILE), 2: (0.2, FILE)}


def test_document_round_trip_and_junk() -> None:
    """The state file's entries read back as written; non-finite or malformed ones are dropped."""
    result = recall(
        inv(ckpt(1), ckpt(2)), by_step(s1=0.9, s2=0.2), MetricMemory(), metric="val_loss"
    )
    document = json.loads(json.dumps(to_document(result.memory)))
    assert from_document(document) == result.memory
    junk = [
        {"name": "a", "identity": [1, 2, 3, 4], "values": {"v": "NaN", "w": True, "x": 10**400}},
        {"name": "b", "identity": [1, 2, 3], "values": {"v": 1.0}},
        {"name": 5, "identity": [1, 2, 3, 4], "values": {"v": 1.0}},
        {"name": "c", "identity": [1, 2, 3, True], "values": {"v": 1.0}},
        "not a dict",
        {"name": "d", "identity": [1, 2, 3, 4], "values": {"v": 0.5, "nan": math.nan}},
    ]
    assert from_document(junk).values == {("d", FileIdentity(1, 2, 3, 4)): {"v": 0.5}}
    with pytest.raises(ValueError, match="not a list"):
        from_document({"name": "a"})


rows = st.dictionaries(
    st.integers(1, 8), st.floats(0, 10, allow_nan=False, allow_infinity=False), max_size=8
)


@given(st.lists(rows, min_size=1, max_size=6))
def test_a_value_once_read_is_never_lost_or_changed(tables: list[dict[int, float]]) -> None:
    """Whatever the file says later (rows dropped, rewritten, added), a checkpoint whose
    identity is unchanged keeps the first value read for it."""
    checkpoints = inv(*(ckpt(step) for step in range(1, 9)))
    memory = MetricMemory()
    first: dict[int, float] = {}
    for table in tables:
        result = recall(
            checkpoints,
            MetricsTable(by_step={s: {"val_loss": v} for s, v in table.items()}),
            memory,
            metric="val_loss",
        )
        for step, value in table.items():
            first.setdefault(step, value)
        assert {s: v for s, (v, _) in known(result.inventory).items() if v is not None} == first
        memory = result.memory

"""A listing turned into checkpoints: a save uploaded after its framework's declaring
pointer object (DeepSpeed's `latest`, Megatron's tracker) is not complete yet."""

from __future__ import annotations

import pytest
from support import PRESET_OBJECTS

from ckptguard.core.layouts import layout_for
from ckptguard.core.model import Integrity
from ckptguard.store.local.cache import IntegrityCache
from ckptguard.store.remote.objects import ObjectInfo
from ckptguard.store.remote.survey import checkpoints

SECOND = 1_000_000_000


def listed(uploads: list[tuple[dict[str, bytes], int]]) -> tuple[dict[str, ObjectInfo], dict]:
    """Objects as a listing shows them, each upload at its time (seconds); and the bytes."""
    objects, data = {}, {}
    for batch, at in uploads:
        for name, body in batch.items():
            objects[name] = ObjectInfo(name, len(body), f"v{at}-{name}", at * SECOND)
            data[name] = body
    return objects, data


@pytest.mark.parametrize(
    ("preset", "name", "pointer"),
    [
        ("deepspeed", "global_step{}", "latest"),
        ("megatron", "iter_{:07d}", "latest_checkpointed_iteration.txt"),
    ],
)
def test_a_save_newer_than_its_declaring_pointer_is_not_complete(
    preset: str, name: str, pointer: str
) -> None:
    """Step 2 is whole, but uploaded after the pointer (which still names step 1): not
    declared complete. Once the pointer names it, it is complete."""
    make = PRESET_OBJECTS[preset]
    declaring = {k: v for k, v in make(2).items() if k == pointer}
    second = {k: v for k, v in make(2).items() if k != pointer}
    objects, data = listed([(make(1), 100), (second, 200)])

    def read(obj: ObjectInfo, start: int, end: int) -> bytes:
        return data[obj.name][start:end]

    layout = layout_for(preset)
    found = {c.name: c for c in checkpoints(objects, layout, read, IntegrityCache())}
    assert found[name.format(1)].integrity is Integrity.VALID
    assert found[name.format(1)].protected_by == pointer
    assert found[name.format(2)].integrity is Integrity.INVALID
    objects, data = listed([(make(1), 100), (second, 200), (declaring, 300)])
    found = {c.name: c for c in checkpoints(objects, layout, read, IntegrityCache())}
    assert found[name.format(2)].integrity is Integrity.VALID

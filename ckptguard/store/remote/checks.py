"""Content checks of remote checkpoints, by ranged reads of the objects listed.

The same verdicts as on a local disk (`store.local.formats`): a `.keras` or torch zip's
end (one ranged GET of its tail), an HDF5 superblock, a TensorFlow `.index` footer, a
Hugging Face `trainer_state.json` naming its step, DCP's `.metadata` pickle whole,
Orbax's `commit_success.txt`, Megatron's `metadata.json` beside a whole `.metadata`.
An object merely existing never makes a checkpoint
complete: an object store shows an upload only once it is whole, so the question is
whether the *last* object a save writes is there and whole.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, cast

from ckptguard.core.layouts import DCP_METADATA, MEGATRON_CONFIG, TRAINER_STATE, Content, Layout
from ckptguard.core.model import Integrity
from ckptguard.store.local.cache import Verdict
from ckptguard.store.local.formats import (
    MAX_STATE_BYTES,
    check_file,
    check_tf_index,
    global_step_in_head,
    trainer_state_metrics,
)
from ckptguard.store.remote.objects import ObjectChanged, ObjectInfo
from ckptguard.store.remote.ranged import RangedFile

# read(object, start, end) -> its bytes [start, end), ObjectChanged if it changed.
Read = Callable[[ObjectInfo, int, int], bytes]
# Orbax writes a step into `<step>.orbax-checkpoint-tmp-<time>` and renames it into place.
ORBAX_TMP = ".orbax-checkpoint-tmp-"
ORBAX_COMMIT = "commit_success.txt"
# Orbax's step metadata, written when a save is finalized (before its rename).
ORBAX_METADATA = "_CHECKPOINT_METADATA"


def check_object(read: Read, obj: ObjectInfo, content: Content) -> Verdict | None:
    """The verdict of a one-object checkpoint; None if it changed while we read it."""
    ranged = RangedFile(lambda start, end: read(obj, start, end), obj.size)
    handle = cast(IO[bytes], ranged)
    try:
        if content in (Content.KERAS_ZIP, Content.TORCH, Content.TF_GROUP):
            ranged.prefetch_tail()
        if content is Content.TF_GROUP:
            return Verdict(check_tf_index(handle, obj.size))
        return Verdict(check_file(handle, obj.size, content))
    except ObjectChanged:
        return None


def check_directory(
    read: Read,
    step: int,
    layout: Layout,
    inside: dict[str, ObjectInfo],
    *,
    renaming: bool,
) -> Verdict | None:
    """The verdict of a checkpoint "directory": the objects below `<name>/`, keyed by
    their path inside it. `renaming`: an Orbax temporary of this step is still there."""
    try:
        if layout.content is Content.IN_PLACE:
            return _orbax(inside, renaming=renaming)
        if layout.content is Content.MEGATRON:
            return _megatron(read, inside)
        if TRAINER_STATE in layout.markers and TRAINER_STATE in inside:
            return _trainer_state(read, inside[TRAINER_STATE], step)
        if DCP_METADATA in layout.markers and DCP_METADATA in inside:
            return Verdict(_dcp_metadata(read, inside[DCP_METADATA]))
    except ObjectChanged:
        return None
    found = any(m in inside for m in layout.markers)
    return Verdict(Integrity.VALID if found else Integrity.INVALID)


def _dcp_metadata(read: Read, marker: ObjectInfo) -> Integrity:
    """DCP pickles its metadata: a whole pickle ends in STOP ('.')."""
    whole = marker.size > 0 and read(marker, marker.size - 1, marker.size) == b"."
    return Integrity.VALID if whole else Integrity.INVALID


def _megatron(read: Read, inside: dict[str, ObjectInfo]) -> Verdict:
    """As on a disk (`store.local.directories`): torch_dist's `metadata.json`, written last,
    beside a whole `.metadata`; the legacy `mp_rank_*` directories have no end marker and
    are judged by the settle window and the tracker file; anything else is cut short."""
    if MEGATRON_CONFIG in inside:
        marker = inside.get(DCP_METADATA)
        return Verdict(Integrity.INVALID if marker is None else _dcp_metadata(read, marker))
    if any(name.startswith("mp_rank_") and "/" in name for name in inside):
        return Verdict(Integrity.UNCHECKED)
    return Verdict(Integrity.INVALID)


def _orbax(inside: dict[str, ObjectInfo], *, renaming: bool) -> Verdict:
    """Complete with its commit marker (what Orbax writes on object stores), or once
    renamed into place: its step metadata (written last, before the rename) there and no
    temporary of this step left (a rename is a copy, then a delete, on object storage)."""
    if ORBAX_COMMIT in inside:
        return Verdict(Integrity.VALID)
    renamed = ORBAX_METADATA in inside and not renaming
    return Verdict(Integrity.VALID if renamed else Integrity.INVALID)


def _trainer_state(read: Read, marker: ObjectInfo, step: int) -> Verdict:
    """Complete when trainer_state.json parses and names this step (a too-big one: when
    its head does); its rows of this step give the metrics."""
    if marker.size > MAX_STATE_BYTES:
        head = read(marker, 0, 64 * 1024)
        named = global_step_in_head(head) == step
        return Verdict(Integrity.VALID if named else Integrity.INVALID)
    metrics = trainer_state_metrics(read(marker, 0, marker.size), step)
    if metrics is None:
        return Verdict(Integrity.INVALID)
    return Verdict(Integrity.VALID, metrics)

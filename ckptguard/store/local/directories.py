"""Looking at a directory checkpoint: its tree measured whole, its marker read.

Complete per its layout: Hugging Face's trainer_state.json naming its step (and giving
its metrics), DCP's .metadata as a whole pickle, Orbax's directory renamed into place.
"""

from __future__ import annotations

import errno
import os
from dataclasses import replace

from ckptguard.core.layouts import (
    DCP_METADATA,
    MEGATRON_CONFIG,
    TRAINER_STATE,
    Content,
    Layout,
)
from ckptguard.core.model import Checkpoint, Integrity, MetricSource
from ckptguard.store.local.cache import IntegrityCache, Metrics, Verdict
from ckptguard.store.local.entries import directory_in, regular_in, regular_size
from ckptguard.store.local.formats import (
    MAX_STATE_BYTES,
    global_step_in_head,
    trainer_state_metrics,
)
from ckptguard.store.local.pointers import read_head, read_small
from ckptguard.store.local.trees import DIR_FLAGS, Tree, TreeChanged, Unwalkable, measure_tree


def look_at_directory(
    dir_fd: int, checkpoint: Checkpoint, layout: Layout, cache: IntegrityCache
) -> Checkpoint | None:
    """A directory checkpoint, measured whole; complete per its layout's marker or name."""
    try:
        fd = os.open(checkpoint.name, DIR_FLAGS, dir_fd=dir_fd)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOENT, errno.ENOTDIR):
            return None  # replaced since lstat: the next look decides
        return replace(checkpoint, integrity=Integrity.UNREADABLE)
    try:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != (checkpoint.identity.device, checkpoint.identity.inode):
            return None
        tree = _measure(fd, dir_fd)
        if isinstance(tree, Integrity):
            # Kept in the inventory either way, so the next event looks at it again.
            return replace(checkpoint, integrity=tree)
        checkpoint = replace(checkpoint, identity=tree.identity, freeable=tree.freeable)
        verdict = cache.get(checkpoint.name, tree.identity)
        if verdict is None:
            verdict = _directory_verdict(fd, checkpoint.step, layout, tree)
            # Only a complete verdict is remembered: a marker renamed into place (DCP's
            # .metadata) leaves total size and, on coarse clocks, newest mtime unchanged.
            if verdict.integrity is Integrity.VALID:
                cache.put(checkpoint.name, tree.identity, verdict)
    finally:
        os.close(fd)
    return _with_content_metrics(replace(checkpoint, integrity=verdict.integrity), verdict.metrics)


def _measure(fd: int, dir_fd: int, attempts: int = 3) -> Tree | Integrity:
    """The tree of a checkpoint directory; UNREADABLE if it is no checkpoint to walk,
    INVALID if it kept changing under every walk (a save still writing it)."""
    for _ in range(attempts):
        try:
            return measure_tree(fd, dir_fd)
        except TreeChanged:
            continue
        except (PermissionError, Unwalkable):
            return Integrity.UNREADABLE
        except OSError as error:
            if error.errno not in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                return Integrity.UNREADABLE
    return Integrity.INVALID


def _directory_verdict(fd: int, step: int, layout: Layout, tree: Tree) -> Verdict:
    found = next((m for m in layout.markers if regular_in(fd, m)), None)
    if layout.content is Content.IN_PLACE:
        # Renamed into place when finished; the marker is for stores without renames.
        complete = found is not None or tree.files > 0
        return Verdict(Integrity.VALID if complete else Integrity.INVALID)
    if found == TRAINER_STATE:
        return _trainer_state_verdict(fd, step)
    if layout.content is Content.MEGATRON:
        return _megatron_verdict(fd)
    if found == DCP_METADATA:
        return Verdict(_dcp_metadata(fd))
    return Verdict(Integrity.INVALID if found is None else Integrity.VALID)


def _dcp_metadata(fd: int) -> Integrity:
    """DCP pickles its metadata, then renames it into place: a whole pickle ends in STOP."""
    data = read_small(fd, DCP_METADATA, MAX_STATE_BYTES)
    return Integrity.VALID if data is not None and data.endswith(b".") else Integrity.INVALID


def _megatron_verdict(fd: int) -> Verdict:
    """Megatron's torch_dist format: the shards and DCP's `.metadata`, then `metadata.json`
    (written last, by rank 0); its legacy format: one `mp_rank_*` directory per rank, with
    no end marker, so judged by the settle window and the tracker file."""
    if regular_in(fd, MEGATRON_CONFIG):
        return Verdict(_dcp_metadata(fd))
    if any(name.startswith("mp_rank_") and directory_in(fd, name) for name in os.listdir(fd)):
        return Verdict(Integrity.UNCHECKED)
    return Verdict(Integrity.INVALID)


def _trainer_state_verdict(fd: int, step: int) -> Verdict:
    """Complete when trainer_state.json parses and says this step; metrics from its rows.

    One too big to parse here still marks a finished save when its head names this
    step (the Trainer writes sorted keys, `global_step` among the first), but then
    tells no metrics.
    """
    data = read_small(fd, TRAINER_STATE, MAX_STATE_BYTES)
    if data is None:
        if regular_size(fd, TRAINER_STATE) <= MAX_STATE_BYTES:
            return Verdict(Integrity.INVALID)
        head = read_head(fd, TRAINER_STATE, 64 * 1024)
        found = head is not None and global_step_in_head(head) == step
        return Verdict(Integrity.VALID if found else Integrity.INVALID)
    metrics = trainer_state_metrics(data, step)
    if metrics is None:
        return Verdict(Integrity.INVALID)  # still being written, or not this checkpoint's
    return Verdict(Integrity.VALID, metrics)


def _with_content_metrics(checkpoint: Checkpoint, from_content: Metrics) -> Checkpoint:
    """The checkpoint with the metrics its content states; its name's fields win."""
    if not from_content:
        return checkpoint
    sources = {k: MetricSource.CHECKPOINT for k, _ in from_content}
    sources.update(dict(checkpoint.metric_sources))
    return replace(
        checkpoint,
        metrics=tuple(sorted({**dict(from_content), **dict(checkpoint.metrics)}.items())),
        metric_sources=tuple(sorted(sources.items(), key=lambda item: item[0])),
    )

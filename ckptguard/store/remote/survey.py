"""Turning one listing of a prefix into checkpoints: grouped by the layout, identified by
their objects (key, size, version), pinned, named by pointer objects, content-checked.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ckptguard.core.layouts import POINTER_FILES, Content, Layout, tf_shard
from ckptguard.core.model import Checkpoint, Integrity, Kind, MetricSource, Part, Unit
from ckptguard.core.naming import pin_name
from ckptguard.core.runs import step_order
from ckptguard.store.local.cache import IntegrityCache, Verdict
from ckptguard.store.local.formats import tf_shards_complete
from ckptguard.store.local.pointers import (
    MAX_POINTER_BYTES,
    Pointers,
    declared,
    parse_pointer,
    protected_by,
)
from ckptguard.store.remote.checks import ORBAX_TMP, Read, check_directory, check_object
from ckptguard.store.remote.objects import ObjectChanged, ObjectInfo, identity_of


@dataclass
class Grouped:
    """A listing sorted out: each checkpoint's objects, and the other top-level names."""

    members: dict[str, list[ObjectInfo]] = field(default_factory=lambda: defaultdict(list))
    tops: set[str] = field(default_factory=set)


def group(objects: dict[str, ObjectInfo], layout: Layout) -> Grouped:
    grouped = Grouped()
    prefix = layout.template.literal_ends[0]
    for name, obj in objects.items():
        top = name.split("/", 1)[0]
        grouped.tops.add(top)
        if not top.startswith(prefix):
            continue
        key = layout.key_of(top)
        if key is not None:
            grouped.members[key].append(obj)
    return grouped


def checkpoints(
    objects: dict[str, ObjectInfo], layout: Layout, read: Read, cache: IntegrityCache
) -> list[Checkpoint]:
    """Every checkpoint of `layout` among `objects`, ordered by step."""
    grouped = group(objects, layout)
    pointers = read_pointers(listed_pointer(objects, read), written=pointer_times(objects))
    found = []
    for key, members in grouped.members.items():
        checkpoint = look_at(key, members, layout, read, cache, grouped.tops)
        if checkpoint is None:
            continue
        checkpoint = replace(
            checkpoint,
            pinned=pin_name(key) in grouped.tops,
            protected_by=protected_by(checkpoint, pointers) if pointers else None,
        )
        found.append(declared(checkpoint, pointers, layout.declared_by))
    cache.retain({(c.name, c.identity) for c in found})
    found.sort(key=step_order)
    return found


def look_at(
    key: str,
    members: list[ObjectInfo],
    layout: Layout,
    read: Read,
    cache: IntegrityCache,
    tops: set[str],
) -> Checkpoint | None:
    matched = layout.template.match(key)
    if matched is None or not members:
        return None
    step, fields = matched
    identity = identity_of(members)
    kind = _kind(members, layout.unit)
    base = Checkpoint(
        name=key,
        step=step,
        kind=kind,
        identity=identity,
        freeable=identity.size,
        metrics=tuple(sorted(fields.items())),
        metric_sources=tuple((k, MetricSource.NAME) for k in sorted(fields)),
        unit=layout.unit,
        created_ns=min(o.mtime_ns for o in members),
    )
    if layout.unit is Unit.GROUP:
        base = replace(base, parts=_parts(key, members))
    if kind is not layout.unit.expected_kind:
        return base  # an object where a "directory" belongs, or the reverse: never deleted
    verdict = cache.get(key, identity)
    if verdict is None:
        verdict = _verdict(base, members, layout, read, tops)
        if verdict is None:
            return replace(base, integrity=Integrity.INVALID)  # changed while read
        if verdict.integrity is not Integrity.INVALID:
            cache.put(key, identity, verdict)
    return _with_metrics(replace(base, integrity=verdict.integrity), verdict)


def _kind(members: list[ObjectInfo], unit: Unit) -> Kind:
    """A "directory" is objects below `<name>/`; anything else where one belongs (or
    the reverse) is OTHER: reported, never deleted."""
    inside = [("/" in o.name) for o in members]
    if unit is Unit.DIRECTORY:
        return Kind.DIRECTORY if all(inside) else Kind.OTHER
    return Kind.OTHER if any(inside) else Kind.REGULAR


def _parts(key: str, members: list[ObjectInfo]) -> tuple[Part, ...]:
    """A group's objects, its marker (`.index`) first: the order deletion goes in."""
    index = key + ".index"
    ordered = sorted(members, key=lambda o: (o.name != index, o.name))
    return tuple(Part(o.name, Kind.REGULAR, identity_of([o])) for o in ordered)


def _verdict(
    base: Checkpoint, members: list[ObjectInfo], layout: Layout, read: Read, tops: set[str]
) -> Verdict | None:
    if layout.unit is Unit.DIRECTORY:
        inside = {o.name.split("/", 1)[1]: o for o in members}
        renaming = any(t.startswith(base.name + ORBAX_TMP) for t in tops)
        return check_directory(read, base.step, layout, inside, renaming=renaming)
    if layout.unit is Unit.GROUP:
        return _group_verdict(base, members, read)
    if layout.content is Content.NONE:
        return Verdict(Integrity.UNCHECKED)
    return check_object(read, members[0], layout.content)


def _group_verdict(base: Checkpoint, members: list[ObjectInfo], read: Read) -> Verdict | None:
    by_name = {o.name: o for o in members}
    index = by_name.get(base.name + ".index")
    shards = [s for s in (tf_shard(o.name) for o in members) if s is not None]
    if index is None or not tf_shards_complete(shards):
        return Verdict(Integrity.INVALID)
    return check_object(read, index, Content.TF_GROUP)


def _with_metrics(checkpoint: Checkpoint, verdict: Verdict) -> Checkpoint:
    """The metrics the content states (trainer_state.json); the name's fields win."""
    if not verdict.metrics:
        return checkpoint
    sources = {k: MetricSource.CHECKPOINT for k, _ in verdict.metrics}
    sources.update(dict(checkpoint.metric_sources))
    return replace(
        checkpoint,
        metrics=tuple(sorted({**dict(verdict.metrics), **dict(checkpoint.metrics)}.items())),
        metric_sources=tuple(sorted(sources.items(), key=lambda item: item[0])),
    )


def pointer_times(objects: dict[str, ObjectInfo]) -> dict[str, int]:
    """When each pointer object listed was last written (ns): a checkpoint uploaded
    after its framework's declaring pointer is not declared complete yet (`declared`)."""
    return {name: objects[name].mtime_ns for name in POINTER_FILES if name in objects}


def read_pointers(
    fetch: Callable[[str], bytes | None], *, written: dict[str, int] | None = None
) -> Pointers:
    """What the "latest" pointer objects at the top of the prefix name; `fetch(name)`
    gives an object's bytes (None when absent or too large). Object stores have no
    symlinks, so Lightning's `last.ckpt` is always a copy that names nothing."""
    names: dict[str, str] = {}
    steps: dict[int, str] = {}
    for pointer in POINTER_FILES:
        if pointer == "last.ckpt":
            continue
        data = fetch(pointer)
        if data is not None and len(data) <= MAX_POINTER_BYTES:
            parse_pointer(pointer, data, names, steps)
    return Pointers(names, steps, dict(written or {}))


def listed_pointer(objects: dict[str, ObjectInfo], read: Read) -> Callable[[str], bytes | None]:
    """Fetch a pointer object as listed (None when absent, too large, or changed)."""

    def fetch(name: str) -> bytes | None:
        obj = objects.get(name)
        if obj is None or obj.size > MAX_POINTER_BYTES:
            return None
        try:
            return read(obj, 0, obj.size)
        except (ObjectChanged, OSError):
            return None

    return fetch

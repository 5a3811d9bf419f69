"""Plain values shared by every layer: what was seen, what is wanted, what was decided.

Nothing here does I/O or knows about pydantic, watchdog or psutil, so the planner
can be tested with values alone.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Kind(enum.Enum):
    """What a directory entry is, as seen by lstat (symlinks are never followed)."""

    REGULAR = "regular"
    SYMLINK = "symlink"
    DIRECTORY = "directory"
    OTHER = "other"


class Integrity(enum.Enum):
    """What the content check said about a file; UNCHECKED when the format has none."""

    VALID = "valid"
    INVALID = "invalid"
    UNCHECKED = "unchecked"
    # We may not read it: it cannot be verified, so it is neither counted nor deleted.
    UNREADABLE = "unreadable"


class MetricSource(enum.Enum):
    """Where a checkpoint's metric value was read."""

    NAME = "name"  # a field of its own name
    CHECKPOINT = "checkpoint"  # its own content (Hugging Face's trainer_state.json)
    FILE = "file"  # the metrics file, as it reads now
    REMEMBERED = "remembered"  # the metrics file, as it read before (see `recall`)


@dataclass(frozen=True, slots=True)
class FileIdentity:
    """Enough of an lstat result to tell whether an entry is still the one planned on."""

    device: int
    inode: int
    size: int
    mtime_ns: int


class Unit(enum.Enum):
    """What one checkpoint is made of on disk."""

    FILE = "file"  # one regular file: `checkpoint_step_100.keras`
    DIRECTORY = "directory"  # one directory tree: `checkpoint-100/`
    GROUP = "group"  # regular files sharing a stem: `ckpt-7.index` + `ckpt-7.data-*`

    @property
    def expected_kind(self) -> Kind:
        return Kind.DIRECTORY if self is Unit.DIRECTORY else Kind.REGULAR


@dataclass(frozen=True, slots=True)
class Part:
    """One entry of the guarded directory that belongs to a checkpoint made of several."""

    name: str
    kind: Kind
    identity: FileIdentity


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One unit of retention: a file, a directory or a group of files (see `Unit`).

    `name` is an entry's name inside the guarded directory (a group's common stem), never
    a path, so that nothing built from it can point outside that directory. `identity`
    sums a directory's or group's contents: its size is what deletion frees at most and
    its mtime is the newest of them, so any write inside shows as a change.
    """

    name: str
    step: int
    kind: Kind
    identity: FileIdentity
    integrity: Integrity = Integrity.UNCHECKED
    pinned: bool = False
    # Bytes that unlinking returns to the filesystem: 0 when other hard links remain.
    freeable: int = 0
    # Processes (pids) known to hold the file open; unlinking them frees nothing yet.
    open_by: tuple[int, ...] = ()
    # Hard links to the file (st_nlink); more than one means deletion frees nothing.
    links: int = 1
    # Metric values known for this checkpoint, and where each was read.
    metrics: tuple[tuple[str, float], ...] = ()
    metric_sources: tuple[tuple[str, MetricSource], ...] = ()
    unit: Unit = Unit.FILE
    # A group's files, completeness marker first (the order deletion goes in).
    parts: tuple[Part, ...] = ()
    # The "latest" pointer file that names this checkpoint: never deleted while it does.
    protected_by: str | None = None
    # Known to be held open for writing (the watcher saw writes and no close yet, or
    # /proc says so): a save in progress, whatever its content check says.
    writing: bool = False
    # When it was created (birth time, ns), where known and asked for (see `runs`).
    created_ns: int | None = None
    # Seconds the guard itself has seen this entry unchanged (size and mtime), by its own
    # clock; None when it has not watched it (one-shot commands): the mtime's age is used.
    quiet_for: float | None = None

    def metric(self, name: str) -> float | None:
        return dict(self.metrics).get(name)

    def metric_source(self, name: str) -> MetricSource | None:
        return dict(self.metric_sources).get(name)

    @property
    def size(self) -> int:
        return self.identity.size

    @property
    def mtime_ns(self) -> int:
        return self.identity.mtime_ns

    @property
    def reclaimable(self) -> int:
        """Bytes deleting this checkpoint would free right now."""
        return 0 if self.open_by else self.freeable


@dataclass(frozen=True)
class Quota:
    """A disk quota that limits the writer: `kind` ("user", "group" or "project") of `id`.

    `limit` is the hard block limit in bytes and `used` what is charged to it now.
    """

    kind: str
    id: int
    limit: int
    used: int

    @property
    def free(self) -> int:
        return max(0, self.limit - self.used)


@dataclass(frozen=True)
class DiskState:
    """Space on the filesystem holding the directory, as an unprivileged writer sees it.

    `free` is what binds the writer: the filesystem's free space or, where a quota
    leaves less, the quota's (`quota` then says which; `fs_free` keeps the filesystem's).
    """

    total: int
    free: int
    quota: Quota | None = None
    fs_free: int | None = None

    @property
    def bound_by_quota(self) -> bool:
        return self.quota is not None and self.fs_free is not None and self.free < self.fs_free


@dataclass(frozen=True)
class Inventory:
    """A snapshot of one directory: its checkpoints, ordered by (step, name), and its disk."""

    directory: str
    checkpoints: tuple[Checkpoint, ...]
    disk: DiskState
    # The preset whose completeness check judged the checkpoints (for warnings).
    preset: str = ""


class MinFreeUnit(enum.Enum):
    BYTES = "bytes"
    PERCENT = "percent"
    MULTIPLE = "multiple"


@dataclass(frozen=True)
class MinFree:
    """Free space to keep: bytes, a percentage of the filesystem, or checkpoint sizes."""

    unit: MinFreeUnit
    value: float

    def __str__(self) -> str:
        if self.unit is MinFreeUnit.PERCENT:
            return f"{self.value:g}%"
        if self.unit is MinFreeUnit.MULTIPLE:
            return f"{self.value:g}x"
        return f"{int(self.value)}B"


@dataclass(frozen=True)
class Tier:
    """Keep every checkpoint whose step is a multiple of `every`, up to step `until`
    (inclusive; None: for ever)."""

    every: int
    until: int | None = None

    def covers(self, step: int) -> bool:
        return (
            self.every > 0 and step % self.every == 0 and (self.until is None or step <= self.until)
        )


@dataclass(frozen=True)
class Policy:
    """The retention rules for one directory.

    Every keep rule keeps what it covers; the kept set is their union (see `planner`).
    `keep_every` is the plain one-tier form of `tiers`.
    """

    keep: int = 3
    min_free: MinFree = field(default_factory=lambda: MinFree(MinFreeUnit.MULTIPLE, 1.0))
    min_keep: int = 1
    keep_every: int | None = None
    settle_seconds: float = 10.0
    # Keep the `keep_best` checkpoints with the best `metric`; "min" or "max" is better.
    keep_best: int = 0
    metric: str | None = None
    metric_mode: str = "min"
    # Step tiers (Levanter's every/until), on top of `keep_every`.
    tiers: tuple[Tier, ...] = ()
    # Time rules, by when each checkpoint was completed (see `planner.time_rules`).
    keep_within: float | None = None  # seconds before the newest completion
    keep_hourly: int = 0
    keep_daily: int = 0
    keep_weekly: int = 0
    # Bytes the directory's checkpoints may take (see `planner.budget`).
    max_size: int | None = None

    @property
    def all_tiers(self) -> tuple[Tier, ...]:
        plain = (Tier(self.keep_every),) if self.keep_every else ()
        return (*plain, *self.tiers)

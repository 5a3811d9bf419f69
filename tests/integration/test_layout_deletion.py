"""Deleting checkpoints that are directories or groups of files, against real trees.

Every test builds real files in `tmp_path` and drives `survey` and `Deleter` through a
real directory file descriptor; nothing is mocked. A directory checkpoint must go whole
or not at all, a group must lose its `.index` first, and nothing outside the guarded
directory (behind a symlink or a mount point) may ever be touched. Files are back-dated
with `os.utime` instead of waiting for the settle window.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import resource
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import OLD, TF_MAGIC, directory_fd, immutable, plan_for, tree_snapshot

from ckptguard.core.decisions import Action, Plan, ReasonCode, Result, State, Status
from ckptguard.core.layouts import Layout, layout_for
from ckptguard.core.model import Integrity, Kind, MinFree, MinFreeUnit
from ckptguard.engine.executors import Deleter
from ckptguard.store.local.deleter import TRASH_PREFIX
from ckptguard.store.local.directory import LocalStore
from ckptguard.store.local.scan import scan
from ckptguard.store.local.trees import MAX_DEPTH, Unwalkable, mount_id, walk

HF = layout_for("hf")
TF = layout_for("tf")
# A target no filesystem can reach: the free-space rule deletes everything it may.
PRESSURE = MinFree(MinFreeUnit.BYTES, 10**18)


def state(step: int) -> bytes:
    """A finished trainer_state.json of checkpoint `step`."""
    return json.dumps({"global_step": step, "log_history": []}).encode()


def marker_bytes(marker: str, step: int) -> bytes:
    """What each framework writes as its completeness marker."""
    if marker == "trainer_state.json":
        return state(step)
    if marker == ".metadata":
        return pickle.dumps({"state_dict_metadata": {}})  # DCP pickles its metadata
    return b"ok"


VICTIM = b"data outside the guarded directory\n"


# --- helpers ---------------------------------------------------------------------------


def backdate(root: Path, when: float = OLD) -> None:
    """Set the mtime of `root` and everything below it (links themselves, never followed)."""
    for parent, dirs, files in os.walk(root):
        for name in dirs + files:
            os.utime(Path(parent, name), (when, when), follow_symlinks=False)
    os.utime(root, (when, when), follow_symlinks=False)


def write_hf(models: Path, step: int, *, weights: int = 2048) -> Path:
    """A complete Hugging Face checkpoint directory with a nested subdirectory, back-dated."""
    path = models / f"checkpoint-{step}"
    path.mkdir()
    (path / "trainer_state.json").write_bytes(state(step))
    (path / "model.safetensors").write_bytes(bytes(weights))
    (path / "rng").mkdir()
    (path / "rng" / "rng_state.pth").write_bytes(b"rng" * 10)
    backdate(path)
    return path


def tf_index() -> bytes:
    return bytes(40) + TF_MAGIC  # the smallest table that passes: 48 bytes, magic last


def write_group(
    models: Path, step: int, *, shards: int = 2, index: bool = True, when: float = OLD
) -> list[Path]:
    """A TensorFlow checkpoint `ckpt-<step>`: its shards and (unless told not to) its index."""
    paths = [models / f"ckpt-{step}.data-{i:05d}-of-{shards:05d}" for i in range(shards)]
    for number, shard in enumerate(paths):
        shard.write_bytes(bytes([number + 1]) * 3000)
    if index:
        paths.append(models / f"ckpt-{step}.index")
        paths[-1].write_bytes(tf_index())
    for path in paths:
        os.utime(path, (when, when))
    return paths


def survey_of(models: Path, fd: int, layout: Layout, **policy: Any) -> Plan:
    """A plan for `models` with no settle time (every planned mtime is at most OLD)."""
    return plan_for(models, fd, layout=layout, **{"settle_seconds": 0.0, **policy})


def decision_of(plan: Plan, name: str) -> tuple[State, Action]:
    (found,) = [d for d in plan.decisions if d.checkpoint.name == name]
    return found.state, found.action


def result_of(results: tuple[Result, ...], name: str) -> Result:
    (found,) = [r for r in results if r.decision.checkpoint.name == name]
    return found


def trash_in(models: Path) -> list[str]:
    return [n for n in os.listdir(models) if n.startswith(TRASH_PREFIX)]


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory outside the guarded one, holding a file that must survive everything."""
    directory = tmp_path / "outside"
    directory.mkdir()
    (directory / "victim.bin").write_bytes(VICTIM)
    return directory


# --- 1. a directory checkpoint goes whole or not at all (property) ----------------------

DIR_NAMES = st.sampled_from(["d0", "d1", "d2"])
FILE_NAMES = st.sampled_from(["f0", "f1", "model.safetensors", "optimizer.pt"])
# Where an entry lives inside the checkpoint: at the top, or up to three directories down.
PLACES = st.lists(DIR_NAMES, max_size=3).map(tuple)
LINK_NAME = "outside-link"
ADDED_NAME = "added.bin"
# Mutations that change the tree's size or newest mtime: the Deleter must notice them.
MUST_SKIP = frozenset({"add_file", "append", "replace_subdir", "touch_newer"})


@dataclass(frozen=True)
class Case:
    """A checkpoint tree and the mutation made to it between planning and applying."""

    files: dict[tuple[str, ...], tuple[int, int]]  # relative path -> (size, age in seconds)
    dirs: tuple[tuple[str, ...], ...]
    link: tuple[tuple[str, ...], str] | None  # (where, "file" or "dir") of a link outside
    mutation: str
    target: tuple[str, ...]
    amount: int


def _with_parents(places: list[tuple[str, ...]]) -> tuple[tuple[str, ...], ...]:
    return tuple(sorted({p[:i] for p in places for i in range(1, len(p) + 1)}))


@st.composite
def cases(draw: st.DrawFn) -> Case:
    placed = draw(
        st.dictionaries(
            st.tuples(PLACES, FILE_NAMES),
            st.tuples(st.integers(0, 5000), st.integers(0, 10_000)),
            max_size=8,
        )
    )
    files = {(*where, name): spec for (where, name), spec in placed.items()}
    extra = draw(st.lists(st.lists(DIR_NAMES, min_size=1, max_size=3).map(tuple), max_size=3))
    link = draw(st.none() | st.tuples(PLACES, st.sampled_from(["file", "dir"])))
    dirs = _with_parents([w for w, _ in placed] + extra + ([link[0]] if link is not None else []))
    every_file = [*files, ("trainer_state.json",)]
    nested = [f for f in files if len(f) > 1] or every_file
    choices = ["none", "add_file", "append", "touch_newer", "touch_older"]
    if dirs:
        choices.append("replace_subdir")
    mutation = draw(st.sampled_from(choices))
    target: tuple[str, ...] = ()
    amount = 0
    if mutation == "add_file":
        target = draw(st.sampled_from([(), *dirs]))
        amount = draw(st.integers(0, 64))
    elif mutation == "append":
        target = draw(st.sampled_from(every_file))
        amount = draw(st.integers(1, 64))
    elif mutation.startswith("touch"):
        target = draw(st.sampled_from(nested))
    elif mutation == "replace_subdir":
        target = draw(st.sampled_from(dirs))
    return Case(files, dirs, link, mutation, target, amount)


def _build(checkpoint: Path, case: Case, outside: Path) -> None:
    checkpoint.mkdir()
    (checkpoint / "trainer_state.json").write_bytes(state(100))
    for where in case.dirs:
        checkpoint.joinpath(*where).mkdir(exist_ok=True)
    for rel, (size, _) in case.files.items():
        checkpoint.joinpath(*rel).write_bytes(b"w" * size)
    if case.link is not None:
        where, kind = case.link
        target = outside / "victim.bin" if kind == "file" else outside
        os.symlink(target, checkpoint.joinpath(*where, LINK_NAME))
    backdate(checkpoint)
    for rel, (_, age) in case.files.items():
        os.utime(checkpoint.joinpath(*rel), (OLD - age, OLD - age))


def _mutate(checkpoint: Path, case: Case, outside: Path) -> None:
    path = checkpoint.joinpath(*case.target)
    if case.mutation == "add_file":
        (path / ADDED_NAME).write_bytes(b"n" * case.amount)
    elif case.mutation == "append":
        with path.open("ab") as handle:
            handle.write(b"+" * case.amount)
    elif case.mutation == "replace_subdir":
        shutil.rmtree(path)
        os.symlink(outside, path)
    elif case.mutation == "touch_newer":
        now = time.time()
        os.utime(path, (now, now))
    elif case.mutation == "touch_older":
        # Older than the newest mtime, same size: invisible to the identity, may go whole.
        os.utime(path, (OLD - 20_000, OLD - 20_000))


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(case=cases())
def test_directory_checkpoint_is_deleted_whole_or_not_at_all(tmp_path: Path, case: Case) -> None:
    """A planned directory changed before applying is SKIPPED untouched; else it goes whole."""
    base = Path(tempfile.mkdtemp(dir=tmp_path))
    models, outside = base / "models", base / "outside"
    models.mkdir()
    outside.mkdir()
    (outside / "victim.bin").write_bytes(VICTIM)
    outside_before = tree_snapshot(outside)
    checkpoint = models / "checkpoint-100"
    _build(checkpoint, case, outside)
    newer = write_hf(models, 200)
    newer_before = tree_snapshot(newer)
    with directory_fd(models) as fd:
        plan = survey_of(models, fd, HF, keep=1)
        assert decision_of(plan, "checkpoint-100") == (State.COMPLETE, Action.DELETE)
        _mutate(checkpoint, case, outside)
        mutated = tree_snapshot(checkpoint)
        (result,) = Deleter().apply(plan, LocalStore(fd)).results
    assert tree_snapshot(outside) == outside_before
    assert tree_snapshot(newer) == newer_before
    assert trash_in(models) == []
    if case.mutation == "none":
        assert result.status is Status.DELETED, result.detail
    if case.mutation in MUST_SKIP:
        assert result.status is Status.SKIPPED, result.detail
    if result.status is Status.DELETED:
        assert sorted(os.listdir(models)) == ["checkpoint-200"]
    else:
        assert result.status is Status.SKIPPED, result.detail
        assert "not touched" in result.detail
        assert tree_snapshot(checkpoint) == mutated


# --- 2. markers first, failures, and mount points ---------------------------------------

DIRECTORY_PRESETS = {
    "hf": ("checkpoint-{}", "trainer_state.json"),
    "dcp": ("step-{}", ".metadata"),
    "orbax": ("{}", "commit_success.txt"),
}


@pytest.mark.parametrize("preset", sorted(DIRECTORY_PRESETS))
def test_successful_directory_deletion_leaves_nothing_behind(
    models: Path, dir_fd: int, preset: str
) -> None:
    """Deleted directory checkpoints vanish with no trash entry; the newest stays identical."""
    pattern, marker = DIRECTORY_PRESETS[preset]
    for step in (10, 20, 30):
        path = models / pattern.format(step)
        (path / "shards" / "deep").mkdir(parents=True)
        (path / marker).write_bytes(marker_bytes(marker, step))
        (path / "shards" / "deep" / "weights.bin").write_bytes(bytes(5000))
        (path / "shards" / "empty").mkdir()
        backdate(path)
    newest_before = tree_snapshot(models / pattern.format(30))
    plan = survey_of(models, dir_fd, layout_for(preset), keep=1)
    outcome = Deleter().apply(plan, LocalStore(dir_fd))
    assert [(r.decision.checkpoint.name, r.status) for r in outcome.results] == [
        (pattern.format(10), Status.DELETED),
        (pattern.format(20), Status.DELETED),
    ]
    assert os.listdir(models) == [pattern.format(30)]
    assert tree_snapshot(models / pattern.format(30)) == newest_before


@pytest.mark.root
def test_directory_deletion_failing_partway_removed_the_marker_first(
    models: Path, dir_fd: int
) -> None:
    """A deletion stopped by an undeletable file has already renamed and unmarked the tree."""
    write_hf(models, 200)
    checkpoint = write_hf(models, 100)
    blocked = checkpoint / "a_first" / "blocked.bin"  # sorts before trainer_state.json
    blocked.parent.mkdir()
    blocked.write_bytes(b"stuck")
    backdate(checkpoint)
    with immutable(blocked, models):
        plan = survey_of(models, dir_fd, HF, keep=1)
        (result,) = Deleter().apply(plan, LocalStore(dir_fd)).results
        assert result.status is Status.FAILED
        assert "stopped partway" in result.detail
        (trash,) = trash_in(models)
        assert sorted(os.listdir(models)) == sorted([trash, "checkpoint-200"])
        assert (models / trash / "a_first" / "blocked.bin").read_bytes() == b"stuck"
        assert not (models / trash / "trainer_state.json").exists()
        # What is left is no checkpoint: a rescan sees only checkpoint-200, and keeps it.
        rescan = scan(dir_fd, str(models), HF)
        assert [c.name for c in rescan.checkpoints] == ["checkpoint-200"]


@pytest.mark.root
def test_group_deletion_failing_partway_removed_the_index_first(models: Path, dir_fd: int) -> None:
    """A group whose shard cannot be unlinked has lost its .index: it rescans as corrupt."""
    write_group(models, 1)
    write_group(models, 2)
    shard = models / "ckpt-1.data-00000-of-00002"
    with immutable(shard, models):
        plan = survey_of(models, dir_fd, TF, keep=1)
        (result,) = Deleter().apply(plan, LocalStore(dir_fd)).results
        assert result.status is Status.FAILED
        assert "ckpt-1.index is already deleted" in result.detail
        assert not (models / "ckpt-1.index").exists()
        assert shard.exists()
        again = survey_of(models, dir_fd, TF, keep=1)
        assert decision_of(again, "ckpt-1") == (State.CORRUPT, Action.KEEP)


def test_a_squatted_trash_name_does_not_block_deletion(models: Path, dir_fd: int) -> None:
    """The trash name is unpredictable: a squatter on `<prefix><inode>` blocks nothing."""
    write_hf(models, 200)
    checkpoint = write_hf(models, 100)
    plan = survey_of(models, dir_fd, HF, keep=1)
    squatter = models / f"{TRASH_PREFIX}{checkpoint.stat().st_ino}"
    squatter.mkdir()
    (squatter / "mine").write_bytes(b"someone else's")
    (result,) = Deleter().apply(plan, LocalStore(dir_fd)).results
    assert result.status is Status.DELETED, result.detail
    assert not checkpoint.exists()
    assert (squatter / "mine").read_bytes() == b"someone else's"


def _mount_points_under(base: Path) -> list[str]:
    with open("/proc/self/mountinfo") as info:
        points = [line.split()[4] for line in info]
    decoded = [p.encode().decode("unicode_escape") for p in points]
    return [p for p in decoded if p.startswith(f"{base}/")]


@contextlib.contextmanager
def mounted(how: str, where: Path, source: Path, base: Path) -> Iterator[None]:
    """A tmpfs, or a bind mount of `source`, on `where`; everything under `base` unmounted after."""
    if os.geteuid() != 0:
        pytest.skip(f"mounting needs root (running as uid {os.geteuid()})")
    if shutil.which("mount") is None:
        pytest.skip("no mount(8) on this machine")
    if how == "tmpfs":
        args = ["-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs"]
    else:
        args = ["--bind", str(source)]
    done = subprocess.run(["mount", *args, str(where)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount ({how}) here: {done.stderr.strip()}")
    try:
        yield
    finally:
        for point in sorted(_mount_points_under(base), key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)
        assert _mount_points_under(base) == []


@pytest.mark.root
@pytest.mark.parametrize(
    "how",
    ["tmpfs", "bind"],
)
def test_checkpoint_holding_a_mount_point_is_never_touched(
    tmp_path: Path, models: Path, outside: Path, how: str
) -> None:
    """A checkpoint with a mount point inside is ignored, even under pressure; the mount intact."""
    write_hf(models, 200)
    checkpoint = write_hf(models, 100)
    inner = checkpoint / "rng"
    with mounted(how, inner, outside, tmp_path):
        if how == "tmpfs":
            (inner / "victim.bin").write_bytes(VICTIM)
        mounted_before = tree_snapshot(inner)
        outside_before = tree_snapshot(outside)
        with directory_fd(models) as fd:
            plan = survey_of(models, fd, HF, keep=1, min_free=PRESSURE)
            outcome = Deleter().apply(plan, LocalStore(fd))
        assert tree_snapshot(outside) == outside_before
        assert tree_snapshot(inner) == mounted_before
        assert decision_of(plan, "checkpoint-100") == (State.IGNORED, Action.KEEP)
        assert "checkpoint-100" not in {r.decision.checkpoint.name for r in outcome.results}
        assert sorted(os.listdir(models)) == ["checkpoint-100", "checkpoint-200"]


@pytest.mark.root
@pytest.mark.parametrize("how", ["tmpfs", "bind"])
def test_mount_appearing_after_planning_stops_the_deletion(
    tmp_path: Path, models: Path, dir_fd: int, outside: Path, how: str
) -> None:
    """A mount made inside a planned checkpoint before applying: SKIPPED, nothing touched."""
    write_hf(models, 200)
    checkpoint = write_hf(models, 100)
    plan = survey_of(models, dir_fd, HF, keep=1)
    assert decision_of(plan, "checkpoint-100") == (State.COMPLETE, Action.DELETE)
    inner = checkpoint / "rng"
    before = tree_snapshot(inner)
    outside_before = tree_snapshot(outside)
    with mounted(how, inner, outside, tmp_path):
        if how == "tmpfs":
            (inner / "victim.bin").write_bytes(VICTIM)
        mounted_tree = tree_snapshot(checkpoint)
        (result,) = Deleter().apply(plan, LocalStore(dir_fd)).results
        assert result.status is Status.SKIPPED
        assert "not touched" in result.detail
        assert tree_snapshot(checkpoint) == mounted_tree
    assert tree_snapshot(inner) == before  # what the mount covered is intact too
    assert tree_snapshot(outside) == outside_before


@pytest.mark.root
@pytest.mark.parametrize("when", ["before-listing", "after-listing"])
def test_deleting_walk_never_enters_a_bind_mount(
    tmp_path: Path, models: Path, dir_fd: int, outside: Path, when: str
) -> None:
    """The deleting walk stops at a bind mount made after the tree was measured.

    Before its directory is listed, the mount keeps the device number and shows the
    same inode when opened: only the mount id of the opened descriptor tells. After it
    was listed, the opened directory is another inode than the one listed.
    """
    checkpoint = write_hf(models, 100)
    inner = checkpoint / "rng"
    outside_before = tree_snapshot(outside)
    bind = mounted("bind", inner, outside, tmp_path)
    if when == "before-listing":
        bind.__enter__()

    def unlink_files(parent: int, name: str, st: os.stat_result) -> None:
        if name == "rng" and when == "after-listing":
            bind.__enter__()  # listed already; only now does it become a bind mount
        elif not stat.S_ISDIR(st.st_mode):
            os.unlink(name, dir_fd=parent)  # as the Deleter does

    top = os.open(checkpoint, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(Unwalkable, match=r"mount point|changed during the walk"):
            walk(top, dir_fd, unlink_files, first=["rng"])
    finally:
        os.close(top)
        bind.__exit__(None, None, None)
    assert tree_snapshot(outside) == outside_before


@pytest.mark.root
def test_mount_id_tells_mounts_apart(tmp_path: Path) -> None:
    """Two directories of one filesystem share a mount id; a bind mount of one does not."""
    source, target = tmp_path / "source", tmp_path / "target"
    source.mkdir()
    target.mkdir()
    with mounted("bind", target, source, tmp_path):
        fds = [os.open(p, os.O_RDONLY | os.O_DIRECTORY) for p in (tmp_path, source, target)]
        try:
            ids = [mount_id(fd) for fd in fds]
            stats = [os.fstat(fd) for fd in fds]
        finally:
            for fd in fds:
                os.close(fd)
    assert ids[0] == ids[1] != ids[2]
    assert stats[1].st_dev == stats[2].st_dev  # what a device comparison alone would miss


# --- 3. a symlink named like a directory checkpoint ------------------------------------


def test_symlink_in_place_of_a_directory_checkpoint_is_never_followed(
    tmp_path: Path, models: Path, dir_fd: int
) -> None:
    """`checkpoint-50` and `checkpoint-900` -> real checkpoints outside: ignored, targets intact."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = write_hf(elsewhere, 50)
    write_hf(models, 100)
    write_hf(models, 200)
    (models / "checkpoint-50").symlink_to(target, target_is_directory=True)
    (models / "checkpoint-900").symlink_to(target, target_is_directory=True)
    before = tree_snapshot(elsewhere)
    plan = survey_of(models, dir_fd, HF, keep=1, min_free=PRESSURE)
    by_name = {d.checkpoint.name: d for d in plan.decisions}
    for name in ("checkpoint-50", "checkpoint-900"):
        assert (by_name[name].state, by_name[name].action) == (State.IGNORED, Action.KEEP)
        assert by_name[name].checkpoint.kind is Kind.SYMLINK
        assert by_name[name].checkpoint.freeable == 0
    assert decision_of(plan, "checkpoint-200") == (State.COMPLETE, Action.KEEP)
    assert decision_of(plan, "checkpoint-100") == (State.COMPLETE, Action.DELETE)
    outcome = Deleter().apply(plan, LocalStore(dir_fd))
    assert [(r.decision.checkpoint.name, r.status) for r in outcome.results] == [
        ("checkpoint-100", Status.DELETED)
    ]
    assert sorted(os.listdir(models)) == ["checkpoint-200", "checkpoint-50", "checkpoint-900"]
    assert os.readlink(models / "checkpoint-50") == str(target)
    assert tree_snapshot(elsewhere) == before


# --- 4. groups of files (TensorFlow) ---------------------------------------------------


def names_in(models: Path) -> list[str]:
    return sorted(os.listdir(models))


def test_old_complete_group_is_deleted_with_all_its_files(models: Path, dir_fd: int) -> None:
    """keep=1 over three complete groups: the two older lose every file, index and shards."""
    for step in (1, 2, 3):
        write_group(models, step, shards=3 if step == 2 else 2)
    kept_before = {p.name: tree_snapshot(p) for p in models.glob("ckpt-3.*")}
    plan = survey_of(models, dir_fd, TF, keep=1)
    outcome = Deleter().apply(plan, LocalStore(dir_fd))
    assert {r.decision.checkpoint.name: r.status for r in outcome.results} == {
        "ckpt-1": Status.DELETED,
        "ckpt-2": Status.DELETED,
    }
    assert names_in(models) == sorted(kept_before)
    assert {p.name: tree_snapshot(p) for p in models.glob("ckpt-3.*")} == kept_before


def _append_to_shard(models: Path, outside: Path) -> None:
    with (models / "ckpt-1.data-00001-of-00002").open("ab") as handle:
        handle.write(b"more")


def _shard_to_symlink(models: Path, outside: Path) -> None:
    shard = models / "ckpt-1.data-00001-of-00002"
    shard.unlink()
    shard.symlink_to(outside / "victim.bin")


def _shard_removed(models: Path, outside: Path) -> None:
    (models / "ckpt-1.data-00000-of-00002").unlink()


def _index_rewritten(models: Path, outside: Path) -> None:
    index = models / "ckpt-1.index"
    fresh = models / "fresh.tmp"
    fresh.write_bytes(tf_index())
    os.utime(fresh, ns=(index.stat().st_atime_ns, index.stat().st_mtime_ns))
    fresh.replace(index)  # same size and mtime, another inode


@pytest.mark.parametrize(
    "change",
    [_append_to_shard, _shard_to_symlink, _shard_removed, _index_rewritten],
    ids=["shard-appended", "shard-now-symlink", "shard-removed", "index-new-inode"],
)
def test_group_changed_after_planning_is_skipped_with_every_file_intact(
    models: Path, dir_fd: int, outside: Path, change: Callable[[Path, Path], None]
) -> None:
    """A planned group with any part changed before applying is SKIPPED; no file of it goes."""
    write_group(models, 1)
    write_group(models, 2)
    outside_before = tree_snapshot(outside)
    plan = survey_of(models, dir_fd, TF, keep=1)
    assert decision_of(plan, "ckpt-1") == (State.COMPLETE, Action.DELETE)
    change(models, outside)
    before = tree_snapshot(models)
    (result,) = Deleter().apply(plan, LocalStore(dir_fd)).results
    assert result.status is Status.SKIPPED
    assert "not touched" in result.detail
    assert tree_snapshot(models) == before
    assert tree_snapshot(outside) == outside_before


def test_group_gaining_a_file_after_planning_is_skipped(models: Path, dir_fd: int) -> None:
    """A group that gained a shard between planning and applying is SKIPPED, all files kept."""
    write_group(models, 1, shards=1)
    write_group(models, 2)
    plan = survey_of(models, dir_fd, TF, keep=1)
    (models / "ckpt-1.data-00000-of-00002").write_bytes(b"a new save under the same stem")
    before = tree_snapshot(models)
    (result,) = Deleter().apply(plan, LocalStore(dir_fd)).results
    assert tree_snapshot(models) == before
    assert result.status is Status.SKIPPED


def test_group_with_a_symlinked_shard_is_ignored_and_not_followed(
    models: Path, dir_fd: int, outside: Path
) -> None:
    """A group one of whose shards is a symlink at planning is IGNORED, even under pressure."""
    write_group(models, 1)
    write_group(models, 2)
    write_group(models, 3)
    shard = models / "ckpt-1.data-00000-of-00002"
    shard.unlink()
    shard.symlink_to(outside / "victim.bin")
    outside_before = tree_snapshot(outside)
    plan = survey_of(models, dir_fd, TF, keep=1, min_free=PRESSURE)
    assert decision_of(plan, "ckpt-1") == (State.IGNORED, Action.KEEP)
    Deleter().apply(plan, LocalStore(dir_fd))
    assert names_in(models) == sorted(
        ["ckpt-1.data-00000-of-00002", "ckpt-1.data-00001-of-00002", "ckpt-1.index"]
        + [p.name for p in models.glob("ckpt-3.*")]
    )
    assert tree_snapshot(outside) == outside_before


def test_incomplete_group_is_corrupt_and_deleted_only_under_pressure(
    models: Path, dir_fd: int
) -> None:
    """Old shards without an index are corrupt: kept at ease, all deleted when space is short."""
    write_group(models, 1, index=False)
    write_group(models, 2)
    write_group(models, 3)
    at_ease = survey_of(models, dir_fd, TF, keep=5)
    assert decision_of(at_ease, "ckpt-1") == (State.CORRUPT, Action.KEEP)
    assert at_ease.deletions == ()
    assert Deleter().apply(at_ease, LocalStore(dir_fd)).results == ()
    pressed = survey_of(models, dir_fd, TF, keep=5, min_free=PRESSURE)
    assert decision_of(pressed, "ckpt-1") == (State.CORRUPT, Action.DELETE)
    (reclaim,) = [d for d in pressed.deletions if d.checkpoint.name == "ckpt-1"]
    assert ReasonCode.CORRUPT_RECLAIM in {r.code for r in reclaim.reasons}
    outcome = Deleter().apply(pressed, LocalStore(dir_fd))
    assert result_of(outcome.results, "ckpt-1").status is Status.DELETED
    assert not any(n.startswith("ckpt-1.") for n in names_in(models))
    assert any(n.startswith("ckpt-3.") for n in names_in(models))


def test_incomplete_group_still_settling_survives_pressure(models: Path, dir_fd: int) -> None:
    """Fresh shards without an index are a save in progress: never deleted, even when short."""
    write_group(models, 1)
    write_group(models, 2, index=False, when=time.time())
    plan = survey_of(models, dir_fd, TF, keep=1, min_free=PRESSURE, settle_seconds=600.0)
    assert decision_of(plan, "ckpt-2") == (State.IN_PROGRESS, Action.KEEP)
    Deleter().apply(plan, LocalStore(dir_fd))
    assert (models / "ckpt-2.data-00000-of-00002").exists()
    assert (models / "ckpt-2.data-00001-of-00002").exists()


def test_tf_pointer_file_keeps_its_group_and_is_never_touched(models: Path, dir_fd: int) -> None:
    """`checkpoint` naming ckpt-1 keeps ckpt-1 under keep=1 and pressure; the file is untouched."""
    for step in (1, 2, 3):
        write_group(models, step)
    pointer = models / "checkpoint"
    pointer.write_text('model_checkpoint_path: "ckpt-1"\nall_model_checkpoint_paths: "ckpt-1"\n')
    os.utime(pointer, (OLD, OLD))
    pointer_before = tree_snapshot(pointer)
    kept_before = {p.name: tree_snapshot(p) for p in models.glob("ckpt-1.*")}
    plan = survey_of(models, dir_fd, TF, keep=1, min_free=PRESSURE)
    (named,) = [d for d in plan.decisions if d.checkpoint.name == "ckpt-1"]
    assert named.action is Action.KEEP
    assert ReasonCode.POINTER in {r.code for r in named.reasons}
    assert "checkpoint" not in {d.checkpoint.name for d in plan.decisions}
    outcome = Deleter().apply(plan, LocalStore(dir_fd))
    assert {r.decision.checkpoint.name: r.status for r in outcome.results} == {
        "ckpt-2": Status.DELETED
    }
    assert tree_snapshot(pointer) == pointer_before
    assert {p.name: tree_snapshot(p) for p in models.glob("ckpt-1.*")} == kept_before


# --- 5. a pointer (or pin) written between planning and applying ------------------------


def _latest_text(models: Path) -> None:
    (models / "latest").write_text("checkpoint-100")


def _latest_path(models: Path) -> None:
    (models / "latest").write_text(f"{models}/checkpoint-100/\n")


def _latest_symlink(models: Path) -> None:
    (models / "latest").symlink_to("checkpoint-100")


def _megatron_iteration(models: Path) -> None:
    (models / "latest_checkpointed_iteration.txt").write_text("100\n")


def _pin(models: Path) -> None:
    (models / "checkpoint-100.keep").touch()


@pytest.mark.parametrize(
    "protect",
    [_latest_text, _latest_path, _latest_symlink, _megatron_iteration, _pin],
    ids=["latest-name", "latest-path", "latest-symlink", "megatron-step", "pin"],
)
def test_protection_written_after_planning_saves_the_directory(
    models: Path, dir_fd: int, protect: Callable[[Path], None]
) -> None:
    """Plan deletes checkpoint-100; a pointer or pin naming it appears; apply: SKIPPED, intact."""
    write_hf(models, 100)
    write_hf(models, 200)
    plan = survey_of(models, dir_fd, HF, keep=1)
    assert decision_of(plan, "checkpoint-100") == (State.COMPLETE, Action.DELETE)
    before = tree_snapshot(models / "checkpoint-100")
    protect(models)
    (result,) = Deleter().apply(plan, LocalStore(dir_fd)).results
    assert result.status is Status.SKIPPED
    assert "since planned" in result.detail
    assert tree_snapshot(models / "checkpoint-100") == before
    assert trash_in(models) == []


def test_tf_pointer_written_after_planning_saves_the_group(models: Path, dir_fd: int) -> None:
    """Plan deletes ckpt-1; `checkpoint` then names it; apply: SKIPPED, every file intact."""
    write_group(models, 1)
    write_group(models, 2)
    plan = survey_of(models, dir_fd, TF, keep=1)
    assert decision_of(plan, "ckpt-1") == (State.COMPLETE, Action.DELETE)
    (models / "checkpoint").write_text('model_checkpoint_path: "ckpt-1"\n')
    before = tree_snapshot(models)
    (result,) = Deleter().apply(plan, LocalStore(dir_fd)).results
    assert result.status is Status.SKIPPED
    assert "named by checkpoint" in result.detail
    assert tree_snapshot(models) == before


# --- 6. hard-to-delete trees -----------------------------------------------------------


def _chain(top: Path, levels: int, name: str = "n") -> None:
    """`levels` directories nested inside one another below `top`, through directory fds."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(levels):
            os.mkdir(name, dir_fd=fd)
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
        leaf = os.open("leaf.bin", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(leaf, b"bottom")
        os.close(leaf)
    finally:
        os.close(fd)


def test_tree_nested_deeper_than_max_depth_is_ignored_never_deleted(
    models: Path, dir_fd: int
) -> None:
    """A checkpoint nested MAX_DEPTH + 1 levels deep is IGNORED and kept, even under pressure."""
    write_hf(models, 200)
    deep = write_hf(models, 100)
    _chain(deep, MAX_DEPTH + 1)
    backdate(deep)
    before = tree_snapshot(deep)
    plan = survey_of(models, dir_fd, HF, keep=1, min_free=PRESSURE)
    (decision,) = [d for d in plan.decisions if d.checkpoint.name == "checkpoint-100"]
    assert (decision.state, decision.action) == (State.IGNORED, Action.KEEP)
    assert decision.checkpoint.integrity is Integrity.UNREADABLE
    Deleter().apply(plan, LocalStore(dir_fd))
    assert tree_snapshot(deep) == before


def test_tree_just_within_max_depth_is_deleted_whole(models: Path, dir_fd: int) -> None:
    """At the deepest nesting the scan accepts, the Deleter also empties it completely."""
    write_hf(models, 200)
    deep = write_hf(models, 100)
    _chain(deep, MAX_DEPTH - 1)
    backdate(deep)
    plan = survey_of(models, dir_fd, HF, keep=1)
    assert decision_of(plan, "checkpoint-100") == (State.COMPLETE, Action.DELETE)
    (result,) = Deleter().apply(plan, LocalStore(dir_fd)).results
    assert result.status is Status.DELETED, result.detail
    assert names_in(models) == ["checkpoint-200"]


def test_awkward_names_and_paths_beyond_path_max_are_deleted_whole(
    models: Path, dir_fd: int
) -> None:
    """Non-UTF-8 and newline names, a FIFO, and a path longer than PATH_MAX all go whole."""
    odd = write_hf(models, 100)
    fd = os.open(odd, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for raw in (b"\xff\xfe-not-utf8.bin", b"new\nline.bin", b"x" * 255):
            made = os.open(raw, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
            os.write(made, b"odd")
            os.close(made)
    finally:
        os.close(fd)
    os.mkfifo(odd / "pipe")
    _chain(odd, 20, name="y" * 250)  # about 5,000 bytes of path: unreachable by name
    backdate(write_hf(models, 200), time.time() + 1)  # written last, as a run goes on
    plan = survey_of(models, dir_fd, HF, keep=1)
    assert decision_of(plan, "checkpoint-100") == (State.COMPLETE, Action.DELETE)
    (result,) = Deleter().apply(plan, LocalStore(dir_fd)).results
    assert result.status is Status.DELETED, result.detail
    assert names_in(models) == ["checkpoint-200"]


@contextlib.contextmanager
def fd_limit(soft: int) -> Iterator[None]:
    """This process may hold at most `soft` file descriptors (as under a systemd default)."""
    old_soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (old_soft, hard))


def test_checkpoint_wider_than_the_fd_limit_is_scanned_and_deleted(
    models: Path, dir_fd: int
) -> None:
    """A checkpoint with more subdirectories than open fds allowed is still deleted whole."""
    write_hf(models, 200)
    wide = write_hf(models, 100)
    highest = max(int(n) for n in os.listdir("/proc/self/fd"))
    limit = highest + 128
    for i in range(limit + 16):  # e.g. one directory per parameter array
        (wide / f"param_{i}").mkdir()
    backdate(wide)
    with fd_limit(limit):
        plan = survey_of(models, dir_fd, HF, keep=1)
        (result,) = Deleter().apply(plan, LocalStore(dir_fd)).results
    assert result.status is Status.DELETED, result.detail
    assert names_in(models) == ["checkpoint-200"]


def test_entries_removed_by_someone_else_during_deletion_are_passed_over(
    models: Path, dir_fd: int
) -> None:
    """Another remover (the trainer's own rotation, say) racing the deleting walk: no failure."""
    from ckptguard.store.local.deleter import _remove_directory, _unlink_unless_directory

    checkpoint = write_hf(models, 100)
    (checkpoint / "z_dir").mkdir()
    (checkpoint / "z_dir" / "f").write_bytes(b"x")
    (checkpoint / "y_file").write_bytes(b"y")
    top = os.open(checkpoint, os.O_RDONLY | os.O_DIRECTORY)

    def unlink_and_race(parent: int, name: str, st: os.stat_result) -> None:
        if name == "model.safetensors":  # listed; the other remover gets there first
            shutil.rmtree(checkpoint / "z_dir")
            (checkpoint / "y_file").unlink()
        _unlink_unless_directory(parent, name, st)

    try:
        walk(top, dir_fd, unlink_and_race, _remove_directory, vanished_ok=True)
    finally:
        os.close(top)
    assert os.listdir(checkpoint) == []

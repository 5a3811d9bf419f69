"""Checkpoint layouts of the major frameworks: which entries make one checkpoint.

A layout (chosen with `--preset`) says what one checkpoint is on disk (a file, a
directory, or a group of files sharing a stem), how its completeness is shown, and its
default name template. Everything here is about names; reading files is the shell's.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from ckptguard.core.model import Unit
from ckptguard.core.naming import Template


class Content(enum.Enum):
    """How a checkpoint shows that it is complete."""

    NONE = "none"  # no check: complete once unmodified for the settle window
    KERAS_ZIP = "keras_zip"  # a zip holding config.json and metadata.json
    TORCH = "torch"  # a zip holding data.pkl, as torch.save writes by default
    HDF5 = "hdf5"  # the HDF5 signature and a superblock whose end fits the file
    TF_GROUP = "tf_group"  # a readable `.index` table and every `data-i-of-n` shard
    MARKER = "marker"  # a directory holding its layout's marker file
    IN_PLACE = "in_place"  # a non-empty directory under its final name
    MEGATRON = "megatron"  # torch_dist's metadata.json and .metadata, or mp_rank_* dirs


@dataclass(frozen=True)
class Layout:
    preset: str
    template: Template
    unit: Unit
    content: Content
    # A directory checkpoint is complete when it holds one of these regular files.
    markers: tuple[str, ...] = ()
    # The pointer file the framework writes last, after a save is complete: a checkpoint
    # modified after it was written is not declared complete yet (see `declared`).
    declared_by: str | None = None

    def key_of(self, entry: str) -> str | None:
        """The checkpoint an entry of the guarded directory belongs to, or None."""
        if self.unit is Unit.GROUP:
            stem = group_stem(entry)
            if stem is None:
                return None
            entry = stem
        return entry if self.template.step_of(entry) is not None else None

    @property
    def metrics_inside(self) -> bool:
        """Whether checkpoints carry their own metrics (Hugging Face's trainer_state.json)."""
        return TRAINER_STATE in self.markers


# TensorFlow writes `<stem>.index` last, after every `<stem>.data-<i>-of-<n>` shard;
# TF1's Saver adds the graph as `<stem>.meta`.
_TF_PART = re.compile(r"(?P<stem>.+)\.(?P<part>index|meta|data-(?P<i>[0-9]{5})-of-(?P<n>[0-9]{5}))")


def group_stem(entry: str) -> str | None:
    """The stem a `<stem>.index` or `<stem>.data-i-of-n` entry belongs to, else None."""
    found = _TF_PART.fullmatch(entry)
    return None if found is None else found.group("stem")


def tf_shard(entry: str) -> tuple[int, int] | None:
    """(i, n) for a `*.data-0000i-of-0000n` entry, else None."""
    found = _TF_PART.fullmatch(entry)
    if found is None or found.group("i") is None:
        return None
    return int(found.group("i")), int(found.group("n"))


# Files frameworks keep to name their latest checkpoint. They are never counted or
# deleted, and neither is the checkpoint they name.
POINTER_FILES = (
    "latest",  # DeepSpeed: the tag (directory name) of the latest checkpoint
    "checkpoint",  # TensorFlow: `model_checkpoint_path: "ckpt-7"`
    "last.ckpt",  # Lightning: a copy, or with save_last="link" a symlink
    "latest_checkpointed_iteration.txt",  # Megatron-LM: the iteration number
)

DEFAULT_PRESET = "keras"
TRAINER_STATE = "trainer_state.json"  # Hugging Face: written last, holds the metrics
DCP_METADATA = ".metadata"  # torch.distributed.checkpoint: renamed into place last
DEEPSPEED_STATES = "mp_rank_00_model_states.pt"  # DeepSpeed: rank 0's module states
MEGATRON_CONFIG = "metadata.json"  # Megatron's dist_checkpointing: written after the shards
DEEPSPEED_LATEST = "latest"
MEGATRON_TRACKER = "latest_checkpointed_iteration.txt"

_DEFAULTS: dict[str, tuple[str, Unit, Content, tuple[str, ...]]] = {
    "keras": ("checkpoint_step_{step}.keras", Unit.FILE, Content.KERAS_ZIP, ()),
    "torch": ("checkpoint_{step}.pt", Unit.FILE, Content.TORCH, ()),
    "lightning": ("epoch={epoch}-step={step}.ckpt", Unit.FILE, Content.TORCH, ()),
    "hf": ("checkpoint-{step}", Unit.DIRECTORY, Content.MARKER, (TRAINER_STATE,)),
    "tf": ("ckpt-{step}", Unit.GROUP, Content.TF_GROUP, ()),
    "orbax": ("{step}", Unit.DIRECTORY, Content.IN_PLACE, ("commit_success.txt",)),
    "dcp": ("step-{step}", Unit.DIRECTORY, Content.MARKER, (DCP_METADATA,)),
    "deepspeed": ("global_step{step}", Unit.DIRECTORY, Content.MARKER, (DEEPSPEED_STATES,)),
    "megatron": (
        "iter_{step}",
        Unit.DIRECTORY,
        Content.MEGATRON,
        (MEGATRON_CONFIG, DCP_METADATA),
    ),
}
# The presets whose framework names its newest complete checkpoint in a file written last.
_DECLARED_BY = {"deepspeed": DEEPSPEED_LATEST, "megatron": MEGATRON_TRACKER}
PRESETS = tuple(_DEFAULTS)
# Every layout's completeness markers: deleted first wherever they appear in a tree.
MARKERS = frozenset(m for *_, markers in _DEFAULTS.values() for m in markers)


def default_pattern(preset: str) -> str:
    return _DEFAULTS[preset][0]


def layout_for(preset: str, template: Template | None = None) -> Layout:
    """The layout of `preset`, with its default name template unless one is given."""
    pattern, unit, content, markers = _DEFAULTS[preset]
    template = template or Template.parse(pattern)
    if preset == "keras":
        content = _keras_content(template.text)
    return Layout(preset, template, unit, content, markers, _DECLARED_BY.get(preset))


def _keras_content(pattern: str) -> Content:
    """Keras saves whole models as `.keras` zips and weights as `.weights.h5` (HDF5)."""
    if pattern.endswith(".keras"):
        return Content.KERAS_ZIP
    if pattern.endswith(".h5"):
        return Content.HDF5
    return Content.NONE

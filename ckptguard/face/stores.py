"""Options that depend on where checkpoints live: an object store's (no free space, a
trash, its own lease object) and a shared directory's lease directory.

`settings` merges the layers; this module says which options a kind of store takes, and
refuses, in one line naming the option as the user gave it, those it cannot honour.
"""

from __future__ import annotations

import os
from typing import Any

from ckptguard.core.units import parse_duration
from ckptguard.face.config import ConfigError, PolicyOptions
from ckptguard.face.spelling import Spelling
from ckptguard.store.remote.location import RemoteError, is_remote
from ckptguard.store.remote.location import parse as parse_url

# An option's layers, lowest first: where each was given ("file" or "flag"), and what.
Layers = list[tuple[str, PolicyOptions]]
Given = dict[str, tuple[str, str]]


def for_store(
    path: str, merged: dict[str, Any], given: Given, layers: Layers
) -> tuple[dict[str, Any], Given]:
    """The merged options as the store at `path` takes them. The file's top level holds
    defaults for both kinds: its `min_free` applies to directories only, its `trash_for`
    to object stores only; set for one directory (or by a flag), neither is ignored."""
    if is_remote(path):
        return remote_options(path, merged, given, layers)
    if any(layer.trash_for is not None for _, layer in layers[1:]):
        raise ConfigError([f"{Spelling(given).name('trash_for')}: only for object storage"])
    merged = {k: v for k, v in merged.items() if k != "trash_for"}
    return merged, {k: v for k, v in given.items() if k != "trash_for"}


def remote_options(
    url: str, merged: dict[str, Any], given: Given, layers: Layers
) -> tuple[dict[str, Any], Given]:
    """An object store has no free space: `min_free` set for it is refused; one from the
    file's top level (a default for local directories) does not apply."""
    try:
        parse_url(url)
    except RemoteError as error:
        raise ConfigError([str(error)]) from None
    own = [layer for where, layer in layers[1:] if layer.min_free is not None]
    if own:
        spelling = Spelling(given)
        raise ConfigError(
            [
                f"{spelling.option('min_free', merged['min_free'])}: object storage has no free "
                "space to keep; use keep rules or a size budget (--keep, --keep-every, "
                "--keep-best, --max-size)"
            ]
        )
    merged = {**merged, "min_free": "0"}
    given = {k: v for k, v in given.items() if k != "min_free"}
    return merged, given


def trash_for(merged: dict[str, Any]) -> float | None:
    """Seconds a deleted checkpoint stays in the trash (object storage), if asked for."""
    return parse_duration(merged["trash_for"]) if "trash_for" in merged else None


def lease_of(directory: str, merged: dict[str, Any], given: Given, layers: Layers) -> str | None:
    """A shared directory's lease directory: absolute, and outside the guarded one. The
    file's top-level `lease` is a default for directories; a bucket has its own lease."""
    if merged.get("lease") is None:
        return None
    lease = str(merged["lease"])
    option = Spelling(given).option("lease", lease)
    if is_remote(directory):
        if any(layer.lease is not None for _, layer in layers[1:]):
            raise ConfigError([f"{option}: a bucket prefix holds its own lease object"])
        return None
    lease = os.path.abspath(lease)
    guarded = os.path.realpath(directory)
    if os.path.commonpath([os.path.realpath(lease), guarded]) == guarded:
        raise ConfigError([f"{option}: inside the guarded directory {directory}"])
    return lease

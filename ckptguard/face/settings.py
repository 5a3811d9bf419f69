"""From checked options to `Settings`: layers merged, policies resolved, where each was set.

Precedence, lowest first: built-in defaults, the file's top-level keys, the file's
`[[directory]]` entry, command-line flags. Each option remembers the layer it came from,
so that every message names it as the user wrote it (a flag or a config key).
"""

from __future__ import annotations

import os
from typing import Any

from ckptguard.core.layouts import DEFAULT_PRESET, Layout, default_pattern, layout_for
from ckptguard.core.model import Policy
from ckptguard.core.naming import Template
from ckptguard.core.units import parse_min_free
from ckptguard.face.config import (
    ConfigError,
    DaemonOptions,
    DirectoryOptions,
    FileOptions,
    PolicyOptions,
)
from ckptguard.face.durations import parse_duration
from ckptguard.face.words import FROM_FILE, Spelling
from ckptguard.service.settings import GuardSpec, Settings
from ckptguard.service.state import default_state_dir
from ckptguard.store.remote.location import RemoteError, is_remote, redacted
from ckptguard.store.remote.location import parse as parse_url

FROM_FLAG = "flag"
# An option's layers, lowest first: where each was given ("file" or "flag"), and what.
Layers = list[tuple[str, PolicyOptions]]


def build_settings(
    *,
    file: FileOptions | None,
    flag_policy: PolicyOptions,
    flag_daemon: DaemonOptions,
    flag_dirs: list[str],
) -> Settings:
    """Merge file and flags into `Settings`; flags win over the file everywhere.

    With `--dir`, exactly those directories are guarded; without, the file's entries.
    """
    file = file or FileOptions()
    guards = _guards(_entries(file, flag_policy, flag_dirs))

    def pick(key: str, default: Any) -> Any:
        for layer in (flag_daemon, file):
            value = getattr(layer, key)
            if value is not None:
                return value
        return default

    state_dir = os.path.abspath(pick("state_dir", None) or default_state_dir())
    _check_state_dir(state_dir, guards)
    alive_file = pick("alive_file", None)
    if alive_file is not None:
        alive_file = os.path.abspath(alive_file)
        _check_outside(alive_file, "alive_file", guards)
    return Settings(
        guards=tuple(guards),
        rescan_interval=pick("rescan_interval", 60.0),
        free_check_interval=pick("free_check_interval", 5.0),
        log_format=pick("log_format", "auto"),
        poll=pick("poll", False),
        state_dir=state_dir,
        poll_interval=pick("poll_interval", 30.0),
        lease_time=pick("lease_time", 60.0),
        alive_file=alive_file,
    )


def _entries(
    file: FileOptions, flag_policy: PolicyOptions, flag_dirs: list[str]
) -> list[tuple[str, Layers]]:
    flags = (FROM_FLAG, flag_policy)
    if flag_dirs:
        # --dir selects directories; a config entry for the same directory lends its policy.
        by_real = {_place(entry.path): entry for entry in file.directory}
        return [(path, [(FROM_FILE, file), *_matching(by_real, path), flags]) for path in flag_dirs]
    entries = [
        (entry.path, [(FROM_FILE, file), (FROM_FILE, entry), flags]) for entry in file.directory
    ]
    if not entries:
        raise ConfigError(["no directory to guard: give --dir DIR or [[directory]] in the config"])
    return entries


def _guards(entries: list[tuple[str, Layers]]) -> list[GuardSpec]:
    problems: list[str] = []
    guards: list[GuardSpec] = []
    seen: dict[str, str] = {}
    for path, layers in entries:
        if not path:
            # os.path.abspath("") is the working directory: `--dir "$UNSET"` must not prune it.
            problems.append("--dir '': empty path")
            continue
        absolute = path.rstrip("/") if is_remote(path) else os.path.abspath(path)
        real = _place(absolute)
        if real in seen:
            problems.append(f"--dir {path}: guarded twice (also as {seen[real]})")
            continue
        seen[real] = path
        try:
            guards.append(_guard(absolute, layers))
        except ConfigError as error:
            problems.extend(f"{redacted(path)}: {p}" for p in error.problems)
    if problems:
        raise ConfigError(problems)
    return guards


def _guard(absolute: str, layers: Layers) -> GuardSpec:
    merged, given = _merge(layers)
    remote = is_remote(absolute)
    if remote:
        merged, given = remote_options(absolute, merged, given, layers)
    elif any(layer.trash_for is not None for _, layer in layers[1:]):
        raise ConfigError([f"{Spelling(given).name('trash_for')}: only for object storage"])
    else:
        merged.pop("trash_for", None)  # the file's top level: for object storage only
    layout, policy, metrics_file = _resolve_policy(merged, Spelling(given))
    if metrics_file is not None:
        # A remote directory's metrics file is a local one: relative to where we run.
        base = os.getcwd() if remote else absolute
        metrics_file = os.path.join(base, metrics_file)
    spelled = tuple((option, *where_text) for option, where_text in sorted(given.items()))
    trash_for = parse_duration(merged["trash_for"]) if "trash_for" in merged else None
    lease = _lease(absolute, merged.get("lease"), Spelling(given), layers)
    return GuardSpec(absolute, layout, policy, metrics_file, spelled, trash_for, lease)


def _lease(directory: str, lease: str | None, spelling: Spelling, layers: Layers) -> str | None:
    """A shared directory's lease directory: absolute, and outside the guarded one. The
    file's top-level `lease` is a default for directories; a bucket has its own lease."""
    if lease is None:
        return None
    option = spelling.option("lease", lease)
    if is_remote(directory):
        if any(layer.lease is not None for _, layer in layers[1:]):
            raise ConfigError([f"{option}: a bucket prefix holds its own lease object"])
        return None
    lease = os.path.abspath(lease)
    guarded = os.path.realpath(directory)
    if os.path.commonpath([os.path.realpath(lease), guarded]) == guarded:
        raise ConfigError([f"{option}: inside the guarded directory {directory}"])
    return lease


def remote_options(
    url: str, merged: dict[str, Any], given: dict[str, tuple[str, str]], layers: Layers
) -> tuple[dict[str, Any], dict[str, tuple[str, str]]]:
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
                "space to keep; use keep rules (--keep, --keep-every, --keep-best)"
            ]
        )
    merged = {**merged, "min_free": "0"}
    given = {k: v for k, v in given.items() if k != "min_free"}
    return merged, given


def _merge(layers: Layers) -> tuple[dict[str, Any], dict[str, tuple[str, str]]]:
    """Each option's value from the highest layer that gives it, and where that was."""
    merged: dict[str, Any] = {}
    given: dict[str, tuple[str, str]] = {}
    for where, layer in layers:
        for key in PolicyOptions.model_fields:
            value = getattr(layer, key)
            if value is not None:
                merged[key] = value
                given[key] = (where, str(value))
    return merged, given


def _check_state_dir(state_dir: str, guards: list[GuardSpec]) -> None:
    """The guard writes nothing into a directory it guards: its state lives elsewhere."""
    _check_outside(state_dir, "state_dir", guards)


def _check_outside(path: str, option: str, guards: list[GuardSpec]) -> None:
    real = os.path.realpath(path)
    for guard in guards:
        if is_remote(guard.path):
            continue
        guarded = os.path.realpath(guard.path)
        if os.path.commonpath([real, guarded]) == guarded:
            flag = "--" + option.replace("_", "-")
            raise ConfigError([f"{flag} {path}: inside the guarded directory {guard.path}"])


def _place(path: str) -> str:
    """What names a directory uniquely: its real path, or an object store's URL."""
    return path.rstrip("/") if is_remote(path) else os.path.realpath(path)


def _matching(by_real: dict[str, DirectoryOptions], path: str) -> list[tuple[str, PolicyOptions]]:
    entry = by_real.get(_place(path))
    return [(FROM_FILE, entry)] if entry is not None else []


def _resolve_policy(
    merged: dict[str, Any], spelling: Spelling
) -> tuple[Layout, Policy, str | None]:
    keep, min_keep = merged.get("keep", 3), merged.get("min_keep", 1)
    if min_keep > keep:
        raise ConfigError(
            [
                f"{spelling.option('min_keep', min_keep)} must not exceed "
                f"{spelling.option('keep', keep)}"
            ]
        )
    preset = merged.get("preset", DEFAULT_PRESET)
    template = Template.parse(merged.get("pattern", default_pattern(preset)))
    layout = layout_for(preset, template)
    metric, keep_best = merged.get("metric"), merged.get("keep_best", 0)
    metrics_file = merged.get("metrics_file")
    _check_metric(merged, layout, spelling)
    policy = Policy(
        keep=keep,
        min_free=parse_min_free(merged.get("min_free", "1x")),
        min_keep=min_keep,
        keep_every=merged.get("keep_every") or None,
        settle_seconds=float(merged.get("settle", 10.0)),
        keep_best=keep_best,
        metric=metric,
        metric_mode=merged.get("mode") or default_mode(metric),
    )
    return layout, policy, metrics_file


def _check_metric(merged: dict[str, Any], layout: Layout, spelling: Spelling) -> None:
    metric, keep_best = merged.get("metric"), merged.get("keep_best", 0)
    if keep_best and metric is None:
        raise ConfigError(
            [f"{spelling.option('keep_best', keep_best)} needs {spelling.name('metric')} NAME"]
        )
    # Hugging Face checkpoints carry their metrics in their own trainer_state.json.
    known = (
        metric in layout.template.fields
        or merged.get("metrics_file") is not None
        or layout.metrics_inside
    )
    if metric is not None and not known:
        raise ConfigError(
            [
                f"{spelling.option('metric', metric)}: not a field of "
                f"{spelling.name('pattern')} and no {spelling.name('metrics_file')} given"
            ]
        )


def default_mode(metric: str | None) -> str:
    """Lower is better for losses and errors; higher for anything else (accuracy, F1...)."""
    name = (metric or "").lower()
    return "min" if "loss" in name or "error" in name else "max"

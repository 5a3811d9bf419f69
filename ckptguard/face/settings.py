"""From checked options to `Settings`: layers merged, policies resolved, where each was set.

Precedence, lowest first: built-in defaults, the file's top-level keys, the file's
`[[directory]]` entry, command-line flags. Each option remembers the layer it came from,
so that every message names it as the user wrote it (a flag or a config key).
"""

from __future__ import annotations

import os
from typing import Any

from ckptguard.core.layouts import DEFAULT_PRESET, Layout, default_pattern, layout_for
from ckptguard.core.model import Policy, Tier
from ckptguard.core.naming import Template
from ckptguard.core.units import parse_duration, parse_min_free, parse_size
from ckptguard.face.config import (
    ConfigError,
    DaemonOptions,
    DirectoryOptions,
    FileOptions,
    PolicyOptions,
    TierOptions,
)
from ckptguard.face.observe_options import observe_settings
from ckptguard.face.spelling import FROM_FILE, Spelling
from ckptguard.face.stores import Layers, for_store, lease_of, trash_for
from ckptguard.service.settings import GuardSpec, Settings
from ckptguard.service.state import default_state_dir
from ckptguard.store.remote.location import is_remote, redacted

FROM_FLAG = "flag"


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
    budgets = {name: parse_size(size) for name, size in file.budgets.items()}
    guards = _guards(_entries(file, flag_policy, flag_dirs), budgets)

    def pick(key: str, default: Any) -> Any:
        for layer in (flag_daemon, file):
            value = getattr(layer, key)
            if value is not None:
                return value
        return default

    state_dir = os.path.abspath(pick("state_dir", None) or default_state_dir())
    _check_state_dir(state_dir, guards)
    alive_file = _alive_file(pick("alive_file", None), guards)
    observe = observe_settings(pick, [g.path for g in guards if not is_remote(g.path)])
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
        **observe,
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


def _guards(entries: list[tuple[str, Layers]], budgets: dict[str, int]) -> list[GuardSpec]:
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
            guards.append(_guard(absolute, layers, budgets))
        except ConfigError as error:
            problems.extend(f"{redacted(path)}: {p}" for p in error.problems)
    if problems:
        raise ConfigError(problems)
    return guards


def _guard(absolute: str, layers: Layers, budgets: dict[str, int]) -> GuardSpec:
    merged, given = for_store(absolute, *_merge(layers), layers)
    layout, policy, metrics_file = _resolve_policy(merged, Spelling(given))
    if metrics_file is not None:
        # A remote directory's metrics file is a local one: relative to where we run.
        base = os.getcwd() if is_remote(absolute) else absolute
        metrics_file = os.path.join(base, metrics_file)
    spelled = tuple((option, *where_text) for option, where_text in sorted(given.items()))
    shared = None
    if "budget" in merged:
        name = merged["budget"]
        if name not in budgets:
            raise ConfigError([f"budget = {name!r}: no such budget in [budgets]"])
        shared = (name, budgets[name])
    return GuardSpec(
        absolute,
        layout,
        policy,
        metrics_file,
        spelled,
        shared_budget=shared,
        trash_for=trash_for(merged),
        lease=lease_of(absolute, merged, given, layers),
    )


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


def _alive_file(path: str | None, guards: list[GuardSpec]) -> str | None:
    """The liveness probe's file, absolute, and outside every guarded directory."""
    if path is None:
        return None
    absolute = os.path.abspath(path)
    _check_outside(absolute, "alive_file", guards)
    return absolute


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
                f"{spelling.option('keep', keep, beside='min_keep')}"
            ]
        )
    preset = merged.get("preset", DEFAULT_PRESET)
    template = Template.parse(merged.get("pattern", default_pattern(preset)))
    layout = layout_for(preset, template)
    metric, keep_best = merged.get("metric"), merged.get("keep_best", 0)
    metrics_file = merged.get("metrics_file")
    _check_metric(merged, layout, spelling)
    keep_every, tiers = _tiers(merged.get("keep_every"))
    within = merged.get("keep_within")
    max_size = merged.get("max_size")
    policy = Policy(
        keep=keep,
        min_free=parse_min_free(merged.get("min_free", "1x")),
        min_keep=min_keep,
        keep_every=keep_every,
        settle_seconds=float(merged.get("settle", 10.0)),
        keep_best=keep_best,
        metric=metric,
        metric_mode=merged.get("mode") or default_mode(metric),
        tiers=tiers,
        keep_within=None if within is None else parse_duration(within),
        keep_hourly=merged.get("keep_hourly", 0),
        keep_daily=merged.get("keep_daily", 0),
        keep_weekly=merged.get("keep_weekly", 0),
        max_size=None if max_size is None else parse_size(max_size),
    )
    return layout, policy, metrics_file


def _tiers(value: int | list[TierOptions] | None) -> tuple[int | None, tuple[Tier, ...]]:
    """A plain number is `keep_every` as it always was; a list, step tiers (one plain
    tier is the plain number)."""
    if not isinstance(value, list):
        return value or None, ()
    tiers = tuple(Tier(t.every, t.until) for t in value)
    if len(tiers) == 1 and tiers[0].until is None:
        return tiers[0].every, ()
    return None, tiers


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

"""Configuration: a TOML file, then command-line flags, validated into frozen values.

Precedence, lowest first: built-in defaults, the file's top-level keys, the file's
`[[directory]]` entry, command-line flags. Pydantic stays in this module; the rest of
ckptguard sees only `Settings`, `GuardSpec` and `Policy`.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ckptguard.core.layouts import DEFAULT_PRESET, PRESETS, Layout, default_pattern, layout_for
from ckptguard.core.model import MinFree, Policy
from ckptguard.core.naming import Template
from ckptguard.core.units import parse_min_free
from ckptguard.service.state import default_state_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

LogFormat = Literal["auto", "json", "console"]

# The flag each config key corresponds to, for messages that name what the user typed.
FLAGS = {
    "keep": "--keep",
    "min_free": "--min-free",
    "min_keep": "--min-keep",
    "keep_every": "--keep-every",
    "pattern": "--pattern",
    "settle": "--settle",
    "rescan_interval": "--rescan-interval",
    "free_check_interval": "--free-check-interval",
    "log_format": "--log-format",
    "poll": "--poll",
    "path": "--dir",
    "keep_best": "--keep-best",
    "metric": "--metric",
    "mode": "--mode",
    "metrics_file": "--metrics-file",
    "preset": "--preset",
    "state_dir": "--state-dir",
}


class ConfigError(Exception):
    """Bad configuration: each entry of `problems` is one line naming key and value."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _no_bool(value: Any) -> Any:
    # TOML `keep = true` must not silently become keep = 1.
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    return value


class PolicyOptions(BaseModel):
    """Policy keys as written by a user; None means "not given here"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    keep: int | None = Field(default=None, ge=1)
    min_free: str | None = None
    min_keep: int | None = Field(default=None, ge=1)
    keep_every: int | None = Field(default=None, ge=0)
    pattern: str | None = None
    settle: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    keep_best: int | None = Field(default=None, ge=0)
    metric: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    mode: Literal["min", "max"] | None = None
    metrics_file: str | None = Field(default=None, min_length=1)
    preset: str | None = None

    _reject_bools = field_validator(
        "keep", "min_keep", "keep_every", "settle", "keep_best", mode="before"
    )(_no_bool)

    @field_validator("min_free")
    @classmethod
    def _check_min_free(cls, value: str | None) -> str | None:
        if value is not None:
            parse_min_free(value)
        return value

    @field_validator("preset")
    @classmethod
    def _check_preset(cls, value: str | None) -> str | None:
        if value is not None and value not in PRESETS:
            raise ValueError(f"must be one of {', '.join(PRESETS)}")
        return value

    @field_validator("pattern")
    @classmethod
    def _check_pattern(cls, value: str | None) -> str | None:
        if value is not None:
            Template.parse(value)
        return value


class DirectoryOptions(PolicyOptions):
    path: str = Field(min_length=1)


class DaemonOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Floors keep a typo from turning the daemon into a busy loop.
    rescan_interval: float | None = Field(default=None, ge=1, allow_inf_nan=False)
    free_check_interval: float | None = Field(default=None, ge=0.1, allow_inf_nan=False)
    log_format: LogFormat | None = None
    poll: bool | None = None
    # Where remembered metric values live; never inside a guarded directory.
    state_dir: str | None = Field(default=None, min_length=1)

    _reject_bools = field_validator("rescan_interval", "free_check_interval", mode="before")(
        _no_bool
    )


class FileOptions(PolicyOptions, DaemonOptions):
    """The whole TOML file: policy defaults, daemon settings, and `[[directory]]` entries."""

    directory: list[DirectoryOptions] = Field(default_factory=list)


@dataclass(frozen=True)
class GuardSpec:
    """One guarded directory and its rules."""

    path: str
    layout: Layout
    policy: Policy
    # A file of metric values (absolute, or relative to `path`), for keep-best.
    metrics_file: str | None = None

    @property
    def template(self) -> Template:
        return self.layout.template


@dataclass(frozen=True)
class Settings:
    guards: tuple[GuardSpec, ...]
    rescan_interval: float = 60.0
    free_check_interval: float = 5.0
    log_format: LogFormat = "auto"
    poll: bool = False
    # None: nothing is kept between runs (metric values are remembered in memory only).
    state_dir: str | None = None


def load_file(path: str) -> FileOptions:
    """Read and validate a TOML config file; ConfigError on any problem."""
    where = f"config {path}"
    try:
        # O_NONBLOCK: a FIFO given as config must not hang us.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                raise ConfigError([f"{where}: is a directory, not a file"])
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ConfigError([f"{where}: not a regular file"])
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError([f"{where}: no such file"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{where}: is a directory, not a file"]) from None
    except OSError as error:
        raise ConfigError([f"{where}: {(error.strerror or str(error)).lower()}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{where}: not UTF-8 text"]) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"{where}: invalid TOML: {error}"]) from None
    try:
        options = FileOptions.model_validate(data, strict=False)
    except ValidationError as error:
        raise ConfigError(describe(error, prefix=f"{where}: ", as_flags=False)) from None
    # A relative `path` means relative to the config file, not to wherever we were started
    # (systemd starts services in /).
    base = os.path.dirname(os.path.abspath(path))
    directories = [
        entry.model_copy(update={"path": os.path.join(base, entry.path)})
        for entry in options.directory
    ]
    update: dict[str, Any] = {"directory": directories}
    if options.state_dir is not None:
        update["state_dir"] = os.path.join(base, options.state_dir)
    return options.model_copy(update=update)


def parse_flags(values: Mapping[str, Any], model: type[BaseModel]) -> Any:
    """Validate command-line values (None = not given) with the same rules as the file."""
    given = {k: v for k, v in values.items() if v is not None}
    try:
        return model.model_validate(given)
    except ValidationError as error:
        raise ConfigError(describe(error, prefix="", as_flags=True)) from None


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
    by_real = {os.path.realpath(entry.path): entry for entry in file.directory}
    entries: list[tuple[str, list[PolicyOptions]]]
    if flag_dirs:
        # --dir selects directories; a config entry for the same directory lends its policy.
        entries = [(path, [file, *_matching(by_real, path), flag_policy]) for path in flag_dirs]
    else:
        entries = [(entry.path, [file, entry, flag_policy]) for entry in file.directory]
    if not entries:
        raise ConfigError(["no directory to guard: give --dir DIR or [[directory]] in the config"])

    problems: list[str] = []
    guards: list[GuardSpec] = []
    seen: dict[str, str] = {}
    for path, layers in entries:
        if not path:
            # os.path.abspath("") is the working directory: `--dir "$UNSET"` must not prune it.
            problems.append("--dir '': empty path")
            continue
        absolute = os.path.abspath(path)
        real = os.path.realpath(absolute)
        if real in seen:
            problems.append(f"--dir {path}: guarded twice (also as {seen[real]})")
            continue
        seen[real] = path
        try:
            layout, policy, metrics_file = _resolve_policy(layers)
            if metrics_file is not None:
                metrics_file = os.path.join(absolute, metrics_file)
            guards.append(GuardSpec(absolute, layout, policy, metrics_file))
        except ConfigError as error:
            problems.extend(f"{path}: {p}" for p in error.problems)
    if problems:
        raise ConfigError(problems)

    def pick(key: str, default: Any) -> Any:
        for layer in (flag_daemon, file):
            value = getattr(layer, key)
            if value is not None:
                return value
        return default

    state_dir = os.path.abspath(pick("state_dir", None) or default_state_dir())
    _check_state_dir(state_dir, guards)
    return Settings(
        guards=tuple(guards),
        rescan_interval=pick("rescan_interval", 60.0),
        free_check_interval=pick("free_check_interval", 5.0),
        log_format=pick("log_format", "auto"),
        poll=pick("poll", False),
        state_dir=state_dir,
    )


def _check_state_dir(state_dir: str, guards: list[GuardSpec]) -> None:
    """The guard writes nothing into a directory it guards: its state lives elsewhere."""
    real = os.path.realpath(state_dir)
    for guard in guards:
        guarded = os.path.realpath(guard.path)
        if os.path.commonpath([real, guarded]) == guarded:
            raise ConfigError(
                [f"--state-dir {state_dir}: inside the guarded directory {guard.path}"]
            )


def _matching(by_real: dict[str, DirectoryOptions], path: str) -> list[PolicyOptions]:
    entry = by_real.get(os.path.realpath(path))
    return [entry] if entry is not None else []


def _resolve_policy(layers: list[PolicyOptions]) -> tuple[Layout, Policy, str | None]:
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(
            {
                k: getattr(layer, k)
                for k in PolicyOptions.model_fields
                if getattr(layer, k) is not None
            }
        )
    keep = merged.get("keep", 3)
    min_keep = merged.get("min_keep", 1)
    if min_keep > keep:
        raise ConfigError([f"--min-keep {min_keep} must not exceed --keep {keep}"])
    min_free: MinFree = parse_min_free(merged.get("min_free", "1x"))
    preset = merged.get("preset", DEFAULT_PRESET)
    template = Template.parse(merged.get("pattern", default_pattern(preset)))
    layout = layout_for(preset, template)
    metric, keep_best = merged.get("metric"), merged.get("keep_best", 0)
    metrics_file = merged.get("metrics_file")
    if keep_best and metric is None:
        raise ConfigError([f"--keep-best {keep_best} needs --metric NAME"])
    # Hugging Face checkpoints carry their metrics in their own trainer_state.json.
    metric_known = metric in template.fields or metrics_file is not None or layout.metrics_inside
    if metric is not None and not metric_known:
        raise ConfigError(
            [f"--metric {metric}: not a field of --pattern and no --metrics-file given"]
        )
    policy = Policy(
        keep=keep,
        min_free=min_free,
        min_keep=min_keep,
        keep_every=merged.get("keep_every") or None,
        settle_seconds=float(merged.get("settle", 10.0)),
        keep_best=keep_best,
        metric=metric,
        metric_mode=merged.get("mode") or default_mode(metric),
    )
    return layout, policy, metrics_file


def default_mode(metric: str | None) -> str:
    """Lower is better for losses and errors; higher for anything else (accuracy, F1...)."""
    name = (metric or "").lower()
    return "min" if "loss" in name or "error" in name else "max"


def describe(error: ValidationError, *, prefix: str, as_flags: bool) -> list[str]:
    """One line per problem, naming the key (or flag) and the offending value."""
    lines = []
    for problem in error.errors(include_url=False):
        location = [str(part) for part in problem["loc"]]
        key = ".".join(location)
        if as_flags and location:
            key = FLAGS.get(location[-1], location[-1])
        elif len(location) >= 2 and location[0] == "directory":
            key = f"directory[{location[1]}]" + "".join(f".{p}" for p in location[2:])
        message = _message(problem)
        value = problem.get("input")
        shown = "" if problem["type"] in ("extra_forbidden", "missing") else f" (got {value!r})"
        lines.append(f"{prefix}{key}: {message}{shown}")
    return lines


def _message(problem: Mapping[str, Any]) -> str:
    kind = problem["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "is required"
    message = str(problem["msg"])
    message = message.removeprefix("Value error, ")
    return message[:1].lower() + message[1:]

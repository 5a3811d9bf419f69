"""Configuration: a TOML file, then command-line flags, validated into frozen values.

Precedence, lowest first: built-in defaults, the file's top-level keys, the file's
`[[directory]]` entry, command-line flags. Pydantic stays in this module (and in
`problems`, which words its errors); the rest of ckptguard sees only `Settings`,
`GuardSpec` and `Policy`.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ckptguard.core.layouts import PRESETS
from ckptguard.core.naming import Template
from ckptguard.core.units import parse_duration, parse_min_free, parse_size, parse_tier
from ckptguard.face.observe_options import ObserveOptions
from ckptguard.face.problems import describe
from ckptguard.service.settings import LogFormat, SettingsError
from ckptguard.store.remote.location import is_remote

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


class ConfigError(SettingsError):
    """Bad configuration: each entry of `problems` is one line naming key and value."""


def _no_bool(value: Any) -> Any:
    # TOML `keep = true` must not silently become keep = 1.
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    return value


class TierOptions(BaseModel):
    """One step tier: `{ every = 100, until = 5000 }` (`until` inclusive, optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    every: int = Field(ge=1)
    until: int | None = Field(default=None, ge=0)

    _reject_bools = field_validator("every", "until", mode="before")(_no_bool)


def _tiers(value: Any) -> Any:
    """`--keep-every` flags (strings, repeated) and TOML strings as tier tables."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        # `--keep-every 0` is "off", as it always was.
        tables = [_tier_table(item) for item in value if not _zero(item)]
        return tables if tables or not value else 0
    return value


def _zero(item: Any) -> bool:
    return isinstance(item, str) and item.strip().isdigit() and int(item) == 0


def _tier_table(item: Any) -> Any:
    if not isinstance(item, str):
        return item
    tier = parse_tier(item)
    return {"every": tier.every, "until": tier.until}


class PolicyOptions(BaseModel):
    """Policy keys as written by a user; None means "not given here"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    keep: int | None = Field(default=None, ge=1)
    min_free: str | None = None
    min_keep: int | None = Field(default=None, ge=1)
    # A plain number (0: off) or a list of tiers.
    keep_every: int | list[TierOptions] | None = Field(default=None, union_mode="left_to_right")
    keep_within: str | None = None
    keep_hourly: int | None = Field(default=None, ge=0)
    keep_daily: int | None = Field(default=None, ge=0)
    keep_weekly: int | None = Field(default=None, ge=0)
    max_size: str | None = None
    # The name of a shared budget in the config's `[budgets]` table.
    budget: str | None = Field(default=None, min_length=1)
    pattern: str | None = None
    settle: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    keep_best: int | None = Field(default=None, ge=0)
    metric: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    mode: Literal["min", "max"] | None = None
    metrics_file: str | None = Field(default=None, min_length=1)
    preset: str | None = None
    # Object storage: how long deleted checkpoints stay in the trash (e.g. "7d").
    trash_for: str | None = None
    # A shared directory's lease directory, for guards on several hosts.
    lease: str | None = Field(default=None, min_length=1)

    _reject_bools = field_validator(
        "keep",
        "min_keep",
        "keep_every",
        "settle",
        "keep_best",
        "keep_hourly",
        "keep_daily",
        "keep_weekly",
        mode="before",
    )(_no_bool)
    _read_tiers = field_validator("keep_every", mode="before")(_tiers)

    @field_validator("keep_every")
    @classmethod
    def _check_keep_every(
        cls, value: int | list[TierOptions] | None
    ) -> int | list[TierOptions] | None:
        if isinstance(value, int) and value < 0:
            raise ValueError("must be at least 0 (0: off)")
        return value

    @field_validator("keep_within", "trash_for")
    @classmethod
    def _check_duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("max_size")
    @classmethod
    def _check_max_size(cls, value: str | None) -> str | None:
        if value is not None and parse_size(value) <= 0:
            raise ValueError("must be more than 0")
        return value

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


class DaemonOptions(ObserveOptions):
    # Floors keep a typo from turning the daemon into a busy loop.
    rescan_interval: float | None = Field(default=None, ge=1, allow_inf_nan=False)
    free_check_interval: float | None = Field(default=None, ge=0.1, allow_inf_nan=False)
    log_format: LogFormat | None = None
    poll: bool | None = None
    # Where remembered metric values live; never inside a guarded directory.
    state_dir: str | None = Field(default=None, min_length=1)
    # Object storage: how often to list, and the deleter's lease (renewed every third).
    poll_interval: float | None = Field(default=None, ge=0.1, allow_inf_nan=False)
    lease_time: float | None = Field(default=None, ge=1, allow_inf_nan=False)
    # A file touched while the loop runs (a Kubernetes liveness probe reads its age).
    alive_file: str | None = Field(default=None, min_length=1)

    _reject_bools = field_validator(
        "rescan_interval", "free_check_interval", "poll_interval", "lease_time", mode="before"
    )(_no_bool)


class FileOptions(PolicyOptions, DaemonOptions):
    """The whole TOML file: policy defaults, daemon settings, `[budgets]` shared by groups of
    directories (name = size), and `[[directory]]` entries."""

    directory: list[DirectoryOptions] = Field(default_factory=list)
    budgets: dict[str, str] = Field(default_factory=dict)

    @field_validator("budgets")
    @classmethod
    def _check_budgets(cls, value: dict[str, str]) -> dict[str, str]:
        for name, size in value.items():
            if parse_size(size) <= 0:
                raise ValueError(f"{name}: must be more than 0")
        return value


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
        raise ConfigError(
            describe(error, prefix=f"{where}: ", as_flags=False, known=_known_keys)
        ) from None
    return _anchored(options, os.path.dirname(os.path.abspath(path)))


def _anchored(options: FileOptions, base: str) -> FileOptions:
    """Relative paths taken from the config file's directory, not from wherever we were
    started (systemd starts services in /); URLs as they are."""

    def anchor(value: str | None) -> str | None:
        return value if value is None or is_remote(value) else os.path.join(base, value)

    directories = [
        entry.model_copy(update={"path": anchor(entry.path), "lease": anchor(entry.lease)})
        for entry in options.directory
    ]
    update: dict[str, Any] = {"directory": directories}
    for key in ("state_dir", "lease", "alive_file", "metrics_textfile"):
        update[key] = anchor(getattr(options, key))
    return options.model_copy(update=update)


def parse_flags(values: Mapping[str, Any], model: type[BaseModel]) -> Any:
    """Validate command-line values (None = not given) with the same rules as the file."""
    given = {k: v for k, v in values.items() if v is not None}
    try:
        return model.model_validate(given)
    except ValidationError as error:
        raise ConfigError(describe(error, prefix="", as_flags=True, known=_known_keys)) from None


def _known_keys(top: str) -> Iterable[str]:
    """The keys a file may hold where a problem's location starts with `top`."""
    return (DirectoryOptions if top == "directory" else FileOptions).model_fields

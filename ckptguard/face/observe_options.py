"""The options of what the daemon tells: warnings, the warning hook, Prometheus metrics.

Validated here like the other daemon options (flags and the config file alike);
`DaemonOptions` takes them in.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ckptguard.core.units import parse_duration
from ckptguard.service.settings import SettingsError
from ckptguard.service.status import default_runtime_dir

FLAGS = {
    "warn_before": "--warn-before",
    "stale_after": "--stale-after",
    "on_warning": "--on-warning",
    "on_warning_timeout": "--on-warning-timeout",
    "metrics_textfile": "--metrics-textfile",
    "metrics_listen": "--metrics-listen",
}
EXTRA = "ckptguard[metrics]"


class ObserveOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    warn_before: str | None = None
    stale_after: str | None = None
    on_warning: str | None = Field(default=None, min_length=1)
    on_warning_timeout: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    metrics_textfile: str | None = Field(default=None, min_length=1)
    metrics_listen: str | None = None

    @field_validator("warn_before", "stale_after")
    @classmethod
    def _check_duration(cls, value: str | None) -> str | None:
        if value is not None and parse_duration(value) <= 0:
            raise ValueError("must be more than 0")
        return value

    @field_validator("metrics_textfile")
    @classmethod
    def _check_textfile(cls, value: str | None) -> str | None:
        if value is not None and not value.endswith(".prom"):
            raise ValueError("must end in .prom (node_exporter reads only *.prom files)")
        return value

    @field_validator("metrics_listen")
    @classmethod
    def _check_listen(cls, value: str | None) -> str | None:
        if value is not None:
            parse_listen(value)
        return value


def parse_listen(text: str) -> tuple[str, int]:
    """`HOST:PORT`, `[IPv6]:PORT`, or a bare `PORT` (on 127.0.0.1); ValueError else."""
    host, _, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]") if host.startswith("[") else host
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("not HOST:PORT (examples: 127.0.0.1:9184, [::1]:9184, 9184)")
    return host or "127.0.0.1", int(port)


def metrics_problem(
    textfile: str | None, listen: tuple[str, int] | None, *, starting: bool
) -> str | None:
    """Why the metrics options cannot be used here, if they cannot: one line. The
    textfile's directory must exist when the daemon starts (`starting`), not before."""
    if textfile is None and listen is None:
        return None
    flag = "--metrics-textfile" if textfile is not None else "--metrics-listen"
    if importlib.util.find_spec("prometheus_client") is None:
        return f"{flag} needs prometheus_client: pip install '{EXTRA}'"
    if starting and textfile is not None and not os.path.isdir(os.path.dirname(textfile)):
        return f"--metrics-textfile {textfile}: no such directory {os.path.dirname(textfile)}"
    return None


def observe_settings(pick: Callable[[str, Any], Any], guarded: list[str]) -> dict[str, Any]:
    """The `Settings` fields of these options, from the highest layer that gives each."""
    warn, stale = pick("warn_before", None), pick("stale_after", None)
    textfile, listen = pick("metrics_textfile", None), pick("metrics_listen", None)
    textfile = None if textfile is None else os.path.abspath(textfile)
    runtime_dir = os.path.abspath(default_runtime_dir())
    for flag, path in (("--metrics-textfile", textfile), ("runtime directory", runtime_dir)):
        inside = _inside(path, guarded)
        if inside is not None:
            raise SettingsError([f"{flag} {path}: inside the guarded directory {inside}"])
    return {
        "runtime_dir": runtime_dir,
        "warn_before": 3600.0 if warn is None else parse_duration(warn),
        "stale_after": None if stale is None else parse_duration(stale),
        "on_warning": pick("on_warning", None),
        "on_warning_timeout": pick("on_warning_timeout", 30.0),
        "metrics_textfile": textfile,
        "metrics_listen": None if listen is None else parse_listen(listen),
    }


def _inside(path: str | None, guarded: list[str]) -> str | None:
    """The guarded directory `path` lies in, if any: the guard writes nothing there."""
    if path is None:
        return None
    real = os.path.realpath(path)
    for directory in guarded:
        if os.path.commonpath([real, os.path.realpath(directory)]) == os.path.realpath(directory):
            return directory
    return None

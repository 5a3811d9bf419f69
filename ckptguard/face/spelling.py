"""Naming each option the way the user set it.

An option given on the command line reads `--min-keep 2`; one from the config file
reads `min_keep = 2`; one left at its default reads like the flag that would change it,
or, beside an option the user set, is spelt as that one was and called the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

FROM_FILE = "file"


@dataclass(frozen=True)
class Spelling:
    """Where each option was set ("flag" or "file") and its value as the user wrote it."""

    given: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def name(self, option: str) -> str:
        where = self.given.get(option, ("flag", ""))[0]
        return option if where == FROM_FILE else "--" + option.replace("_", "-")

    def option(self, option: str, value: object, *, beside: str | None = None) -> str:
        """`option` as set; left at its default but named `beside` one the user set, it
        is spelt as that one was and said to be the default (`keep = 3 (the default)`)."""
        if option not in self.given and beside is not None and beside in self.given:
            spelt = Spelling({option: (self.given[beside][0], str(value))})
            return f"{spelt.option(option, value)} (the default)"
        where, text = self.given.get(option, ("flag", str(value)))
        if where == FROM_FILE:
            return f"{option} = {_toml(text)}"
        return f"{self.name(option)} {text}"


FLAGS = Spelling()


def _toml(text: str) -> str:
    return text if text.replace(".", "", 1).isdigit() else f'"{text}"'

"""File name templates such as `checkpoint_step_{step}.keras`: matching and step parsing."""

from __future__ import annotations

import re
from dataclasses import dataclass

PLACEHOLDER = "{step}"
DEFAULT_TEMPLATE = "checkpoint_step_{step}.keras"
# Steps are ASCII digits only (no sign, no Unicode digits) and fit in 64 bits; anything
# else is not a checkpoint, so a forged `checkpoint_step_99999…9.keras` is left alone.
MAX_STEP = 2**64 - 1
_STEP_DIGITS = "([0-9]{1,20})"
PIN_SUFFIX = ".keep"


class TemplateError(ValueError):
    """The template cannot describe checkpoint file names."""


@dataclass(frozen=True)
class Template:
    text: str
    regex: re.Pattern[str]

    @classmethod
    def parse(cls, text: str) -> Template:
        count = text.count(PLACEHOLDER)
        if count != 1:
            raise TemplateError(f"must contain {PLACEHOLDER} exactly once (found {count})")
        prefix, suffix = text.split(PLACEHOLDER)
        if "{" in prefix + suffix or "}" in prefix + suffix:
            raise TemplateError(f"only the {PLACEHOLDER} placeholder is supported")
        if "/" in text or "\0" in text:
            raise TemplateError("must be a file name, without '/' or NUL")
        if suffix.endswith(PIN_SUFFIX):
            raise TemplateError(f"must not end in {PIN_SUFFIX!r}, which marks pins")
        regex = re.compile(re.escape(prefix) + _STEP_DIGITS + re.escape(suffix))
        return cls(text=text, regex=regex)

    def step_of(self, name: str) -> int | None:
        """The step in `name`, or None when `name` is not a checkpoint of this template."""
        found = self.regex.fullmatch(name)
        if found is None:
            return None
        step = int(found.group(1))
        return step if step <= MAX_STEP else None

    def name_for(self, step: int) -> str:
        return self.text.replace(PLACEHOLDER, str(step))

    @property
    def checks_zip(self) -> bool:
        """Keras `.keras` files are zips whose central directory is written last."""
        return self.text.endswith(".keras")


def pin_name(name: str) -> str:
    """The sidecar whose presence pins checkpoint `name`."""
    return name + PIN_SUFFIX

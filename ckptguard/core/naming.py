"""File name templates such as `checkpoint_step_{step}.keras`: matching and parsing.

A template has exactly one `{step}` and may have other numeric fields, as Keras'
`ModelCheckpoint` writes them: `ckpt_{step}_val_loss_{val_loss:.4f}.keras`. A format
spec after `:` is allowed and ignored for matching.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PLACEHOLDER = "{step}"
DEFAULT_TEMPLATE = "checkpoint_step_{step}.keras"
# Steps are ASCII digits only (no sign, no Unicode digits) and fit in 64 bits; anything
# else is not a checkpoint, so a forged `checkpoint_step_99999…9.keras` is left alone.
MAX_STEP = 2**64 - 1
_STEP_DIGITS = "([0-9]{1,20})"
# A metric in a name, as Python formats floats: `0.2345`, `1e-05`, and once training
# diverges `nan`, `inf` or `-inf` (any case, as `:.4F` writes `NAN`).
_NUMBER = r"([-+]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|(?i:nan|inf(?:inity)?)))"
_FIELD = re.compile(r"\{([^{}:]*)(?::[^{}]*)?\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
PIN_SUFFIX = ".keep"


class TemplateError(ValueError):
    """The template cannot describe checkpoint file names."""


@dataclass(frozen=True)
class Template:
    text: str
    regex: re.Pattern[str]
    # Every field's name, `step` included, in the order of the regex's groups.
    groups: tuple[str, ...] = ("step",)

    @classmethod
    def parse(cls, text: str) -> Template:
        if "/" in text or "\0" in text:
            raise TemplateError("must be a file name, without '/' or NUL")
        names = [m.group(1) for m in _FIELD.finditer(text)]
        count = names.count("step")
        if count != 1:
            raise TemplateError(f"must contain {PLACEHOLDER} exactly once (found {count})")
        for name in names:
            if not _NAME.fullmatch(name):
                raise TemplateError(f"{{{name}}} is not a field name (letters, digits, _)")
        if len(set(names)) != len(names):
            raise TemplateError("each field may appear only once")
        literals = _FIELD.split(text)[::2]
        if any("{" in part or "}" in part for part in literals):
            raise TemplateError("has an unmatched '{' or '}'")
        if literals[-1].endswith(PIN_SUFFIX):
            raise TemplateError(f"must not end in {PIN_SUFFIX!r}, which marks pins")
        pattern = re.escape(literals[0])
        for name, literal in zip(names, literals[1:], strict=True):
            pattern += (_STEP_DIGITS if name == "step" else _NUMBER) + re.escape(literal)
        return cls(text=text, regex=re.compile(pattern), groups=tuple(names))

    @property
    def literal_ends(self) -> tuple[str, str]:
        """The fixed text every matching name starts and ends with."""
        literals = _FIELD.split(self.text)[::2]
        return literals[0], literals[-1]

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields other than step."""
        return tuple(n for n in self.groups if n != "step")

    def match(self, name: str) -> tuple[int, dict[str, float]] | None:
        """The step and the other fields' values in `name`, or None if it is no checkpoint."""
        found = self.regex.fullmatch(name)
        if found is None:
            return None
        values: dict[str, float] = {}
        step = -1
        for field_name, text in zip(self.groups, found.groups(), strict=True):
            if field_name == "step":
                step = int(text)
            else:
                values[field_name] = float(text)
        return (step, values) if 0 <= step <= MAX_STEP else None

    def step_of(self, name: str) -> int | None:
        """The step in `name`, or None when `name` is not a checkpoint of this template."""
        matched = self.match(name)
        return None if matched is None else matched[0]

    def name_for(self, step: int) -> str:
        return _FIELD.sub(lambda m: str(step) if m.group(1) == "step" else m.group(0), self.text)


def pin_name(name: str) -> str:
    """The sidecar whose presence pins checkpoint `name`."""
    return name + PIN_SUFFIX

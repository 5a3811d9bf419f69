"""File name templates: what they accept, and which names count as checkpoints."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ckptguard.core.naming import (
    DEFAULT_TEMPLATE,
    MAX_STEP,
    Template,
    TemplateError,
    pin_name,
)

DEFAULT = Template.parse(DEFAULT_TEMPLATE)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("checkpoint.keras", "exactly once", id="no-placeholder"),
        pytest.param("", "exactly once", id="empty"),
        pytest.param("ckpt_{step}_{step}.keras", "exactly once", id="two-placeholders"),
        pytest.param("ckpt_{1x}_{step}.keras", "not a field name", id="bad-field-name"),
        pytest.param("ckpt_{}_{step}.keras", "not a field name", id="empty-field"),
        pytest.param("ckpt_{loss}_{step}_{loss}.keras", "only once", id="repeated-field"),
        pytest.param("ckpt_{step}.keras{", "unmatched", id="stray-open-brace"),
        pytest.param("ckpt}_{step}.keras", "unmatched", id="stray-close-brace"),
        pytest.param("ckpt_{STEP}.keras", "exactly once", id="placeholder-is-case-sensitive"),
        pytest.param("models/ckpt_{step}.keras", "without '/'", id="slash-in-prefix"),
        pytest.param("ckpt_{step}/model.keras", "without '/'", id="slash-in-suffix"),
        pytest.param("ckpt_{step}\0.keras", "NUL", id="nul"),
        pytest.param("ckpt_{step}.keras.keep", "must not end in", id="ends-in-pin-suffix"),
        pytest.param("ckpt_{step}.keep", "must not end in", id="suffix-is-pin-suffix"),
    ],
)
def test_template_parse_rejects(text: str, message: str) -> None:
    """Template.parse refuses templates that cannot name checkpoint files unambiguously."""
    with pytest.raises(TemplateError, match=message):
        Template.parse(text)


def test_template_error_is_a_value_error() -> None:
    """TemplateError is a ValueError, so config validation can treat it as bad input."""
    assert issubclass(TemplateError, ValueError)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(DEFAULT_TEMPLATE, id="default"),
        pytest.param("{step}", id="placeholder-only"),
        pytest.param("{step}.pt", id="placeholder-first"),
        pytest.param("ckpt-{step}", id="placeholder-last"),
        pytest.param("model.step[{step}].(h5)", id="regex-metacharacters"),
    ],
)
def test_template_parse_accepts(text: str) -> None:
    """Template.parse accepts file-name templates with one {step} anywhere in them."""
    template = Template.parse(text)
    assert template.text == text
    assert template.step_of(template.name_for(42)) == 42


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("checkpoint_step_7.keras", 7, id="plain"),
        pytest.param("checkpoint_step_0.keras", 0, id="zero"),
        pytest.param("checkpoint_step_25300.keras", 25300, id="incident-step"),
        pytest.param("checkpoint_step_007.keras", 7, id="leading-zeros"),
        pytest.param("checkpoint_step_000.keras", 0, id="all-zeros"),
        pytest.param(f"checkpoint_step_{MAX_STEP}.keras", 2**64 - 1, id="max-64-bit"),
        pytest.param("checkpoint_step_999999999.keras", 999_999_999, id="forged-looking"),
        pytest.param(f"checkpoint_step_{2**64}.keras", None, id="2**64-overflows"),
        pytest.param(f"checkpoint_step_{10**20}.keras", None, id="21-digits"),
        pytest.param("checkpoint_step_+7.keras", None, id="plus-sign"),
        pytest.param("checkpoint_step_-7.keras", None, id="minus-sign"),
        pytest.param("checkpoint_step_\u0667.keras", None, id="arabic-indic-digit"),
        pytest.param("checkpoint_step_\uff17.keras", None, id="fullwidth-digit"),
        pytest.param("checkpoint_step_\u00b2.keras", None, id="superscript-digit"),
        pytest.param("checkpoint_step_7.keras\n", None, id="trailing-newline"),
        pytest.param("\ncheckpoint_step_7.keras", None, id="leading-newline"),
        pytest.param("checkpoint_step_ 7.keras", None, id="space-before-step"),
        pytest.param("checkpoint_step_7 .keras", None, id="space-after-step"),
        pytest.param("checkpoint_step_.keras", None, id="empty-step"),
        pytest.param("checkpoint_step_7_1.keras", None, id="extra-suffix-part"),
        pytest.param("checkpoint_step_7.5.keras", None, id="fractional-step"),
        pytest.param("checkpoint_step_0x10.keras", None, id="hex-step"),
        pytest.param("checkpoint_step_7.keras.keep", None, id="pin-sidecar"),
        pytest.param("checkpoint_step_7.keras.tmp", None, id="temp-suffix"),
        pytest.param("tmpab12cd34", None, id="keras-temp-file"),
        pytest.param("xcheckpoint_step_7.keras", None, id="extra-prefix"),
        pytest.param("best_checkpoint_step_7.keras", None, id="renamed-to-keep"),
        pytest.param("checkpoint_step_7.h5", None, id="other-extension"),
        pytest.param("checkpoint_step_7xkeras", None, id="dot-is-literal"),
        pytest.param("Checkpoint_step_7.keras", None, id="case-sensitive"),
        pytest.param("", None, id="empty-name"),
    ],
)
def test_step_of_default_template(name: str, expected: int | None) -> None:
    """step_of parses only ASCII-digit steps that fit in 64 bits and match the whole name."""
    assert DEFAULT.step_of(name) == expected


def test_step_of_21_digits_with_leading_zeros_is_not_a_checkpoint() -> None:
    """A step written with more than 20 digits is not matched, even if its value is small."""
    assert DEFAULT.step_of("checkpoint_step_" + "0" * 20 + "7.keras") is None
    assert DEFAULT.step_of("checkpoint_step_" + "0" * 19 + "7.keras") == 7


def test_step_of_escapes_template_metacharacters() -> None:
    """Regex metacharacters in a template match only themselves."""
    template = Template.parse("ckpt.{step}+")
    assert template.step_of("ckpt.7+") == 7
    assert template.step_of("ckptX7+") is None
    assert template.step_of("ckpt.7") is None
    assert template.step_of("ckpt.77+") == 77


@given(st.integers(min_value=0, max_value=MAX_STEP))
@settings(max_examples=200, deadline=None)
def test_name_for_round_trips(step: int) -> None:
    """step_of(name_for(step)) == step for every step in the 64-bit range."""
    assert DEFAULT.step_of(DEFAULT.name_for(step)) == step


def test_name_for_default_template() -> None:
    """name_for writes the step in decimal without padding."""
    assert DEFAULT.name_for(25300) == "checkpoint_step_25300.keras"


def test_pin_name() -> None:
    """The pin sidecar of a checkpoint is its name plus `.keep`."""
    assert pin_name("checkpoint_step_7.keras") == "checkpoint_step_7.keras.keep"
    assert DEFAULT.step_of(pin_name("checkpoint_step_7.keras")) is None


def test_template_match_reads_nan() -> None:
    """A diverged run's `nan` (any case) is a value: the checkpoint is still a checkpoint."""
    for name in ("ckpt_5_nan.keras", "ckpt_5_NAN.keras"):
        matched = Template.parse("ckpt_{step}_{loss}.keras").match(name)
        assert matched is not None
        step, fields = matched
        assert step == 5 and math.isnan(fields["loss"])


@pytest.mark.parametrize(
    ("template", "name", "expected"),
    [
        pytest.param(
            "ckpt_{step}_val_loss_{val_loss}.keras",
            "ckpt_300_val_loss_0.0210.keras",
            (300, {"val_loss": 0.021}),
            id="metric-after-step",
        ),
        pytest.param(
            "ckpt_{epoch:02d}_{step}_{val_acc:.4f}.keras",
            "ckpt_07_1400_0.9911.keras",
            (1400, {"epoch": 7.0, "val_acc": 0.9911}),
            id="fields-before-and-after-step-with-format-specs",
        ),
        pytest.param(
            "epoch={epoch}-step={step}.ckpt",
            "epoch=3-step=1000.ckpt",
            (1000, {"epoch": 3.0}),
            id="lightning",
        ),
        pytest.param(
            "ckpt_{step}_{loss}.keras",
            "ckpt_5_-1.5e-3.keras",
            (5, {"loss": -0.0015}),
            id="signed-exponent",
        ),
        pytest.param(
            "ckpt_{step}_{loss}.keras", "ckpt_5_-inf.keras", (5, {"loss": -math.inf}), id="-inf"
        ),
        pytest.param(
            "ckpt_{step}_{loss}.keras", "ckpt_5_INF.keras", (5, {"loss": math.inf}), id="INF"
        ),
        pytest.param("ckpt_{step}_{loss}.keras", "ckpt_5_nanny.keras", None, id="not-a-number"),
        pytest.param("ckpt_{step}_{loss}.keras", "ckpt_5_.keras", None, id="missing-value"),
    ],
)
def test_template_match_reads_every_field(template: str, name: str, expected) -> None:
    """Fields other than {step} parse as numbers; a name without them does not match."""
    assert Template.parse(template).match(name) == expected

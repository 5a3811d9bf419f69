"""Sizes, free-space amounts and ages as people write them: parse_size, parse_min_free, format_*."""

from __future__ import annotations

import pytest

from ckptguard.core.model import MinFree, MinFreeUnit
from ckptguard.core.units import format_age, format_size, parse_min_free, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("4096B", 4096, id="bytes"),
        pytest.param("0", 0, id="zero-needs-no-unit"),
        pytest.param("1b", 1, id="b-suffix"),
        pytest.param("1B", 1, id="B-suffix"),
        pytest.param("20GB", 20 * 10**9, id="GB-decimal"),
        pytest.param("20gb", 20 * 10**9, id="gb-case-insensitive"),
        pytest.param("20G", 20 * 2**30, id="G-is-GiB-as-df-h-prints"),
        pytest.param("1.5G", 3 * 2**29, id="fractional-G"),
        pytest.param("84M", 84 * 2**20, id="M-is-MiB"),
        pytest.param("512MiB", 512 * 2**20, id="MiB-binary"),
        pytest.param("4KiB", 4096, id="KiB-binary"),
        pytest.param("2TiB", 2 * 2**40, id="TiB-binary"),
        pytest.param("1tb", 10**12, id="tb"),
        pytest.param("10k", 10 * 1024, id="k-is-KiB"),
        pytest.param("10kB", 10_000, id="kB-decimal"),
        pytest.param("10 MB", 10 * 10**6, id="space-before-unit"),
        pytest.param("  84MB\n", 84 * 10**6, id="surrounding-whitespace"),
        pytest.param(".5kB", 500, id="leading-dot"),
        pytest.param("5.B", 5, id="trailing-dot"),
        pytest.param("1.5B", 1, id="fractional-bytes-truncate"),
        pytest.param("2.01GB", 2_010_000_000, id="decimal-fraction-exact-GB"),
        pytest.param("2.01kB", 2010, id="decimal-fraction-exact-kB"),
        pytest.param("4.35kB", 4350, id="decimal-fraction-exact-kB-2"),
        pytest.param("18446744073709551617B", 2**64 + 1, id="huge-integer-exact"),
    ],
)
def test_parse_size_accepts(text: str, expected: int) -> None:
    """parse_size turns decimal/binary units, case-insensitively and exactly, into bytes."""
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("-1", id="negative"),
        pytest.param("+1", id="plus-sign"),
        pytest.param("1.5qq", id="unknown-unit"),
        pytest.param("GB", id="unit-only"),
        pytest.param("1e3", id="exponent"),
        pytest.param("1,000", id="thousands-separator"),
        pytest.param("1 2", id="two-numbers"),
        pytest.param("1.5.5", id="two-dots"),
        pytest.param(".", id="dot-only"),
        pytest.param("10%", id="percent-is-not-a-size"),
        pytest.param("2x", id="multiple-is-not-a-size"),
        pytest.param("nan", id="nan"),
        pytest.param("inf", id="inf"),
        pytest.param("\u0667MB", id="unicode-digit"),
        pytest.param("10 M B", id="split-unit"),
    ],
)
def test_parse_size_rejects(text: str) -> None:
    """parse_size raises ValueError with an example-bearing message on anything not a size."""
    with pytest.raises(ValueError, match="not a size"):
        parse_size(text)


@pytest.mark.parametrize("text", ["10", "1.5", "4096", " 84 "])
def test_parse_size_wants_a_unit(text: str) -> None:
    """A bare number other than 0 is refused: ten bytes or ten gigabytes? The message says
    which units there are."""
    with pytest.raises(ValueError, match=r"needs a unit .*20G \(GiB, as df -h shows\)"):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("10%", MinFree(MinFreeUnit.PERCENT, 10.0), id="percent"),
        pytest.param("10 %", MinFree(MinFreeUnit.PERCENT, 10.0), id="percent-space"),
        pytest.param(" 2.5% ", MinFree(MinFreeUnit.PERCENT, 2.5), id="percent-fraction"),
        pytest.param("0%", MinFree(MinFreeUnit.PERCENT, 0.0), id="percent-zero"),
        pytest.param("99.9%", MinFree(MinFreeUnit.PERCENT, 99.9), id="percent-just-below-100"),
        pytest.param("1x", MinFree(MinFreeUnit.MULTIPLE, 1.0), id="multiple"),
        pytest.param("2.5X", MinFree(MinFreeUnit.MULTIPLE, 2.5), id="multiple-upper"),
        pytest.param("3 x", MinFree(MinFreeUnit.MULTIPLE, 3.0), id="multiple-space"),
        pytest.param("0x", MinFree(MinFreeUnit.MULTIPLE, 0.0), id="multiple-zero"),
        pytest.param("20GB", MinFree(MinFreeUnit.BYTES, 20e9), id="bytes-GB"),
        pytest.param("512MiB", MinFree(MinFreeUnit.BYTES, float(512 * 2**20)), id="bytes-MiB"),
        pytest.param("4096B", MinFree(MinFreeUnit.BYTES, 4096.0), id="bytes"),
        pytest.param("10G", MinFree(MinFreeUnit.BYTES, float(10 * 2**30)), id="G-is-GiB"),
        pytest.param("0", MinFree(MinFreeUnit.BYTES, 0.0), id="zero-needs-no-unit"),
    ],
)
def test_parse_min_free_accepts(text: str, expected: MinFree) -> None:
    """parse_min_free reads `N%` of the filesystem, `Nx` checkpoint sizes, or a byte size."""
    assert parse_min_free(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("150%", "below 100%", id="percent-over-100"),
        pytest.param("100%", "below 100%", id="percent-exactly-100"),
        pytest.param("-5%", "not a free-space amount", id="percent-negative"),
        pytest.param("%", "not a free-space amount", id="percent-only"),
        pytest.param("x", "not a free-space amount", id="x-only"),
        pytest.param("-1", "not a free-space amount", id="negative-bytes"),
        pytest.param("-1x", "not a free-space amount", id="negative-multiple"),
        pytest.param("", "not a free-space amount", id="empty"),
        pytest.param("1.5qq", "not a free-space amount", id="unknown-unit"),
        pytest.param("10%%", "not a free-space amount", id="double-percent"),
        pytest.param("2xx", "not a free-space amount", id="double-x"),
        pytest.param("10", "needs a unit", id="bare-number"),
        pytest.param("1500000000000", "needs a unit", id="bare-big-number"),
    ],
)
def test_parse_min_free_rejects(text: str, message: str) -> None:
    """parse_min_free raises ValueError naming the problem for unusable amounts."""
    with pytest.raises(ValueError, match=message):
        parse_min_free(text)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(MinFree(MinFreeUnit.PERCENT, 12.5), id="percent"),
        pytest.param(MinFree(MinFreeUnit.MULTIPLE, 2.5), id="multiple"),
        pytest.param(MinFree(MinFreeUnit.BYTES, 20e9), id="bytes"),
    ],
)
def test_min_free_str_round_trips(value: MinFree) -> None:
    """str(MinFree) is text that parse_min_free reads back to the same value."""
    assert parse_min_free(str(value)) == value


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        pytest.param(0, "0 B", id="zero"),
        pytest.param(999, "999 B", id="below-kB"),
        pytest.param(1000, "1.0 kB", id="one-kB-decimal"),
        pytest.param(1500, "1.5 kB", id="fractional-kB"),
        pytest.param(84_000_000, "84.0 MB", id="keras-checkpoint"),
        pytest.param(21 * 10**9, "21.0 GB", id="GB"),
        pytest.param(3 * 10**12, "3.0 TB", id="TB"),
        pytest.param(5 * 10**15, "5000.0 TB", id="TB-is-the-largest-unit"),
        pytest.param(-1500, "-1.5 kB", id="negative"),
    ],
)
def test_format_size(size: int, expected: str) -> None:
    """format_size uses decimal units (as df -H does) with one decimal above bytes."""
    assert format_size(size) == expected


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        pytest.param(-1.0, "future", id="negative-is-future"),
        pytest.param(0.0, "0.0s", id="zero"),
        pytest.param(3.24, "3.2s", id="seconds"),
        pytest.param(59.0, "59.0s", id="just-below-a-minute"),
        pytest.param(60.0, "1m", id="one-minute"),
        pytest.param(14 * 60.0, "14m", id="minutes"),
        pytest.param(3600.0, "1h", id="one-hour"),
        pytest.param(5 * 3600.0, "5h", id="hours"),
        pytest.param(86400.0, "1d", id="one-day"),
        pytest.param(2 * 86400.0, "2d", id="days"),
    ],
)
def test_format_age(seconds: float, expected: str) -> None:
    """format_age picks the largest unit below the age: s (one decimal), m, h, d."""
    assert format_age(seconds) == expected

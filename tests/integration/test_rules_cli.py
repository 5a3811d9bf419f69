"""Time rules, step tiers and size budgets through the command line and the config file:
real files, the real CLI, the local time zone set with TZ."""

from __future__ import annotations

import datetime
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import write_checkpoint

from ckptguard.face.cli import main

# A week of hourly saves, the last on Monday 2026-11-30 at 18:00 UTC.
LAST = datetime.datetime(2026, 11, 30, 18, 0, tzinfo=datetime.timezone.utc).timestamp()
HOURS = 168


@pytest.fixture
def utc_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def week(tmp_path: Path) -> Path:
    """168 complete checkpoints saved hourly, step 100 per hour."""
    models = tmp_path / "models"
    models.mkdir()
    for hour in range(HOURS):
        write_checkpoint(models, (hour + 1) * 100, mtime=LAST - (HOURS - 1 - hour) * 3600)
    return models


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def audit(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code, out, err = run(capsys, "audit", "--json", *args)
    assert code == 0, err
    return dict(json.loads(out))


def kept(document: dict[str, Any]) -> list[int]:
    return [e["step"] for e in document["entries"] if e["action"] == "keep"]


WEEK_RULES = ("--keep", "3", "--keep-hourly", "6", "--keep-daily", "7", "--keep-weekly", "4")


def test_a_week_of_hourly_saves_thinned(
    utc_zone: None, week: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hourly saves for a week, --keep 3, 6 hourly, 7 daily, 4 weekly: the last 6 hours,
    the last save of each of 7 days (18:00 on the last, 23:00 before), and of 2 ISO weeks."""
    document = audit(capsys, "--dir", str(week), *WEEK_RULES)
    last_step = HOURS * 100
    hourly = [last_step - 100 * h for h in range(6)]
    # Each earlier day's last save is at 23:00 UTC: 19 hours before the last save's day end.
    daily = [last_step] + [last_step - 100 * (19 + 24 * d) for d in range(6)]
    weekly = [last_step, last_step - 100 * 19]  # Monday 30th; Sunday 29th ends week 48
    assert kept(document) == sorted(set(hourly + daily + weekly))
    rules = {
        e["step"]: [r["rule"] for r in e["kept_by"]] for e in document["entries"] if "kept_by" in e
    }
    assert rules[last_step] == ["last", "hourly", "daily", "weekly"]
    assert rules[last_step - 1900] == ["daily", "weekly"]
    periods = {
        (r["rule"], r.get("period")) for e in document["entries"] for r in e.get("kept_by", [])
    }
    assert ("daily", "2026-11-30") in periods and ("weekly", "2026-W48") in periods
    _code, table, _ = run(capsys, "audit", "--dir", str(week), *WEEK_RULES)
    assert "last 3; hourly 2026-11-30 18:00; daily 2026-11-30; weekly 2026-W49" in table
    assert "under pressure kept checkpoints give way" in table


def test_prune_then_audit_finds_nothing_more(
    utc_zone: None, week: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """prune --execute deletes what audit said; planning again deletes nothing more."""
    expected = kept(audit(capsys, "--dir", str(week), *WEEK_RULES))
    code, _, err = run(capsys, "prune", "--execute", "--dir", str(week), *WEEK_RULES)
    assert code == 0, err
    assert sorted(int(p.stem.rsplit("_", 1)[1]) for p in week.iterdir()) == expected
    again = audit(capsys, "--dir", str(week), *WEEK_RULES)
    assert kept(again) == expected


def test_time_rules_follow_the_local_time_zone(
    week: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """In Tokyo (UTC+9) the day ends at 15:00 UTC: the daily saves move with it."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        document = audit(capsys, "--dir", str(week), "--keep", "1", "--keep-daily", "2")
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    last_step = HOURS * 100
    # Last save 2026-12-01 03:00 JST; the day before ends 23:00 JST = 14:00 UTC.
    assert kept(document) == [last_step - 400, last_step]


# ---- step tiers ------------------------------------------------------------------------------


@pytest.fixture
def steps(tmp_path: Path) -> Path:
    models = tmp_path / "tiers"
    models.mkdir()
    for index, step in enumerate(range(100, 3100, 100)):
        write_checkpoint(models, step, mtime=LAST - 10_000 + index)
    return models


TIERED = [*range(100, 1100, 100), 2000, 3000]


def test_keep_every_tiers_from_flags(steps: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--keep-every 100:until=1000 --keep-every 1000` keeps every 100 up to 1000, then
    every 1000, each naming its tier."""
    document = audit(
        capsys,
        "--dir",
        str(steps),
        "--keep",
        "1",
        "--keep-every",
        "100:until=1000",
        "--keep-every",
        "1000",
    )
    assert kept(document) == TIERED
    (thousand,) = [e for e in document["entries"] if e["step"] == 1000]
    assert "tier every 100 until 1000; tier every 1000" in "; ".join(thousand["reasons"])


def test_keep_every_tiers_from_a_toml_list(
    steps: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same tiers as a TOML list of tables."""
    config = tmp_path / "tiers.toml"
    config.write_text(
        f'keep = 1\n[[directory]]\npath = "{steps}"\n'
        "keep_every = [{ every = 100, until = 1000 }, { every = 1000 }]\n"
    )
    assert kept(audit(capsys, "--config", str(config))) == TIERED


def test_plain_keep_every_keeps_its_meaning(
    steps: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--keep-every 1000` keeps multiples of 1000; `--keep-every 0` is off."""
    assert kept(audit(capsys, "--dir", str(steps), "--keep", "1", "--keep-every", "1000")) == [
        1000,
        2000,
        3000,
    ]
    assert kept(audit(capsys, "--dir", str(steps), "--keep", "1", "--keep-every", "0")) == [3000]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--keep-every", "100:until=x"), "--keep-every"),
        (("--keep-every", "100:till=5"), "not a step tier"),
        (("--keep-within", "7 days"), "--keep-within: not a duration"),
        (("--keep-daily", "-1"), "--keep-daily"),
        (("--max-size", "lots"), "--max-size: not a size"),
        (("--max-size", "0"), "--max-size: must be more than 0"),
    ],
)
def test_bad_rule_values_exit_2_with_one_line(
    steps: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], fragment: str
) -> None:
    """A bad value is exit 2 and one line naming the option, never a traceback."""
    code, _out, err = run(capsys, "audit", "--dir", str(steps), *args)
    assert code == 2
    assert fragment in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


# ---- size budgets ----------------------------------------------------------------------------


def test_max_size_keeps_the_directory_under_it(
    steps: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--max-size: the oldest go until what is kept fits, the kept ones naming their rule."""
    size = (steps / "checkpoint_step_100.keras").stat().st_size
    document = audit(capsys, "--dir", str(steps), "--keep", "10", "--max-size", f"{size * 4}B")
    assert kept(document) == [2700, 2800, 2900, 3000]
    (summary,) = document["summary"]["directories"]
    (budget,) = summary["budgets"]
    assert budget["after"] <= budget["limit"] == size * 4 and budget["group"] is None
    gone = next(e for e in document["entries"] if e["step"] == 2600)
    assert "over_budget" in gone["reason_codes"]


def test_a_shared_budget_takes_the_oldest_across_directories(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two directories sharing a budget of 5 checkpoints: the 5 newest across both stay."""
    first, second = tmp_path / "a", tmp_path / "b"
    for index, directory in enumerate((first, second)):
        directory.mkdir()
        for step in range(1, 6):
            write_checkpoint(directory, step * 100, mtime=LAST - 1000 + step * 10 + index)
    size = (first / "checkpoint_step_100.keras").stat().st_size
    config = tmp_path / "shared.toml"
    config.write_text(
        f'keep = 5\nbudget = "both"\n[budgets]\nboth = "{size * 5}B"\n'
        f'[[directory]]\npath = "{first}"\n[[directory]]\npath = "{second}"\n'
    )
    document = audit(capsys, "--config", str(config))
    left = sorted(
        (os.path.basename(os.path.dirname(e["path"])), e["step"])
        for e in document["entries"]
        if e["action"] == "keep"
    )
    assert left == [("a", 400), ("a", 500), ("b", 300), ("b", 400), ("b", 500)]
    for summary in document["summary"]["directories"]:
        assert summary["budgets"] == [
            {"limit": size * 5, "used": size * 10, "after": size * 5, "group": "both"}
        ]


def test_unknown_shared_budget_is_a_config_error(
    steps: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`budget = "nope"` without a [budgets] entry: exit 2, one line."""
    config = tmp_path / "bad.toml"
    config.write_text(f'[[directory]]\npath = "{steps}"\nbudget = "nope"\n')
    code, _, err = run(capsys, "audit", "--config", str(config))
    assert code == 2
    assert "no such budget" in err and len(err.strip().splitlines()) == 1

"""Bad usage and bad configuration: exit 2, one `ckptguard: error:` line, never a traceback.

Each case builds its argv (and any files it needs) under `tmp_path`, where `models/`
already holds one real checkpoint. `TMP` in argv and in the expected fragments stands
for `tmp_path`. Every case runs through `main(argv)`; a selection also runs as a
subprocess, and the permission cases run without the power to override file modes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from support import TEMPLATE, run_cli, write_checkpoint

from ckptguard.face.cli import main

Build = Callable[[Path], list[str]]


def args(*argv: str) -> Build:
    """argv with `TMP` replaced by tmp_path; `MODELS` is `--dir TMP/models`."""

    def build(tmp: Path) -> list[str]:
        out: list[str] = []
        for arg in argv:
            if arg == "MODELS":
                out += ["--dir", str(tmp / "models")]
            else:
                out.append(arg.replace("TMP", str(tmp)))
        return out

    return build


def config(text: str, *extra: str, name: str = "bad.toml", command: str = "audit") -> Build:
    """A config file holding `text` (`MODELS` -> the models dir), then `audit --config` it."""

    def build(tmp: Path) -> list[str]:
        path = tmp / name
        path.write_text(text.replace("MODELS", str(tmp / "models")))
        return [command, "--config", str(path), *extra]

    return build


def raw_config(data: bytes) -> Build:
    def build(tmp: Path) -> list[str]:
        (tmp / "bad.toml").write_bytes(data)
        return ["audit", "--config", str(tmp / "bad.toml")]

    return build


def symlinked_twice(tmp: Path) -> list[str]:
    (tmp / "alias").symlink_to(tmp / "models")
    return ["audit", "--dir", str(tmp / "models"), "--dir", str(tmp / "alias")]


CHECKPOINT = f"TMP/models/{TEMPLATE.format(step=100)}"
GOOD_DIR = '[[directory]]\npath = "MODELS"\n'

CASES = [
    # directories
    pytest.param(
        args("audit", "--dir", "TMP/nope"), ["--dir", "TMP/nope", "no such"], id="dir-missing"
    ),
    pytest.param(
        args("audit", "--dir", CHECKPOINT),
        ["--dir", CHECKPOINT, "not a directory"],
        id="dir-is-a-file",
    ),
    pytest.param(
        args("prune", "--dir", "", "--execute"), ["--dir", "''", "empty"], id="dir-empty-string"
    ),
    pytest.param(
        args("audit", "MODELS", "MODELS"), ["--dir", "TMP/models", "guarded twice"], id="dir-twice"
    ),
    pytest.param(
        symlinked_twice,
        ["--dir", "TMP/alias", "guarded twice", "TMP/models"],
        id="dir-twice-via-symlink",
    ),
    pytest.param(
        config(GOOD_DIR + GOOD_DIR), ["TMP/models", "guarded twice"], id="config-dir-twice"
    ),
    pytest.param(args("audit"), ["--dir", "[[directory]]"], id="no-directory-at-all"),
    pytest.param(
        args("run", "--dir", "TMP/nonexistent/models"),
        ["--dir", "TMP/nonexistent/models", "nor its parent TMP/nonexistent", "typo"],
        id="run-dir-parent-missing",
    ),
    pytest.param(
        args("run", "--dir", CHECKPOINT),
        ["--dir", CHECKPOINT, "not a directory"],
        id="run-dir-file",
    ),
    pytest.param(
        args("check-config", "--dir", "TMP/later"),
        ["--dir", "TMP/later", "no such directory", "226/NAMESPACE", "create it first"],
        id="check-config-dir-missing",
    ),
    pytest.param(
        config('[[directory]]\npath = "nope/models"\n', command="check-config"),
        ["TMP/nope/models", "nor its parent"],
        id="check-config-dir-parent-missing",
    ),
    pytest.param(
        args("check-config"), ["no config to check", "/etc/ckptguard"], id="check-config-nothing"
    ),
    # --keep / --min-keep
    pytest.param(args("audit", "MODELS", "--keep", "0"), ["--keep", "'0'"], id="keep-0"),
    pytest.param(args("audit", "MODELS", "--keep", "-1"), ["--keep", "'-1'"], id="keep-negative"),
    pytest.param(args("audit", "MODELS", "--keep", "abc"), ["--keep", "'abc'"], id="keep-abc"),
    pytest.param(args("audit", "MODELS", "--keep", "1.5"), ["--keep", "'1.5'"], id="keep-fraction"),
    pytest.param(args("audit", "MODELS", "--keep", ""), ["--keep", "''"], id="keep-empty"),
    pytest.param(
        args("audit", "MODELS", "--keep"), ["--keep", "expected one argument"], id="keep-no-value"
    ),
    pytest.param(
        args("audit", "MODELS", "--min-keep", "0"), ["--min-keep", "'0'"], id="min-keep-0"
    ),
    pytest.param(
        args("audit", "MODELS", "--keep", "2", "--min-keep", "3"),
        ["--min-keep 3", "--keep 2"],
        id="min-keep-above-keep",
    ),
    # --min-free
    pytest.param(
        args("audit", "MODELS", "--min-free", "150%"),
        ["--min-free", "'150%'"],
        id="min-free-150pct",
    ),
    pytest.param(
        args("audit", "MODELS", "--min-free", "100%"),
        ["--min-free", "'100%'"],
        id="min-free-100pct",
    ),
    pytest.param(
        args("audit", "MODELS", "--min-free", "1.5qq"),
        ["--min-free", "'1.5qq'"],
        id="min-free-bad-unit",
    ),
    pytest.param(
        args("audit", "MODELS", "--min-free", "-5GB"),
        ["--min-free", "'-5GB'"],
        id="min-free-negative",
    ),
    pytest.param(
        args("audit", "MODELS", "--min-free", "-1x"),
        ["--min-free", "'-1x'"],
        id="min-free-negative-x",
    ),
    pytest.param(
        args("audit", "MODELS", "--min-free", "GB"), ["--min-free", "'GB'"], id="min-free-no-number"
    ),
    pytest.param(
        args("audit", "MODELS", "--min-free", "10"),
        ["--min-free", "needs a unit", "20G (GiB, as df -h shows)", "'10'"],
        id="min-free-bare-number",
    ),
    pytest.param(
        args("run", "MODELS", "--max-size", "500"),
        ["--max-size", "needs a unit", "'500'"],
        id="max-size-bare-number",
    ),
    pytest.param(
        config('min_free = "1500000000000"\n' + GOOD_DIR),
        ["TMP/bad.toml", "min_free", "needs a unit", "'1500000000000'"],
        id="config-min-free-bare-number",
    ),
    # --settle / --keep-every
    pytest.param(
        args("audit", "MODELS", "--settle", "-1"), ["--settle", "'-1'"], id="settle-negative"
    ),
    pytest.param(
        args("audit", "MODELS", "--settle", "nan"), ["--settle", "'nan'"], id="settle-nan"
    ),
    pytest.param(
        args("audit", "MODELS", "--settle", "soon"), ["--settle", "'soon'"], id="settle-word"
    ),
    pytest.param(
        args("audit", "MODELS", "--keep-every", "-3"),
        ["--keep-every", "'-3'"],
        id="keep-every-negative",
    ),
    pytest.param(
        args("audit", "MODELS", "--keep-every", "x"), ["--keep-every", "'x'"], id="keep-every-word"
    ),
    # --pattern
    pytest.param(
        args("audit", "MODELS", "--pattern", "ckpt.keras"),
        ["--pattern", "'ckpt.keras'"],
        id="pattern-no-step",
    ),
    pytest.param(
        args("audit", "MODELS", "--pattern", "{step}-{step}.keras"),
        ["--pattern", "'{step}-{step}.keras'"],
        id="pattern-two-steps",
    ),
    pytest.param(
        args("audit", "MODELS", "--pattern", "e{1poch}-{step}.keras"),
        ["--pattern", "'e{1poch}-{step}.keras'", "not a field name"],
        id="pattern-bad-field-name",
    ),
    pytest.param(
        args("audit", "MODELS", "--keep-best", "2"),
        ["--keep-best 2", "--metric"],
        id="keep-best-without-metric",
    ),
    pytest.param(
        args("audit", "MODELS", "--keep-best", "2", "--metric", "val_loss"),
        ["--metric val_loss", "not a field of --pattern"],
        id="metric-from-nowhere",
    ),
    pytest.param(
        args("audit", "MODELS", "--metric", "val-loss", "--metrics-file", "m.csv"),
        ["--metric", "'val-loss'"],
        id="metric-bad-name",
    ),
    pytest.param(
        args("audit", "MODELS", "--mode", "lowest", "--metric", "loss", "--metrics-file", "m.csv"),
        ["--mode", "'lowest'"],
        id="mode-not-min-or-max",
    ),
    pytest.param(
        args("audit", "MODELS", "--keep-best", "-1"),
        ["--keep-best", "'-1'"],
        id="keep-best-negative",
    ),
    pytest.param(
        args("audit", "MODELS", "--metric", "loss", "--metrics-file", "missing.csv"),
        ["--metrics-file", "missing.csv"],
        id="metrics-file-missing",
    ),
    pytest.param(
        args("audit", "MODELS", "--pattern", "sub/{step}.keras"),
        ["--pattern", "'sub/{step}.keras'"],
        id="pattern-slash",
    ),
    pytest.param(
        args("audit", "MODELS", "--pattern", "{step}.keras.keep"),
        ["--pattern", "'{step}.keras.keep'"],
        id="pattern-pin-suffix",
    ),
    # config files
    pytest.param(
        config("keep = \n" + GOOD_DIR),
        ["TMP/bad.toml", "invalid TOML", "line 1"],
        id="toml-malformed",
    ),
    pytest.param(config("[[directory]\n"), ["TMP/bad.toml", "invalid TOML"], id="toml-bad-table"),
    pytest.param(raw_config(b"\xff\xfekeep = 3\n"), ["TMP/bad.toml", "UTF-8"], id="toml-not-utf8"),
    pytest.param(
        config("frob = 1\n" + GOOD_DIR),
        ["TMP/bad.toml", "frob", "unknown key"],
        id="config-unknown-key",
    ),
    pytest.param(
        config("kep = 3\n" + GOOD_DIR),
        ["TMP/bad.toml", "kep: unknown key (did you mean keep?)"],
        id="config-key-typo",
    ),
    pytest.param(
        config(GOOD_DIR + "min_fre = '5G'\n"),
        ["TMP/bad.toml", "directory[0].min_fre: unknown key (did you mean min_free?)"],
        id="config-directory-key-typo",
    ),
    pytest.param(
        config("keep_last = 3\n" + GOOD_DIR),
        ["TMP/bad.toml", "keep_last: unknown key (did you mean keep?)"],
        id="config-restic-key",
    ),
    pytest.param(
        config(GOOD_DIR + "frob = 2\n"),
        ["TMP/bad.toml", "directory[0].frob", "unknown key"],
        id="config-unknown-directory-key",
    ),
    pytest.param(
        config('keep = "three"\n' + GOOD_DIR),
        ["TMP/bad.toml", "keep", "'three'"],
        id="config-keep-string",
    ),
    pytest.param(
        config("keep = true\n" + GOOD_DIR), ["TMP/bad.toml", "keep", "True"], id="config-keep-bool"
    ),
    pytest.param(
        config("keep = 0\n" + GOOD_DIR), ["TMP/bad.toml", "keep", "0"], id="config-keep-0"
    ),
    pytest.param(
        config('min_free = "1.5qq"\n' + GOOD_DIR),
        ["TMP/bad.toml", "min_free", "'1.5qq'"],
        id="config-min-free",
    ),
    pytest.param(
        config(GOOD_DIR + "min_keep = 0\n"),
        ["TMP/bad.toml", "directory[0].min_keep", "0"],
        id="config-directory-min-keep-0",
    ),
    pytest.param(
        config('pattern = "x.keras"\n' + GOOD_DIR),
        ["TMP/bad.toml", "pattern", "'x.keras'"],
        id="config-pattern",
    ),
    pytest.param(
        config("[[directory]]\nkeep = 2\n"),
        ["TMP/bad.toml", "directory[0].path", "required"],
        id="config-no-path",
    ),
    pytest.param(
        config('[[directory]]\npath = ""\n'),
        ["TMP/bad.toml", "directory[0].path", "''"],
        id="config-empty-path",
    ),
    pytest.param(
        config('directory = "MODELS"\n'),
        ["TMP/bad.toml", "directory"],
        id="config-directory-not-table",
    ),
    pytest.param(
        config("keep = 2\n" + GOOD_DIR + "min_keep = 3\n"),
        ["min_keep = 3", "keep = 2"],  # named as the config file spells them
        id="config-min-keep-above-keep",
    ),
    pytest.param(
        config(GOOD_DIR + "min_keep = 5\n"),
        ["min_keep = 5 must not exceed keep = 3 (the default)"],  # no flag never typed
        id="config-min-keep-above-default-keep",
    ),
    pytest.param(
        args("audit", "MODELS", "--min-keep", "5"),
        ["--min-keep 5 must not exceed --keep 3 (the default)"],
        id="min-keep-above-default-keep",
    ),
    pytest.param(
        args("audit", "--config", "TMP/missing.toml"),
        ["TMP/missing.toml", "no such file"],
        id="config-missing",
    ),
    pytest.param(
        args("audit", "--config", "TMP/models"),
        ["TMP/models", "directory"],
        id="config-is-a-directory",
    ),
    pytest.param(
        config("frob = 1\n", command="check-config"),
        ["TMP/bad.toml", "frob", "unknown key"],
        id="check-config-bad",
    ),
    # the command line itself
    pytest.param(args(), ["choose a command"], id="no-command"),
    pytest.param(args("frob"), ["'frob'", "audit"], id="unknown-subcommand"),
    pytest.param(args("purne"), ["'purne'", "did you mean prune?"], id="subcommand-typo"),
    pytest.param(args("audit", "MODELS", "--frob"), ["--frob"], id="unknown-flag"),
    pytest.param(
        args("audit", "MODELS", "--kep", "3"), ["--kep", "did you mean --keep?"], id="flag-typo"
    ),
    pytest.param(
        args("audit", "MODELS", "--mni-free=5G"),
        ["--mni-free", "did you mean --min-free?"],
        id="flag-typo-with-equals",
    ),
    pytest.param(
        args("audit", "MODELS", "--execute"),
        ["--execute", "audit never deletes", "prune --execute"],
        id="execute-on-audit",
    ),
    pytest.param(
        args("prune", "MODELS", "--dry-run"),
        ["--dry-run", "prune previews by default", "add --execute"],
        id="dry-run-on-prune",
    ),
    pytest.param(
        args("prune", "MODELS", "--keep-last", "3"),
        ["--keep-last", "--keep N keeps the N newest"],
        id="restic-keep-last",
    ),
    pytest.param(args("audit", "MODELS", "extra"), ["extra"], id="stray-argument"),
]

SUBPROCESS_IDS = {
    "dir-missing",
    "run-dir-parent-missing",
    "min-free-bare-number",
    "dry-run-on-prune",
    "keep-abc",
    "min-free-negative",
    "toml-malformed",
    "unknown-subcommand",
    "no-command",
}


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    models = tmp_path / "models"
    models.mkdir()
    write_checkpoint(models, 100)
    return tmp_path


def assert_one_error_line(code: int, out: str, err: str, expected: list[str], tmp: Path) -> None:
    assert "Traceback" not in err + out
    assert code == 2, (out, err)
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    (line,) = lines
    assert line.startswith("ckptguard: error: ")
    for fragment in expected:
        assert fragment.replace("TMP", str(tmp)) in line, line


@pytest.mark.parametrize(("build", "expected"), CASES)
def test_bad_input_exits_2_with_one_error_line(
    build: Build, expected: list[str], tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """main(argv) on bad input: exit 2, one 'ckptguard: error:' line naming key and value."""
    argv = build(tmp)
    before = sorted(os.listdir(tmp / "models"))
    code = main(argv)
    captured = capsys.readouterr()
    assert_one_error_line(code, captured.out, captured.err, expected, tmp)
    assert sorted(os.listdir(tmp / "models")) == before


@pytest.mark.parametrize(("build", "expected"), [c for c in CASES if c.id in SUBPROCESS_IDS])
def test_bad_input_as_subprocess_never_shows_a_traceback(
    build: Build, expected: list[str], tmp: Path
) -> None:
    """`python -m ckptguard` on bad input: exit 2, one error line, no traceback on the terminal."""
    done = run_cli(*build(tmp))
    assert_one_error_line(done.returncode, done.stdout, done.stderr, expected, tmp)


def test_every_problem_in_a_config_gets_its_own_line(
    tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A config with three bad keys: exit 2, exactly three error lines, one per key."""
    path = tmp / "bad.toml"
    path.write_text('keep = 0\nmin_free = "9qq"\nfrob = 1\n' + GOOD_DIR)
    assert main(["audit", "--config", str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3
    assert all(line.startswith("ckptguard: error: ") for line in lines)
    for key in ("keep", "min_free", "frob"):
        assert sum(f": {key}:" in line for line in lines) == 1, (key, lines)


# --- without the power to ignore permission bits ------------------------------------
#
# As root, permission bits stop nothing, so the command runs under `setpriv` with
# CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH removed from its bounding set: still uid 0,
# but bound by file modes like any user. (Switching to uid 65534 is not portable: the
# interpreter may live under root's 0700 home.) Without root, we already are unprivileged.


@pytest.fixture(scope="module")
def unprivileged() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run `python -m ckptguard ARGV` unable to override file permissions."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip(
                "running as root and setpriv (util-linux) is missing: cannot drop privilege"
            )
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search"]

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*prefix, sys.executable, "-m", "ckptguard", *argv],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    probe = run("--version")
    if probe.returncode != 0:
        pytest.skip(f"cannot run ckptguard without privileges: {probe.stderr.strip()[-200:]}")
    return run


def test_unreadable_config_is_a_usage_error(
    tmp: Path, unprivileged: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    """A config the user may not read: exit 2, one line 'config FILE: permission denied'."""
    path = tmp / "secret.toml"
    path.write_text("keep = 3\n")
    path.chmod(0o000)
    done = unprivileged("audit", "--config", str(path))
    assert_one_error_line(
        done.returncode, done.stdout, done.stderr, [str(path), "permission denied"], tmp
    )


def test_a_default_config_this_user_cannot_read_is_never_skipped(
    tmp: Path,
    unprivileged: Callable[..., subprocess.CompletedProcess[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The default config (here named by $CKPTGUARD_CONFIG), unreadable: exit 2, one line
    naming it and how to read none; a service must not guard with another policy."""
    path = tmp / "ckptguard.toml"
    path.write_text("keep = 3\n")
    path.chmod(0o000)
    monkeypatch.setenv("CKPTGUARD_CONFIG", str(path))
    done = unprivileged("audit", "--dir", str(tmp / "models"))
    assert_one_error_line(
        done.returncode,
        done.stdout,
        done.stderr,
        [str(path), "permission denied", "CKPTGUARD_CONFIG= with nothing after it"],
        tmp,
    )


def test_unreadable_directory_is_a_usage_error(
    tmp: Path, unprivileged: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    """A directory the user may not list: exit 2, one line naming --dir and the reason."""
    models = tmp / "models"
    models.chmod(0o111)  # traversable, not listable
    try:
        done = unprivileged("audit", "--dir", str(models))
    finally:
        models.chmod(0o755)
    assert_one_error_line(
        done.returncode, done.stdout, done.stderr, ["--dir", str(models), "ermission denied"], tmp
    )


def test_run_on_a_directory_it_cannot_read_is_a_usage_error(
    tmp: Path, unprivileged: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    """`run` on a directory the user may not list: exit 2 at once, one line, no waiting."""
    models = tmp / "models"
    models.chmod(0o311)  # traversable and writable, not listable
    try:
        done = unprivileged("run", "--dir", str(models))
    finally:
        models.chmod(0o755)
    assert_one_error_line(
        done.returncode, done.stdout, done.stderr, ["--dir", str(models), "cannot read it"], tmp
    )


def test_run_on_a_directory_it_cannot_write_is_a_usage_error(
    tmp: Path, unprivileged: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    """`run` (and `prune --execute`) where the user may not delete: exit 2, one line;
    `run --dry-run` and `audit` need only to read, and start."""
    models = tmp / "models"
    models.chmod(0o555)
    try:
        for argv in (("run", "--dir", str(models)), ("prune", "--execute", "--dir", str(models))):
            done = unprivileged(*argv)
            assert_one_error_line(
                done.returncode, done.stdout, done.stderr, [str(models), "cannot delete"], tmp
            )
        assert unprivileged("audit", "--dir", str(models)).returncode == 0
    finally:
        models.chmod(0o755)

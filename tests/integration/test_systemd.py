"""The systemd units in ckptguard/systemd/: they verify, they are tightly sandboxed, their
config checks.

`systemd-analyze verify` insists that every ExecStart= binary exists, so the tests verify
copies whose /usr/local/bin/ckptguard points at the ckptguard installed with this
interpreter; the shipped files keep /usr/local/bin/ckptguard.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import run_cli

from ckptguard.face.config import FileOptions, load_file

SYSTEMD_DIR = Path(__file__).resolve().parents[2] / "ckptguard" / "systemd"
EXAMPLE = SYSTEMD_DIR / "ckptguard.toml.example"
SHIPPED_BINARY = "/usr/local/bin/ckptguard"
KILL = "/bin/kill"
INSTANCE = "ckptguard@srv-models.service"  # systemd-escape --path /srv/models
MAX_EXPOSURE = 1.5

# The least-privilege drop-in documented in the units and docs/service.md.
USER_DROP_IN = "\n[Service]\nUser=alice\nGroup=alice\nCapabilityBoundingSet=\n"

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None,
    reason="systemd-analyze is not installed (it comes with the distribution's systemd package)",
)


def installed_ckptguard() -> str:
    """The `ckptguard` console script of the running interpreter's environment."""
    beside = Path(sys.executable).parent / "ckptguard"
    if beside.is_file():
        return str(beside)
    found = shutil.which("ckptguard")
    if found is None:
        pytest.skip("the ckptguard console script is not installed")
    return found


def unit_copies(tmp_path: Path, *, extra: str = "") -> dict[str, Path]:
    """Both units copied into tmp_path with a real ExecStart binary, keyed by unit name.

    The template is copied under its own name; the instance is found through it.
    """
    binary = installed_ckptguard()
    # ExecReload= runs /bin/kill, which a slim CI image may lack (it comes with procps).
    kill = KILL if os.access(KILL, os.X_OK) else shutil.which("kill") or shutil.which("true")
    for name in ("ckptguard.service", "ckptguard@.service"):
        text = (SYSTEMD_DIR / name).read_text()
        assert SHIPPED_BINARY in text, f"{name} no longer runs {SHIPPED_BINARY}"
        assert f"ExecReload={KILL} -HUP $MAINPID" in text, f"{name} no longer reloads by SIGHUP"
        text = text.replace(SHIPPED_BINARY, binary).replace(KILL, kill or KILL)
        (tmp_path / name).write_text(text + extra)
    return {
        "ckptguard.service": tmp_path / "ckptguard.service",
        INSTANCE: tmp_path / INSTANCE,
    }


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    """`systemd-analyze ARGS`, output captured, never raising on a non-zero exit."""
    assert SYSTEMD_ANALYZE is not None
    return subprocess.run(
        [SYSTEMD_ANALYZE, *args], capture_output=True, text=True, timeout=120, check=False
    )


def exposure(unit: Path, *, threshold: float = MAX_EXPOSURE) -> float:
    """The overall exposure of `unit` from `systemd-analyze security --offline`, printed.

    `--threshold` takes the exposure times ten (0-100): 15 fails above 1.5.
    """
    result = analyze("security", "--offline=yes", f"--threshold={round(threshold * 10)}", str(unit))
    found = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", result.stdout)
    assert found, f"no overall exposure in:\n{result.stdout}\n{result.stderr}"
    score = float(found.group(1))
    print(f"\n{unit.name}: exposure {score} (threshold {threshold})")
    if score > threshold or result.returncode != 0:
        print(result.stdout, result.stderr)
    assert result.returncode == 0, f"{unit.name}: exposure {score} over {threshold}"
    return score


@needs_systemd_analyze
@pytest.mark.parametrize("unit", ["ckptguard.service", INSTANCE])
def test_unit_verifies(tmp_path: Path, unit: str) -> None:
    """`systemd-analyze verify` accepts the unit with no warning about it."""
    path = unit_copies(tmp_path)[unit]
    result = analyze("verify", "--man=no", str(path))
    output = result.stdout + result.stderr
    # verify exits 0 even for unknown keys, so any line naming our units is a failure.
    complaints = [line for line in output.splitlines() if "ckptguard" in line]
    if result.returncode != 0 or complaints:
        print(output)
    assert result.returncode == 0
    assert complaints == []


@needs_systemd_analyze
@pytest.mark.parametrize("unit", ["ckptguard.service", INSTANCE])
def test_exposure_within_budget(tmp_path: Path, unit: str) -> None:
    """The shipped sandbox scores an overall exposure of at most 1.5."""
    assert exposure(unit_copies(tmp_path)[unit]) <= MAX_EXPOSURE


@needs_systemd_analyze
@pytest.mark.parametrize("unit", ["ckptguard.service", INSTANCE])
def test_user_drop_in_lowers_exposure(tmp_path: Path, unit: str) -> None:
    """The documented run-as-the-owner drop-in scores lower than running as root."""
    (tmp_path / "root").mkdir()
    (tmp_path / "user").mkdir()
    as_root = exposure(unit_copies(tmp_path / "root")[unit])
    as_user = exposure(unit_copies(tmp_path / "user", extra=USER_DROP_IN)[unit])
    assert as_user < as_root


def test_template_guards_the_instance_path() -> None:
    """The template guards %f, the unescaped instance path, mounted and writable."""
    text = (SYSTEMD_DIR / "ckptguard@.service").read_text()
    assert re.search(r"^ExecStart=\S+ run --dir %f ", text, re.MULTILINE)
    assert re.search(r"^ReadWritePaths=%f$", text, re.MULTILINE)
    assert re.search(r"^RequiresMountsFor=%f$", text, re.MULTILINE)
    assert "%I" not in text


@pytest.mark.parametrize("unit", ["ckptguard.service", "ckptguard@.service"])
def test_units_leave_proc_locks_visible(unit: str) -> None:
    """No ProcSubset=pid: /proc/locks must show who holds a directory's lock."""
    text = (SYSTEMD_DIR / unit).read_text()
    assert not re.search(r"^ProcSubset=", text, re.MULTILINE)


def test_example_config_is_accepted(tmp_path: Path) -> None:
    """`ckptguard check-config` accepts the shipped example config, its directories made."""
    text = EXAMPLE.read_text()
    for path in ("/srv/models", "/data/checkpoints/llm"):
        assert f'path = "{path}"' in text
        (tmp_path / path.lstrip("/")).mkdir(parents=True)
        text = text.replace(f'path = "{path}"', f'path = "{tmp_path}{path}"')
    text = text.replace('state_dir = "/var/lib/ckptguard"', f'state_dir = "{tmp_path}/state"')
    (tmp_path / "ckptguard.toml").write_text(text)
    result = run_cli("check-config", "--config", str(tmp_path / "ckptguard.toml"))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "OK, 2 directories" in result.stdout


def test_example_config_covers_every_key() -> None:
    """The example sets every top-level key and holds two [[directory]] entries."""
    options = load_file(str(EXAMPLE))
    assert options.model_fields_set == set(FileOptions.model_fields)
    assert len(options.directory) == 2


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('keep = 3\n[[directory]\npath = "/srv/models"\n', "invalid TOML"),
        ('kept = 3\n[[directory]]\npath = "/srv/models"\n', "kept: unknown key"),
        ('keep = 0\n[[directory]]\npath = "/srv/models"\n', "keep:"),
    ],
    ids=["bad-toml", "unknown-key", "keep-zero"],
)
def test_broken_config_is_rejected(tmp_path: Path, content: str, fragment: str) -> None:
    """A broken config exits 2 with a single `ckptguard: error:` line naming the problem."""
    config = tmp_path / "ckptguard.toml"
    config.write_text(content)
    result = run_cli("check-config", "--config", str(config))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ckptguard: error: "), lines[0]
    assert fragment in lines[0]


def test_template_validates_exactly_what_it_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The template checks `--dir %f` against the default config, which then needs no
    [[directory]] entry; a drop-in in conf.d/ is read too."""
    text = (SYSTEMD_DIR / "ckptguard@.service").read_text()
    assert re.search(r"^ExecStartPre=\S+ check-config --dir %f$", text, re.MULTILINE)
    config = tmp_path / "ckptguard.toml"
    config.write_text('keep = 4\nmin_free = "10%"\n')
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "50-keep.toml").write_text("keep = 6\n")
    monkeypatch.setenv("CKPTGUARD_CONFIG", str(config))  # stands for /etc/ckptguard/...
    without_dir = run_cli("check-config")
    assert without_dir.returncode == 2
    with_dir = run_cli("check-config", "--dir", str(tmp_path))
    assert with_dir.returncode == 0, with_dir.stderr
    assert "keep the 6 newest valid (keep = 6)" in with_dir.stdout


# The drop-in the units and docs/observability.md give for --metrics-listen.
METRICS_DROP_IN = (
    "\n[Service]\nPrivateNetwork=no\nRestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n"
    "IPAddressAllow=localhost\n"
)


@pytest.mark.parametrize("unit", ["ckptguard.service", "ckptguard@.service"])
def test_units_keep_network_isolation_and_document_opening_it(unit: str) -> None:
    """No network unless a drop-in opens it for --metrics-listen; status files in a
    runtime directory of their own."""
    text = (SYSTEMD_DIR / unit).read_text()
    for line in ("PrivateNetwork=yes", "RestrictAddressFamilies=AF_UNIX", "IPAddressDeny=any"):
        assert re.search(f"^{line}$", text, re.MULTILINE), line
    for line in METRICS_DROP_IN.strip().splitlines():
        assert f"#   {line}" in text, line
    assert re.search(r"^RuntimeDirectory=ckptguard(/%i)?$", text, re.MULTILINE)


@needs_systemd_analyze
@pytest.mark.parametrize("unit", ["ckptguard.service", INSTANCE])
def test_metrics_drop_in_verifies(tmp_path: Path, unit: str) -> None:
    """The documented drop-in for --metrics-listen is a unit systemd accepts."""
    path = unit_copies(tmp_path, extra=METRICS_DROP_IN)[unit]
    result = analyze("verify", "--man=no", str(path))
    complaints = [
        line for line in (result.stdout + result.stderr).splitlines() if "ckptguard" in line
    ]
    assert result.returncode == 0 and complaints == [], result.stdout + result.stderr

"""What an installation gets: units written for its own executable that systemd-analyze
verifies, the example config, completion scripts that shells load, and a man page."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import run_cli

from ckptguard.face.parser import build_parser

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
BIN = Path(sys.executable).parent


def test_service_print_runs_this_installation() -> None:
    """`service print` names the ckptguard of this environment, not /usr/local/bin."""
    for name in ("ckptguard.service", "ckptguard@.service"):
        done = run_cli("service", "print", name)
        assert done.returncode == 0, done.stderr
        assert "/usr/local/bin/ckptguard" not in done.stdout.replace("As shipped, it runs", "")
        assert f"ExecStart={BIN / 'ckptguard'} run" in done.stdout
    example = run_cli("service", "print", "ckptguard.toml")
    assert "[[directory]]" in example.stdout


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")
def test_installed_units_verify(tmp_path: Path) -> None:
    """`service install` writes both units and the example; `systemd-analyze verify`
    accepts the units with no complaint, and a second install changes nothing."""
    units, config = tmp_path / "units", tmp_path / "etc"
    done = run_cli("service", "install", "--unit-dir", str(units), "--config-dir", str(config))
    assert done.returncode == 0, done.stderr
    assert (config / "ckptguard.toml.example").is_file() and (config / "conf.d").is_dir()
    instance = units / "ckptguard@srv-models.service"
    instance.symlink_to(units / "ckptguard@.service")
    for unit in (units / "ckptguard.service", instance):
        result = subprocess.run(
            [SYSTEMD_ANALYZE or "", "verify", "--man=no", str(unit)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        complaints = [
            line for line in (result.stdout + result.stderr).splitlines() if "ckptguard" in line
        ]
        assert result.returncode == 0 and complaints == [], result.stdout + result.stderr
    again = run_cli("service", "install", "--unit-dir", str(units), "--config-dir", str(config))
    assert again.returncode == 0, again.stderr


def test_install_never_replaces_a_changed_unit_silently(tmp_path: Path) -> None:
    """A unit edited by the admin: exit 2 with one line, unless --force."""
    units = tmp_path / "units"
    argv = ("service", "install", "--unit-dir", str(units), "--config-dir", str(tmp_path / "etc"))
    assert run_cli(*argv).returncode == 0
    (units / "ckptguard.service").write_text("[Service]\nExecStart=/bin/true\n")
    refused = run_cli(*argv)
    assert refused.returncode == 2
    assert refused.stderr.strip().endswith("exists and differs; --force replaces it")
    assert run_cli(*argv, "--force").returncode == 0
    assert "ExecStart=/bin/true" not in (units / "ckptguard.service").read_text()


def complete_in_bash(line: str) -> list[str]:
    """What bash completes for `line`, with the script `ckptguard completion bash` printed."""
    script = f"""
source <({BIN / "ckptguard"} completion bash)
complete -p ckptguard >/dev/null || exit 9
COMP_LINE={line!r}; COMP_POINT=${{#COMP_LINE}}
read -ra COMP_WORDS <<< "$COMP_LINE"
[[ "$COMP_LINE" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
_python_argcomplete ckptguard "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=60, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    return [word.strip() for word in done.stdout.split()]


def test_bash_loads_the_completion_and_completes() -> None:
    """bash sources the script and completes commands and each command's options."""
    assert "prune" in complete_in_bash("ckptguard pru")
    assert "--keep" in complete_in_bash("ckptguard audit --ke")
    assert "--execute" in complete_in_bash("ckptguard prune --ex")


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts(shell: str) -> None:
    """The zsh and fish scripts are printed, and parse in their shell where it is installed."""
    done = run_cli("completion", shell)
    assert done.returncode == 0 and "ckptguard" in done.stdout
    found = shutil.which(shell)
    if found is None:
        pytest.skip(f"{shell} is not installed: the script is not parsed")
    checked = subprocess.run([found, "-n"], input=done.stdout, text=True, capture_output=True)
    assert checked.returncode == 0, checked.stderr


def test_man_page_covers_every_option_and_renders() -> None:
    """The man page names every option of every command, and groff renders it cleanly."""
    page = run_cli("man").stdout
    flags = {
        flag
        for action in build_parser()._actions
        if hasattr(action, "choices") and isinstance(action.choices, dict)
        for sub in action.choices.values()
        for sub_action in sub._actions
        for flag in sub_action.option_strings
    }
    missing = [flag for flag in flags if flag.replace("-", "\\-") not in page]
    assert not missing
    assert "EXIT STATUS" in page and "/etc/ckptguard/conf.d" in page
    groff = shutil.which("groff")
    if groff is None:
        pytest.skip("groff is not installed: the page is not rendered")
    rendered = subprocess.run(
        [groff, "-man", "-Tutf8", "-ww", "-z"], input=page, text=True, capture_output=True
    )
    assert rendered.returncode == 0 and rendered.stderr == "", rendered.stderr

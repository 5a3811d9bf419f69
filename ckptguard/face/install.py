"""What an installation needs beyond the command: the systemd units written for this
installation's executable, the example config, shell completion and the manual page.

The units and the example config ship inside the package (`ckptguard/systemd/`), so a
wheel or `pipx install` has them too. As shipped, the units run
`/usr/local/bin/ckptguard`; printed or installed from here they run the `ckptguard`
that is running now, so that `systemd-analyze verify` finds it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from importlib import resources

from ckptguard.face.usage import UsageError

UNITS = ("ckptguard.service", "ckptguard@.service")
EXAMPLE = "ckptguard.toml.example"
SHIPPED_BINARY = "/usr/local/bin/ckptguard"
KILL = "/bin/kill"


def install_command(args: argparse.Namespace) -> int:
    if args.command == "completion":
        from argcomplete.shell_integration import shellcode

        sys.stdout.write(shellcode(["ckptguard"], shell=args.shell))
        return 0
    if args.command == "man":
        from ckptguard.face.manpage import man_page
        from ckptguard.face.parser import build_parser

        sys.stdout.write(man_page(build_parser()))
        return 0
    if args.action == "print":
        name = EXAMPLE if args.name == "ckptguard.toml" else args.name
        sys.stdout.write(unit_text(name) if name in UNITS else shipped(name))
        return 0
    if args.action == "install":
        return install(args.unit_dir, args.config_dir, force=args.force)
    raise UsageError("choose an action: service print, or service install")


def shipped(name: str) -> str:
    """A file of ckptguard/systemd/ as shipped."""
    return (resources.files("ckptguard") / "systemd" / name).read_text(encoding="utf-8")


def executable() -> str:
    """This installation's `ckptguard`: the console script beside the interpreter (a
    virtualenv, pipx), else the one on PATH, else the interpreter running the module."""
    beside = os.path.join(os.path.dirname(sys.executable), "ckptguard")
    if os.access(beside, os.X_OK):
        return os.path.abspath(beside)
    found = shutil.which("ckptguard")
    return os.path.abspath(found) if found else f"{os.path.abspath(sys.executable)} -m ckptguard"


def unit_text(name: str) -> str:
    """The unit `name` running this installation's executable (and this system's kill)."""
    text = shipped(name).replace(SHIPPED_BINARY, executable())
    if not os.access(KILL, os.X_OK):
        # A minimal Debian has no /bin/kill (it comes with procps).
        kill = shutil.which("kill")
        if kill is not None:
            text = text.replace(KILL, os.path.abspath(kill))
    return f"# Written by `ckptguard service` for {executable()}.\n{text}"


def install(unit_dir: str, config_dir: str, *, force: bool) -> int:
    """Write both units (refusing to replace one that differs, unless `force`) and the
    example config beside /etc/ckptguard/ckptguard.toml, then say what to do next."""
    for name in UNITS:
        path = os.path.join(unit_dir, name)
        text = unit_text(name)
        if not force and os.path.exists(path) and _read(path) != text:
            raise UsageError(f"{path}: exists and differs; --force replaces it")
    os.makedirs(unit_dir, exist_ok=True)
    for name in UNITS:
        _write(os.path.join(unit_dir, name), unit_text(name))
    os.makedirs(os.path.join(config_dir, "conf.d"), exist_ok=True)
    example = os.path.join(config_dir, EXAMPLE)
    _write(example, shipped(EXAMPLE))
    config = os.path.join(config_dir, "ckptguard.toml")
    print(f"wrote {', '.join(os.path.join(unit_dir, n) for n in UNITS)} and {example}")
    steps = [] if os.path.exists(config) else [f"cp {example} {config}  # then edit it"]
    steps += [
        "ckptguard check-config",
        "systemctl daemon-reload",
        "systemctl enable --now ckptguard@$(systemd-escape --path /srv/models)"
        "   # one directory, or: ckptguard (all of the config's)",
    ]
    print("next:\n" + "\n".join(f"  {step}" for step in steps))
    return 0


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _write(path: str, text: str) -> None:
    temporary = f"{path}.ckptguard-new"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)

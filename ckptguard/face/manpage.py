"""The manual page, made from the parser so that it never disagrees with `--help`."""

from __future__ import annotations

import argparse
import datetime

from ckptguard import __version__

_SECTIONS = """.SH FILES
.TP
.I /etc/ckptguard/ckptguard.toml
The configuration read when no \\fB\\-\\-config\\fR is given; then every
.I /etc/ckptguard/conf.d/*.toml
in name order (a key set later wins; directories add up).
.SH ENVIRONMENT
.TP
.B CKPTGUARD_CONFIG
A configuration file to read instead of /etc/ckptguard/ckptguard.toml (its conf.d/
beside it); empty: none.
.TP
.B NO_COLOR
Set to anything: no colours on a terminal.
.TP
.B STATE_DIRECTORY
Where remembered metric values live (set by systemd's StateDirectory=).
.SH EXIT STATUS
0 done; 1 some deletions failed; 2 bad usage or configuration (one line naming the
option, never a traceback); 3 (audit, prune) the free\\-space target cannot be met.
.SH SEE ALSO
.BR systemd.service (5),
.BR df (1)
"""


def man_page(parser: argparse.ArgumentParser) -> str:
    """roff for `man -l`: every command with every option and its help."""
    today = datetime.date.today().isoformat()
    lines = [
        f'.TH CKPTGUARD 1 "{today}" "ckptguard {__version__}" "User Commands"',
        ".SH NAME",
        "ckptguard \\- keeps training checkpoints from filling the disk",
        ".SH SYNOPSIS",
        ".B ckptguard",
        "\\fICOMMAND\\fR [\\fIOPTIONS\\fR]",
        ".SH DESCRIPTION",
        _escape(parser.description or ""),
        ".PP",
        _escape(parser.epilog or ""),
        ".SH COMMANDS",
    ]
    for name, sub, text in _commands(parser):
        lines += [f'.SS "ckptguard {name}"', _escape(text)]
        lines += _options(sub)
    return "\n".join(lines) + "\n" + _SECTIONS


def _commands(
    parser: argparse.ArgumentParser,
) -> list[tuple[str, argparse.ArgumentParser, str]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {c.dest: c.help or "" for c in action._choices_actions}
            for name, sub in action.choices.items():
                found.append((name, sub, helps.get(name, "")))
                for inner, subsub, text in _commands(sub):
                    found.append((f"{name} {inner}", subsub, text))
    return found


def _options(parser: argparse.ArgumentParser) -> list[str]:
    lines = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) or action.help == argparse.SUPPRESS:
            continue
        if action.option_strings:
            flags = ", ".join(f"\\fB{_escape(flag)}\\fR" for flag in action.option_strings)
            metavar = action.metavar or (action.dest.upper() if action.nargs != 0 else "")
            term = f"{flags} \\fI{_escape(str(metavar))}\\fR" if metavar else flags
        else:
            term = f"\\fI{_escape(str(action.metavar or action.dest))}\\fR"
        text = (action.help or "").replace("%%", "%")
        lines += [".TP", term, _escape(text)]
    return lines


def _escape(text: str) -> str:
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text.startswith((".", "'")) else text

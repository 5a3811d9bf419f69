"""Where the state directory is when none is given."""

from __future__ import annotations

import pytest

from ckptguard.service.state import default_state_dir


@pytest.mark.parametrize(
    ("environ", "euid", "expected"),
    [
        ({"STATE_DIRECTORY": "/var/lib/ckptguard:/var/lib/other"}, 1000, "/var/lib/ckptguard"),
        ({}, 0, "/var/lib/ckptguard"),
        ({"XDG_STATE_HOME": "/x/state", "HOME": "/home/a"}, 1000, "/x/state/ckptguard"),
        ({"XDG_STATE_HOME": "relative", "HOME": "/home/a"}, 1000, "/home/a/.local/state/ckptguard"),
        ({"HOME": "/home/a"}, 1000, "/home/a/.local/state/ckptguard"),
    ],
)
def test_default_state_dir(
    environ: dict[str, str], euid: int, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$STATE_DIRECTORY (its first entry), then root's /var/lib, then the XDG state home."""
    if "HOME" in environ:
        monkeypatch.setenv("HOME", environ["HOME"])
    assert default_state_dir(environ, euid) == expected

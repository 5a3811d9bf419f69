"""`python -m ckptguard`: the same as the `ckptguard` command."""

from ckptguard.face.cli import run

run()

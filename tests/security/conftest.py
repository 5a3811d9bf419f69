"""Fixtures for the attack and fault tests; the helpers live in security_helpers.py."""

from security_helpers import mounts, start_daemon

__all__ = ["mounts", "start_daemon"]

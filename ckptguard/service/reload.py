"""What a guard keeps across a reload (SIGHUP): everything that still holds under the
new settings, and nothing planned under the old ones."""

from __future__ import annotations

import os

from ckptguard.service.events import Words
from ckptguard.service.guard import Guard
from ckptguard.service.remote_guard import RemoteGuard
from ckptguard.service.settings import GuardSpec
from ckptguard.store.local.cache import IntegrityCache


def carried_over(
    guard: Guard | RemoteGuard | None, spec: GuardSpec, words: Words, *, repoll: bool
) -> Guard | None:
    """The guard of `spec` after a reload, where one can be kept; None when a new one is
    needed. `repoll`: the choice between inotify and polling changed."""
    if isinstance(guard, RemoteGuard):
        guard.close()  # releases its lease; the new one polls and elects anew
        return None
    if guard is None:
        return None
    layout_changed = spec.layout != guard.spec.layout
    if layout_changed:
        # What was learnt about entries under the old layout means nothing now.
        guard.cache = IntegrityCache()
        guard.last_inventory = None
    moved = os.path.realpath(spec.path) != guard.real_path
    relet = spec.lease != guard.spec.lease  # closing releases the old lease
    if layout_changed or repoll or moved or relet:
        # Its watch filters on the old layout, or the path leads elsewhere now (a
        # retargeted symlink): a reload is how the new place is accepted.
        guard.close()
    guard.spec = spec
    guard.last_plan = None  # made under the old settings: plan afresh
    guard.reports.words = words
    guard.real_path = None if not guard.is_open else guard.real_path
    guard.problems.forget()
    guard.next_retry = 0.0
    guard.memory.saved = None  # the state directory may have changed: write it anew
    return guard

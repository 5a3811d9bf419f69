"""What every guard shares with the daemon that runs it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from watchdog.observers.api import BaseObserver

from ckptguard.core.planner import SharedBudget
from ckptguard.engine.cycle import Cycle
from ckptguard.engine.executors import Executor
from ckptguard.service.settings import GuardSpec, Settings


@dataclass
class Context:
    """What every guard shares with the daemon that runs it."""

    settings: Settings
    log: Any
    executor: Executor
    clock: Callable[[], float]
    # A watcher saw entry `name` (None: anything) of directory `key` change.
    wake: Callable[[str, str | None], None]
    # The shared watchdog observer of a kind ("inotify" or "poll").
    observer: Callable[[str], BaseObserver]
    # Called during long work: feeds systemd's watchdog.
    progress: Callable[[], None]
    # Asked between deletions.
    should_stop: Callable[[], bool]
    wait_lock: bool = False
    # The budget a guarded directory shares with others, with their last inventories.
    shared: Callable[[GuardSpec], SharedBudget | None] = lambda spec: None
    # Told of each completed cycle, after its deletions.
    observed: Callable[[GuardSpec, Cycle], None] = lambda spec, done: None

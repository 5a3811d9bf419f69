"""What the demo shows: plain lines anywhere, or (with rich, on a terminal) a live view
of the directory, the guard's deletions with their reasons, and the space used."""

from __future__ import annotations

import sys
import threading
from collections import deque
from typing import Any, TextIO

from ckptguard.core.units import format_size


class Plain:
    """One line per save and per deletion: for pipes, logs and terminals without rich."""

    def __init__(self, budget: int, stream: TextIO | None = None) -> None:
        self.budget = budget
        self.stream = stream or sys.stdout
        self.present: dict[str, int] = {}
        self._lock = threading.Lock()

    def say(self, text: str) -> None:
        with self._lock:
            self.stream.write(text + "\n")
            self.stream.flush()

    def used(self) -> str:
        used = sum(self.present.values())
        budget = format_size(self.budget)
        return f"{len(self.present)} held, {format_size(used)} of the {budget} budget"

    def saved(self, index: int, name: str, size: int) -> None:
        with self._lock:
            self.present[name] = size
        self.say(f"save {index:>2}: {name} ({format_size(size)}); {self.used()}")

    def deleted(self, name: str, size: int, reasons: list[str]) -> None:
        with self._lock:
            self.present.pop(name, None)
        why = "; ".join(reasons)
        self.say(f"  ckptguard deleted {name} ({format_size(size)}): {why}; {self.used()}")

    def __enter__(self) -> Plain:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class Live(Plain):
    """The same, drawn in place by rich: a space bar, the checkpoints, the last events."""

    def __init__(self, budget: int, saves: int, title: str) -> None:
        super().__init__(budget)
        from rich.console import Console
        from rich.live import Live as RichLive

        self.saves, self.title, self.done = saves, title, 0
        self.events: deque[str] = deque(maxlen=8)
        self.console = Console()
        self.live = RichLive(
            get_renderable=self._render, console=self.console, refresh_per_second=10
        )

    def say(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    def saved(self, index: int, name: str, size: int) -> None:
        with self._lock:
            self.present[name] = size
            self.done = index
            self.events.append(f"[cyan]save {index:>2}[/] {name} ({format_size(size)})")

    def deleted(self, name: str, size: int, reasons: list[str]) -> None:
        with self._lock:
            self.present.pop(name, None)
            why = "; ".join(reasons)
            self.events.append(f"[red]deleted[/] {name}: [dim]{why}[/]")

    def _render(self) -> Any:
        from rich.console import Group
        from rich.panel import Panel
        from rich.text import Text

        with self._lock:
            used = sum(self.present.values())
            held = ", ".join(sorted(self.present, key=_step)) or "nothing yet"
            lines = list(self.events)
            done = self.done
        filled = round(40 * min(used, self.budget) / self.budget) if self.budget else 0
        parts = [
            Text(f"training: save {done} of {self.saves}"),
            Text(f"space used: {format_size(used)} of the {format_size(self.budget)} budget"),
            Text.from_markup(f"[green]{'█' * filled}[/][dim]{'░' * (40 - filled)}[/]"),
            Text(f"in the directory: {held}"),
            Text(""),
            *[Text.from_markup(line) for line in lines],
        ]
        return Panel(Group(*parts), title=self.title)

    def __enter__(self) -> Live:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(None, None, None)


def _step(name: str) -> int:
    digits = "".join(c for c in name if c.isdigit())
    return int(digits or 0)

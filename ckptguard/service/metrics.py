"""Prometheus metrics: a textfile for node_exporter, and an HTTP endpoint to scrape.

prometheus_client (the `metrics` extra) is imported here only, and this module only
when `--metrics-textfile` or `--metrics-listen` is given. The loop hands over each new
set of families (`publish`); the HTTP thread serves the last one handed over, never
waiting for the loop. The textfile is written to a temporary name in its own directory
(which node_exporter ignores: it reads `*.prom` only), made readable by all (node_exporter
runs as another user), then renamed into place.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ckptguard.core.measures import Family


class _Families(Collector):
    def __init__(self) -> None:
        self.families: Sequence[Family] = ()

    def collect(self) -> Iterator[Metric]:
        for family in self.families:  # one reference read: the loop replaces, never mutates
            made: GaugeMetricFamily | CounterMetricFamily
            if family.kind == "counter":
                name = family.name.removesuffix("_total")
                made = CounterMetricFamily(name, family.help, labels=family.labels)
            else:
                made = GaugeMetricFamily(family.name, family.help, labels=family.labels)
            for labels, value in family.samples:
                made.add_metric(list(labels), value)
            yield made


class Exporter:
    """The metrics of one daemon: to a textfile, over HTTP, or both."""

    def __init__(self, *, textfile: str | None, listen: tuple[str, int] | None) -> None:
        self.textfile = textfile
        self.listen = listen
        self._families = _Families()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self._families)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    def start(self) -> None:
        """Start listening, if asked; OSError if the address cannot be had."""
        if self.listen is None:
            return
        host, port = self.listen
        self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
        self.port = self._server.server_port

    def publish(self, families: Sequence[Family]) -> str | None:
        """Serve `families` from now on and write the textfile; a message if that failed."""
        self._families.families = tuple(families)
        if self.textfile is None:
            return None
        return write_textfile(self.textfile, generate_latest(self.registry))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None


def write_textfile(path: str, data: bytes) -> str | None:
    """Replace `path` with `data`, readable by all; a message if that failed."""
    directory = os.path.dirname(path) or "."
    temporary: str | None = None
    try:
        fd, temporary = tempfile.mkstemp(prefix=".ckptguard-", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o644)
            handle.write(data)
        os.replace(temporary, path)
        temporary = None
    except OSError as error:
        return f"{path}: {error.strerror or error}"
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
    return None

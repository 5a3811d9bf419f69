"""The sd_notify protocol on real sockets."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from support import NotifyListener

from ckptguard.service.notify import Notifier


def test_no_socket_means_no_messages() -> None:
    """Without $NOTIFY_SOCKET every call is a no-op that reports False."""
    notifier = Notifier({})
    assert not notifier.enabled
    assert notifier.ready("x") is False
    assert notifier.watchdog_interval is None


def test_abstract_namespace_address_receives_messages() -> None:
    """An `@name` address is the abstract namespace; READY carries STATUS and MAINPID."""
    listener = NotifyListener()
    try:
        notifier = Notifier({"NOTIFY_SOCKET": listener.name})
        assert notifier.ready("guarding 1 directories")
        listener.wait_for("READY=1")
        assert listener.wait_for("STATUS=") == "STATUS=guarding 1 directories"
        assert listener.wait_for("MAINPID=") == f"MAINPID={os.getpid()}"
        notifier.close()
    finally:
        listener.close()


def test_filesystem_socket_path_receives_messages(tmp_path: Path) -> None:
    """A plain path in $NOTIFY_SOCKET is a filesystem socket."""
    path = tmp_path / "n.sock"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(path))
    receiver.settimeout(5)
    try:
        notifier = Notifier({"NOTIFY_SOCKET": str(path)})
        notifier.stopping()
        notifier.close()
        assert receiver.recv(1024) == b"STOPPING=1"
    finally:
        receiver.close()


def test_a_receiver_that_never_reads_does_not_block_the_sender() -> None:
    """When the receiver's queue is full, messages are dropped instead of blocking."""
    listener = NotifyListener()  # never drained in this test
    try:
        notifier = Notifier({"NOTIFY_SOCKET": listener.name})
        results = [notifier.status("x" * 1000) for _ in range(5000)]
        assert results[0] is True
        notifier.close()
        assert results[-1] is False, "the queue should have filled and the send been dropped"
    finally:
        listener.close()


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    """WATCHDOG_USEC=4000000 means a ping every 2 s; a WATCHDOG_PID for another pid disables it."""
    assert Notifier({"WATCHDOG_USEC": "4000000"}).watchdog_interval == 2.0
    assert (
        Notifier({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())}).watchdog_interval
        == 2.0
    )
    assert Notifier({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"}).watchdog_interval is None
    assert Notifier({"WATCHDOG_USEC": "0"}).watchdog_interval is None
    assert Notifier({"WATCHDOG_USEC": "soon"}).watchdog_interval is None

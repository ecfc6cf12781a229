"""gateway.sdnotify against real AF_UNIX datagram sockets (path and abstract)."""
from __future__ import annotations

import asyncio
import os
import socket
import uuid

import pytest

from gateway import sdnotify


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "CREDENTIALS_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def receiver(tmp_path, clean_env):
    """A datagram socket at a path in tmp, announced in NOTIFY_SOCKET."""
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2)
    clean_env.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


@pytest.fixture
def abstract_receiver(clean_env):
    """A datagram socket in the abstract namespace, announced as '@name'."""
    name = f"order-gateway-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(2)
    clean_env.setenv("NOTIFY_SOCKET", "@" + name)
    yield sock
    sock.close()


def recv(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


def test_not_under_systemd_is_a_quiet_no_op(clean_env):
    assert sdnotify.notify("READY=1") is False
    assert sdnotify.ready() is False
    assert sdnotify.stopping() is False
    assert sdnotify.watchdog() is False
    assert sdnotify.status("x") is False
    assert sdnotify.watchdog_interval_s() is None


def test_helpers_send_the_protocol_lines(receiver):
    assert sdnotify.ready() is True
    assert recv(receiver) == "READY=1"
    assert sdnotify.ready("serving on /run/x.sock") is True
    assert recv(receiver) == "READY=1\nSTATUS=serving on /run/x.sock"
    assert sdnotify.watchdog() is True
    assert recv(receiver) == "WATCHDOG=1"
    assert sdnotify.stopping() is True
    assert recv(receiver) == "STOPPING=1"
    assert sdnotify.notify("RELOADING=1\nMONOTONIC_USEC=1") is True
    assert recv(receiver) == "RELOADING=1\nMONOTONIC_USEC=1"


def test_status_cannot_smuggle_another_key(receiver):
    assert sdnotify.status("line one\nREADY=1") is True
    assert recv(receiver) == "STATUS=line one READY=1"


def test_abstract_socket(abstract_receiver):
    assert sdnotify.ready("up") is True
    assert recv(abstract_receiver) == "READY=1\nSTATUS=up"
    assert sdnotify.watchdog() is True
    assert recv(abstract_receiver) == "WATCHDOG=1"


def test_missing_socket_returns_false_without_raising(tmp_path, clean_env, caplog):
    clean_env.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens.sock"))
    with caplog.at_level("DEBUG", logger="gateway.sdnotify"):
        assert sdnotify.ready() is False
    assert "failed" in caplog.text
    clean_env.setenv("NOTIFY_SOCKET", f"@order-gateway-test-absent-{uuid.uuid4().hex}")
    assert sdnotify.watchdog() is False


def test_socket_that_is_not_a_datagram_socket(tmp_path, clean_env):
    path = tmp_path / "stream.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stream:
        stream.bind(str(path))
        stream.listen()
        clean_env.setenv("NOTIFY_SOCKET", str(path))
        assert sdnotify.notify("READY=1") is False


def test_unsupported_address_is_ignored(clean_env):
    clean_env.setenv("NOTIFY_SOCKET", "vsock:2:1234")
    assert sdnotify.notify("READY=1") is False
    clean_env.setenv("NOTIFY_SOCKET", "relative/path.sock")
    assert sdnotify.notify("READY=1") is False


def test_full_receiver_never_blocks(tmp_path, clean_env):
    """Nobody reads: sends fail at once (non-blocking) instead of stalling the loop."""
    path = tmp_path / "full.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
        sock.bind(str(path))
        clean_env.setenv("NOTIFY_SOCKET", str(path))
        results = [sdnotify.notify("WATCHDOG=1" + " " * 2000) for _ in range(2000)]
    assert results[0] is True
    assert results[-1] is False


def test_watchdog_interval_is_half_of_watchdog_usec(clean_env):
    clean_env.setenv("WATCHDOG_USEC", "10000000")
    assert sdnotify.watchdog_interval_s() == 5.0
    clean_env.setenv("WATCHDOG_PID", str(os.getpid()))
    assert sdnotify.watchdog_interval_s() == 5.0


def test_watchdog_pid_of_another_process_means_no_watchdog(clean_env):
    clean_env.setenv("WATCHDOG_USEC", "10000000")
    clean_env.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert sdnotify.watchdog_interval_s() is None


@pytest.mark.parametrize("usec, pid", [("0", None), ("-5", None), ("ten", None), ("", None),
                                       ("1000000", "not-a-pid")])
def test_watchdog_interval_malformed(clean_env, usec, pid):
    clean_env.setenv("WATCHDOG_USEC", usec)
    if pid is not None:
        clean_env.setenv("WATCHDOG_PID", pid)
    assert sdnotify.watchdog_interval_s() is None


def test_watchdog_loop_pings_until_cancelled(receiver):
    async def main() -> None:
        task = asyncio.ensure_future(sdnotify.watchdog_loop(0.02))
        await asyncio.sleep(0.15)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    receiver.setblocking(False)
    pings = []
    while True:
        try:
            pings.append(recv(receiver))
        except BlockingIOError:
            break
    assert len(pings) >= 4
    assert set(pings) == {"WATCHDOG=1"}


def test_watchdog_loop_stops_when_the_loop_is_blocked(receiver):
    """The point of pinging from the loop: a blocked loop sends nothing."""
    import time

    async def main() -> None:
        task = asyncio.ensure_future(sdnotify.watchdog_loop(0.02))
        await asyncio.sleep(0)          # first ping
        receiver.setblocking(False)
        assert recv(receiver) == "WATCHDOG=1"
        time.sleep(0.2)                 # block the loop: no ping may arrive meanwhile
        with pytest.raises(BlockingIOError):
            recv(receiver)
        task.cancel()

    asyncio.run(main())


def test_watchdog_loop_refuses_a_bad_period():
    with pytest.raises(ValueError):
        asyncio.run(sdnotify.watchdog_loop(0))


def test_credential_path(tmp_path, clean_env):
    (tmp_path / "citrex.key").write_text("00" * 32)
    (tmp_path / "subdir").mkdir()
    assert sdnotify.credential_path("citrex.key") is None  # no CREDENTIALS_DIRECTORY
    clean_env.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert sdnotify.credential_path("citrex.key") == str(tmp_path / "citrex.key")
    assert sdnotify.credential_path("other.key") is None
    assert sdnotify.credential_path("subdir") is None
    for bad in ("", ".", "..", "../citrex.key", "a/b"):
        assert sdnotify.credential_path(bad) is None

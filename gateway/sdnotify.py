"""A tiny sd_notify(3) client and systemd credential lookup, with no dependency.

Under systemd (`Type=notify`) the service manager passes `NOTIFY_SOCKET`: a
filesystem path, or an abstract socket name written with a leading `@`. Each
state change is one datagram of newline-separated `KEY=VALUE` lines sent over
`AF_UNIX` / `SOCK_DGRAM`. Outside systemd every call is a no-op returning False.

The watchdog (`WatchdogSec=` in the unit) arrives as `WATCHDOG_USEC` (and
`WATCHDOG_PID`, the process it is meant for). `watchdog_loop` pings from the
event loop itself, so a loop that is blocked stops feeding the watchdog and
systemd kills and restarts the service.

Nothing here raises into the caller on socket errors: a notification that
cannot be delivered is logged at debug level and reported as False. Sends are
non-blocking, so a stalled receiver can never stall the event loop.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket

log = logging.getLogger("gateway.sdnotify")

__all__ = [
    "notify", "ready", "stopping", "watchdog", "status",
    "watchdog_interval_s", "watchdog_loop", "credential_path",
]


def _address() -> str | bytes | None:
    """NOTIFY_SOCKET as an address for socket.sendto, or None when absent or unusable."""
    raw = os.environ.get("NOTIFY_SOCKET", "")
    if not raw:
        return None
    if raw.startswith("@"):
        return b"\0" + raw[1:].encode()  # abstract namespace
    if raw.startswith("/"):
        return raw
    # e.g. "vsock:CID:PORT" (systemd 253+, for VMs): not for a service on a host
    log.debug("NOTIFY_SOCKET=%r: unsupported address, not notifying", raw)
    return None


def notify(state: str) -> bool:
    """Send one datagram of `KEY=VALUE` lines; True if systemd's socket took it."""
    address = _address()
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK) as sock:
            sock.sendto(state.encode(), address)
    except OSError as exc:
        log.debug("sd_notify %r to %r failed: %s", state, os.environ.get("NOTIFY_SOCKET"), exc)
        return False
    return True


def _one_line(text: str) -> str:
    # the protocol is newline-separated: a newline in a status would start a new key
    return " ".join(text.splitlines())


def ready(status: str | None = None) -> bool:
    """Start-up is complete (`Type=notify` units are "started" only now)."""
    return notify("READY=1" if status is None else f"READY=1\nSTATUS={_one_line(status)}")


def stopping() -> bool:
    """Shutdown has begun (systemd shows the unit as deactivating)."""
    return notify("STOPPING=1")


def watchdog() -> bool:
    """Feed the watchdog."""
    return notify("WATCHDOG=1")


def status(text: str) -> bool:
    """Free-form status line shown by `systemctl status`."""
    return notify(f"STATUS={_one_line(text)}")


def watchdog_interval_s() -> float | None:
    """Recommended ping period in seconds (half of `WatchdogSec=`), or None when no
    watchdog is asked for this process (unset, zero, malformed, or WATCHDOG_PID
    naming another process)."""
    raw = os.environ.get("WATCHDOG_USEC", "")
    if not raw:
        return None
    try:
        usec = int(raw)
    except ValueError:
        log.debug("WATCHDOG_USEC=%r is not an integer: no watchdog", raw)
        return None
    if usec <= 0:
        return None
    pid = os.environ.get("WATCHDOG_PID", "")
    if pid:
        try:
            if int(pid) != os.getpid():
                return None  # meant for another process (e.g. our parent before a fork)
        except ValueError:
            log.debug("WATCHDOG_PID=%r is not an integer: no watchdog", pid)
            return None
    return usec / 2 / 1_000_000


async def watchdog_loop(period_s: float) -> None:
    """Send WATCHDOG=1 every `period_s` from the running event loop, until cancelled.

    Run it as a task: `asyncio.ensure_future(watchdog_loop(p))`. Because the
    ping is a callback of this loop, a loop blocked for longer than the
    watchdog timeout stops pinging and systemd restarts the service."""
    if period_s <= 0:
        raise ValueError("period_s must be above zero")
    while True:
        watchdog()
        await asyncio.sleep(period_s)


def credential_path(name: str) -> str | None:
    """Path of credential `name` passed by systemd (`LoadCredential=name:/src`,
    `SetCredential=`, ...), or None when there is no such credential.

    systemd puts them in $CREDENTIALS_DIRECTORY (for a system service
    `/run/credentials/<unit>/`), readable by the service's user only."""
    directory = os.environ.get("CREDENTIALS_DIRECTORY", "")
    if not directory or not name or "/" in name or name in (".", ".."):
        return None
    path = os.path.join(directory, name)
    return path if os.path.isfile(path) else None

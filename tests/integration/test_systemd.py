"""systemd integration: the unit file passes `systemd-analyze verify`, a real
`gateway run` speaks the sd_notify protocol (READY, WATCHDOG, STOPPING), and
systemd/install.sh lays out its files when run into a temporary root.

No systemd needs to be running: NOTIFY_SOCKET is a datagram socket of the test.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway.config import load_config
from tests.integration.harness import CONFIG

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "order-gateway.service"
INSTALL = REPO / "systemd" / "install.sh"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None,
    reason="systemd-analyze is not installed (Debian: apt-get install systemd)")


def _exec_start(unit_text: str) -> str:
    line = next(l for l in unit_text.splitlines() if l.startswith("ExecStart="))
    return line.split("=", 1)[1].split()[0].lstrip("-@:+!")


def _system_unit_dir() -> Path:
    for d in ("/usr/lib/systemd/system", "/lib/systemd/system"):
        if (Path(d) / "sysinit.target").exists():
            return Path(d)
    pytest.skip("systemd's own units (sysinit.target ...) are not installed")


def _verify(tmp_path: Path, unit_text: str) -> subprocess.CompletedProcess[str]:
    """`systemd-analyze verify` in a throwaway root: systemd's own units copied
    in (our unit pulls sysinit.target, network-online.target ...) and an
    executable stub at each Exec*= command's path, which verify insists exists.
    The unit file itself is checked unchanged."""
    root = tmp_path / "root"
    shutil.copytree(_system_unit_dir(), root / "usr/lib/systemd/system", symlinks=True)
    # every Exec*= command (ExecStart's gateway, ExecReload's kill) as a stub in the root
    commands = {line.split("=", 1)[1].split()[0].lstrip("-@:+!") for line in unit_text.splitlines()
                if re.match(r"Exec[A-Za-z]*=", line)}
    assert _exec_start(unit_text) in commands
    for command in commands:
        exe = root / command.lstrip("/")
        exe.parent.mkdir(parents=True, exist_ok=True)
        exe.write_text("#!/bin/sh\nexit 0\n")
        exe.chmod(0o755)
    unit = root / "etc/systemd/system/order-gateway.service"
    unit.parent.mkdir(parents=True)
    unit.write_text(unit_text)
    return subprocess.run(
        [SYSTEMD_ANALYZE, "verify", f"--root={root}", "--man=no", "--generators=no", str(unit)],
        capture_output=True, text=True, timeout=60)


@needs_analyze
def test_unit_passes_systemd_analyze_verify(tmp_path):
    result = _verify(tmp_path, UNIT.read_text())
    # verify exits 0 on unknown keys and bad values (it only warns): any output is a failure
    assert result.returncode == 0 and result.stderr.strip() == "" and result.stdout.strip() == "", \
        f"rc={result.returncode}\n{result.stdout}{result.stderr}"


@needs_analyze
def test_verify_catches_a_typo(tmp_path):
    """The check above can fail: a misspelt key shows up in the output."""
    bad = UNIT.read_text().replace("\nWatchdogSec=", "\nWatchdogSecs=")
    result = _verify(tmp_path, bad)
    assert "WatchdogSecs" in result.stderr


@needs_analyze
def test_unit_security_exposure_stays_low():
    result = subprocess.run([SYSTEMD_ANALYZE, "security", "--offline=yes", str(UNIT)],
                            capture_output=True, text=True, timeout=60)
    if result.returncode != 0 and "offline" in result.stderr.lower():
        pytest.skip(f"systemd-analyze security --offline unsupported: {result.stderr.strip()}")
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout + result.stderr)
    assert match, result.stdout + result.stderr
    # 1.4 when written; the rest is network access (venues) and PrivateUsers= (SO_PEERCRED)
    assert float(match.group(1)) <= 2.0, result.stdout


def test_unit_names_what_the_daemon_and_config_expect():
    text = UNIT.read_text()
    settings = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings.setdefault(key, value)
    assert settings["Type"] == "notify"
    assert settings["NotifyAccess"] == "main"
    assert settings["WatchdogSec"] == "10"
    assert settings["ExecStart"] == "/opt/order-gateway/.venv/bin/gateway run -c /etc/order-gateway/gateway.toml"
    # `systemctl reload`: SIGHUP, which the daemon takes as a config reload (test_reload.py)
    assert settings["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert settings["User"] == settings["Group"] == "order-gateway"
    assert "DynamicUser" not in settings  # nonce files must keep their owner
    assert settings["RuntimeDirectory"] == settings["StateDirectory"] == "order-gateway"
    config = load_config(REPO / "config" / "production.toml")
    assert config.server.socket_path == "/run/order-gateway/gateway.sock"
    venue = config.venues[0]
    assert venue.sim is None and not venue.generate_key
    assert venue.nonce_file.startswith("/var/lib/order-gateway/")
    # every strategy connection is a descriptor: room for max_connections and the rest
    from gateway.ipc.server import FD_RESERVE

    assert int(settings["LimitNOFILE"]) >= config.server.max_connections + FD_RESERVE
    # one LoadCredential= for the whole keys folder: every venue's key files, each as ID_FILE
    [credential] = [l.split("=", 1)[1] for l in text.splitlines() if l.startswith("LoadCredential=")]
    cred_id, source = credential.split(":", 1)
    assert source == "/etc/order-gateway/keys"
    assert venue.key_file == f"/run/credentials/order-gateway.service/{cred_id}_citrex.hex"
    # every secret file the example names (commented-out ones too) is one of that folder's
    named = re.findall(r"/run/credentials/order-gateway\.service/([^\"]+)",
                       (REPO / "config" / "production.toml").read_text())
    assert named and all(n.startswith(f"{cred_id}_") for n in named), named


# ---- sd_notify, end to end ----

def _recv(sock: socket.socket, deadline: float) -> str | None:
    sock.settimeout(max(0.01, deadline - time.monotonic()))
    try:
        return sock.recv(4096).decode()
    except TimeoutError:
        return None


def test_gateway_run_speaks_sd_notify(tmp_path):
    config = tmp_path / "gateway.toml"
    config.write_text(CONFIG.format(tmp=tmp_path))
    gw_sock = tmp_path / "gw.sock"
    notify_path = tmp_path / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    env = {k: v for k, v in os.environ.items() if k not in ("WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID")}
    env.update(NOTIFY_SOCKET=str(notify_path), WATCHDOG_USEC="300000")  # ping every 0.15 s
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "run", "-c", str(config)], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # READY=1 first, and only once the strategy socket is there and listening
        first = _recv(notify, time.monotonic() + 30)
        assert first is not None, f"no notification; gateway exited {proc.poll()}"
        lines = first.split("\n")
        assert lines[0] == "READY=1", first
        assert stat.S_ISSOCK(gw_sock.stat().st_mode)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.connect(str(gw_sock))
        assert f"STATUS=serving on {gw_sock}" in lines

        # then WATCHDOG=1, again and again
        pings = []
        deadline = time.monotonic() + 5
        while len(pings) < 4 and time.monotonic() < deadline:
            msg = _recv(notify, deadline)
            if msg is not None:
                pings.append(msg)
        assert pings[:4] == ["WATCHDOG=1"] * 4, pings

        # SIGTERM: STOPPING=1, then a clean exit
        proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        seen = []
        while "STOPPING=1" not in seen and time.monotonic() < deadline:
            msg = _recv(notify, deadline)
            if msg is not None:
                seen.append(msg)
        assert "STOPPING=1" in seen, seen
        assert set(seen) <= {"WATCHDOG=1", "STOPPING=1"}, seen
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
        assert not gw_sock.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        notify.close()


# ---- install.sh ----

def _mode(p: Path) -> int:
    return stat.S_IMODE(p.lstat().st_mode)


def test_install_sh_into_a_temp_root(tmp_path):
    root = tmp_path / "root"
    for run in range(2):  # idempotent: a second run changes nothing and succeeds
        result = subprocess.run(["sh", str(INSTALL), "--root", str(root), str(REPO)],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
    assert "unchanged" in result.stdout

    conf = root / "etc/order-gateway/gateway.toml"
    unit = root / "etc/systemd/system/order-gateway.service"
    assert conf.read_bytes() == (REPO / "config/production.toml").read_bytes()
    assert unit.read_bytes() == UNIT.read_bytes()
    assert _mode(conf) == 0o640
    assert _mode(unit) == 0o644
    assert _mode(root / "etc/order-gateway") == 0o750
    assert _mode(root / "etc/order-gateway/keys") == 0o700
    assert _mode(root / "etc/sysusers.d/order-gateway.conf") == 0o644
    assert "u order-gateway " in (root / "etc/sysusers.d/order-gateway.conf").read_text()
    assert not (root / "opt/order-gateway/.venv").exists()  # --root skips the venv by default
    load_config(conf)  # what the service will read parses

    # an edited config survives a re-install; the new example lands beside it
    conf.write_text(conf.read_text().replace('log_level = "info"', 'log_level = "debug"'))
    result = subprocess.run(["sh", str(INSTALL), "--root", str(root), str(REPO)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'log_level = "debug"' in conf.read_text()
    assert _mode(root / "etc/order-gateway/gateway.toml.dist") == 0o640


def test_install_sh_refuses_bad_arguments(tmp_path):
    result = subprocess.run(["sh", str(INSTALL), "--root", str(tmp_path / "r"), "--bogus"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "unknown option" in result.stderr
    result = subprocess.run(["sh", str(INSTALL), "--root", str(tmp_path / "r"), str(tmp_path)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "not an order-gateway checkout" in result.stderr

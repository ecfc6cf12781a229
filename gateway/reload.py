"""Reloading the config while the daemon runs: SIGHUP (`systemctl reload order-gateway`) and
the `reload` op (`gateway reload`).

The file the daemon started from is read and validated whole first; an invalid one (a TOML
error, an unknown key, an impossible limit, an unknown log level) changes nothing, and says
why in the log, in the op's reply and in `gateway_config_reloads_total{result="invalid"}`.
A valid one applies `[risk]` and `log_level` in one step: a new RiskLimits is built, takes
over the live state of the old one (rate buckets, reference prices), and is swapped in
wherever order entry holds it, with nothing on the event loop running in between, so every
order is checked wholly by the old limits or wholly by the new. No connection is dropped.
Other sections that changed are named in one log line as needing a restart, and stay as
they were.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from gateway.assembly import Parts
from gateway.config import Config, ConfigError, load_config
from gateway.ipc import frames as f
from gateway.risk import RiskLimits

log = logging.getLogger("gateway.reload")

# what a reload applies; every other section of Config needs a restart
APPLIED = ("risk", "log_level")


@dataclass
class ReloadResult:
    ok: bool
    error: str | None = None
    applied: list[str] = field(default_factory=list)  # sections that changed and are in force now
    needs_restart: list[str] = field(default_factory=list)  # sections that changed and are not

    def reply(self, req_id: int) -> f.ReloadReply:
        return f.ReloadReply(req_id=req_id, ok=self.ok,
                             error=None if self.ok else f.ErrorInfo("config_invalid", self.error or "invalid"),
                             applied=self.applied, needs_restart=self.needs_restart)


def _log_level(level: str) -> int:
    value = logging.getLevelName(level.upper())
    if not isinstance(value, int):
        raise ValueError(f"log_level {level!r} is not a level: debug, info, warning, error or critical")
    return value


class Reloader:
    def __init__(self, path: str | os.PathLike[str], config: Config, parts: Parts):
        self.path = path
        self.config = config  # what is in force: the start's, with each reload's [risk] and log_level
        self._parts = parts

    def reload(self) -> ReloadResult:
        """Re-read, validate, apply; never raises for a bad file (the result says why)."""
        metrics = self._parts.metrics
        try:
            new = load_config(self.path)
            level = _log_level(os.environ.get("GATEWAY_LOG_LEVEL", new.log_level))
            risk = RiskLimits(new.risk)
        except (ConfigError, ValueError, TypeError, OSError) as exc:
            metrics.config_reloaded("invalid")
            log.error("config reload: %s is invalid, nothing changed: %s", self.path, exc)
            return ReloadResult(False, str(exc))
        old = self.config
        changed = [name for name in Config.__struct_fields__ if getattr(new, name) != getattr(old, name)]
        applied = [name for name in changed if name in APPLIED]
        needs_restart = [name for name in changed if name not in APPLIED]
        # one step from here: nothing awaits, so no order sees half of it
        if "risk" in applied:
            parts = self._parts
            risk.adopt(parts.risk)  # the live state: rate buckets, prices, positions, open orders' sums
            parts.swap_risk(risk)
            parts.states.configure(new.risk)
        if "log_level" in applied:
            logging.getLogger().setLevel(level)
        self.config = _merged(old, new)
        metrics.config_reloaded("ok")
        log.warning("config reloaded from %s: %s", self.path,
                    f"applied {', '.join(applied)}" if applied else "no change to [risk] or log_level")
        if needs_restart:
            log.warning("config reload: changed %s: not applied, they need a restart", ", ".join(needs_restart))
        return ReloadResult(True, None, applied, needs_restart)


def _merged(old: Config, new: Config) -> Config:
    import msgspec

    return msgspec.structs.replace(old, **{name: getattr(new, name) for name in APPLIED})

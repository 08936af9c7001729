"""Live reload of queues, routing rules and away reasons, without dropping a contact.

The watcher looks at `queues.toml`, `routing.toml` and `reasons.toml` every few seconds (and
at once on SIGHUP). A change is loaded and checked in full first: a file with an error is
rejected, the error logged with its file and key, and the hub carries on with what it had. A
reload that would remove a queue still holding waiting contacts is refused too, so nobody is
left in a queue routing no longer serves. Other settings (ports, storage, logging) need a
restart.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import structlog

from contactcenter.core.errors import ConfigError
from contactcenter.settings.hub import ROUTING_FILES, HubSettings, load_routing
from contactcenter.settings.reasons import load_reasons

log = structlog.get_logger("contactcenter.settings.reload")

Apply = Callable[[HubSettings], Awaitable[None]]
QueueLength = Callable[[str], Awaitable[int]]


def _stamp(config_dir: Path) -> tuple[float, ...]:
    stamps = []
    for name in ROUTING_FILES:
        try:
            stamps.append((config_dir / name).stat().st_mtime)
        except FileNotFoundError:
            stamps.append(-1.0)
    return tuple(stamps)


class ConfigWatcher:
    def __init__(
        self,
        current: HubSettings,
        apply: Apply,
        queue_length: QueueLength,
        *,
        interval_s: float = 2.0,
    ) -> None:
        self.current = current
        self.apply = apply
        self.queue_length = queue_length
        self.interval_s = interval_s
        self._stamp = _stamp(current.config_dir)
        self._now = asyncio.Event()
        # When the configuration in use was loaded: this watcher starts with the one the
        # process started with, and each reload that is applied replaces it.
        self.loaded_at_ms = int(time.time() * 1000)

    async def reload(self) -> bool:
        """Load, check and apply the routing files; False (and nothing changes) on a problem."""
        try:
            queues, rules, default_route = load_routing(self.current.config_dir)
            reasons = load_reasons(self.current.config_dir)
        except ConfigError as exc:
            log.error("config_reload_rejected", problem=exc.message)
            return False
        kept = {q.name for q in queues}
        for q in self.current.queues:
            if q.name not in kept and await self.queue_length(q.name):
                log.error(
                    "config_reload_rejected",
                    problem=f"queue {q.name} still has waiting contacts; drain it first",
                )
                return False
        new = replace(
            self.current,
            queues=queues,
            rules=rules,
            default_route=default_route,
            reasons=reasons,
        )
        await self.apply(new)
        self.current = new
        self.loaded_at_ms = int(time.time() * 1000)
        log.info(
            "config_reloaded",
            queues=[q.name for q in queues],
            rules=len(rules),
            reasons=list(reasons.codes),
        )
        return True

    def request(self) -> None:
        """Reload at once (SIGHUP)."""
        self._now.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGHUP, self.request)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread, or no signals here: polling still works
        while True:
            try:
                await asyncio.wait_for(self._now.wait(), timeout=self.interval_s)
            except TimeoutError:
                pass
            forced = self._now.is_set()
            self._now.clear()
            stamp = _stamp(self.current.config_dir)
            if forced or stamp != self._stamp:
                self._stamp = stamp
                await self.reload()

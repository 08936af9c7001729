"""The Redis keys of the console side's own state: rate-limit counters and the stream of
live signals (`WidgetKeys`). Built here rather than in routing/keys.py, which holds routing's
own."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class WidgetKeys:
    """The widget's Redis keys. Built here rather than in routing/keys.py, which holds
    routing's own; they share its prefix `cc:{domain}`, so they live in the domain's hash
    slot like every other key of the hub (and are deleted with a test's domain)."""

    domain: str

    @property
    def prefix(self) -> str:
        return f"cc:{{{self.domain}}}"

    def limit(self, what: str, who: str, window: int) -> str:
        """Counter of `what` (messages, connections...) by `who` in fixed window `window`.
        `who` is hashed: visitor ids and addresses are not kept in Redis as they are."""
        digest = hashlib.sha256(who.encode()).hexdigest()[:20]
        return f"{self.prefix}:limit:{what}:{digest}:{window}"

    @property
    def live(self) -> str:
        """The stream of ephemeral signals (typing, read marks): capped, never stored."""
        return f"{self.prefix}:live"

"""The Lua scripts of routing, loaded once per client, and the plumbing to run them."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from typing import Any

from redis.asyncio import RedisCluster
from redis.commands.core import AsyncScript

from contactcenter.core import events as ev
from contactcenter.core.redisconn import RedisClient
from routing.keys import Keys
from routing.snapshot import SnapshotReader
from routing.status import LiveContact

_SCRIPTS = (
    "enqueue",
    "offer",
    "accept",
    "requeue",
    "abandon",
    "end_conversation",
    "wrapup",
    "agent_state",
    "next_state",
    "agent_profile",
    "escalate",
    "transfer_queue",
    "transfer_agent",
    "reprioritize",
    "heartbeat",
    "customer_seen",
    "restore",
    "overflow",
    "broadcast",
    "broadcast_accept",
    "broadcast_release",
    "snapshot",
)


def _script_source(name: str) -> str:
    lua = resources.files("routing.lua")
    return lua.joinpath("_prelude.lua").read_text() + "\n" + lua.joinpath(f"{name}.lua").read_text()


class ScriptStore:
    """Runs the routing scripts of one domain; every script call goes through `_run`."""

    def __init__(self, redis: RedisClient, domain: str) -> None:
        self.redis = redis
        self.keys = Keys(domain)
        self._scripts: dict[str, AsyncScript] = {
            # redis-py types register_script's `self` as Redis, but AsyncScript serves
            # RedisCluster too: EVALSHA goes to the keys' slot, SCRIPT LOAD to every primary.
            name: redis.register_script(_script_source(name))  # type: ignore[misc]
            for name in _SCRIPTS
        }
        self._snapshots = SnapshotReader(self._scripts["snapshot"], self.keys)

    def _event_args(self, event: ev.Event) -> list[str]:
        f = ev.encode_event(event)
        return [f["id"], f["type"], f["at_ms"], f["data"]]

    async def _run(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> int:
        return int(await self._scripts[name](keys=list(keys), args=[str(a) for a in args]))

    async def _run_many(
        self, name: str, calls: Sequence[tuple[Sequence[str], Sequence[Any]]]
    ) -> list[int]:
        """Several calls of one script in one round trip, run in order, each still its own
        atomic script with its own checks (a pipeline, not a transaction)."""
        if not calls:
            return []
        if isinstance(self.redis, RedisCluster):
            # redis-py refuses scripts in cluster pipelines: one round trip each, in order.
            return [await self._run(name, keys, args) for keys, args in calls]
        pipe = self.redis.pipeline(transaction=False)
        script = self._scripts[name]
        for keys, args in calls:
            await script(keys=list(keys), args=[str(a) for a in args], client=pipe)
        return [int(r) for r in await pipe.execute()]

    async def contact(self, contact_id: str) -> LiveContact | None:
        h = await self.redis.hgetall(self.keys.contact(contact_id))  # type: ignore[misc]
        return LiveContact.from_hash(h) if h else None

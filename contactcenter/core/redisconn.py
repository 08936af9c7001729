"""The one way the hub makes a Redis client: a single server or a Redis Cluster, by URL.

The convention (DESIGN decisions 2 and 8): an ordinary `redis://` or `rediss://` URL names one
server; adding the query parameter `cluster=true` names a Redis Cluster, given by the address
of any one of its nodes, from which the client discovers the rest:

    redis://127.0.0.1:6379/0                single server, database 0
    redis://10.0.0.7:7000?cluster=true      a cluster (database 0 only, as Cluster allows)

`cluster` also takes 1/yes and false/0/no; it is removed before the URL reaches redis-py, which
would otherwise pass it on as an unknown connection argument. Every other query parameter is
redis-py's own. Both kinds of client decode replies to `str`.

A hub process bounds its connections (`max_connections`): redis-py's pools open a connection
for every command running at once and never close one, so a burst (a thousand consoles
reconnecting at once) would leave a thousand connections open for good. Past the bound a
command waits for a connection to come free, at most `pool_timeout_s`, then fails as if Redis
were down. On a single server that is redis-py's `BlockingConnectionPool`; a cluster client
has no waiting pool (past its per-node maximum it raises at once), so `BoundedRedisCluster`
lets at most `max_connections` commands and pipelines run at once and makes the others wait.
Every connection carries the process's name (`CLIENT SETNAME`), so `CLIENT LIST` shows whose
it is.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeAlias
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.asyncio.cluster import ClusterPipeline
from redis.exceptions import ConnectionError as RedisConnectionError

RedisClient: TypeAlias = Redis | RedisCluster

CLUSTER_PARAM = "cluster"
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no", "")
_HEALTH_CHECK_INTERVAL_S = 30
# Connections per cluster node beyond the bound on commands: the cluster client reads the
# slot layout over a connection of its own while a command waits for it.
_NODE_HEADROOM = 4


def split_cluster_flag(url: str) -> tuple[str, bool]:
    """`url` without its `cluster` query parameter, and whether that parameter asked for a
    cluster. Raises ValueError naming the parameter when its value is not a boolean."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    flags = [value.strip().lower() for name, value in query if name == CLUSTER_PARAM]
    if not flags:
        return url, False
    if any(flag not in _TRUE + _FALSE for flag in flags):
        raise ValueError(f"Redis URL parameter '{CLUSTER_PARAM}' must be true or false")
    rest = urlencode([(name, value) for name, value in query if name != CLUSTER_PARAM])
    return urlunsplit(parts._replace(query=rest)), flags[-1] in _TRUE


def is_cluster_url(url: str) -> bool:
    """Whether `url` names a Redis Cluster (see the module docstring)."""
    return split_cluster_flag(url)[1]


def hub_client_name(routing_domain: str) -> str:
    """The name a hub process gives its Redis connections: its routing domain, host and
    process id (no spaces, as CLIENT SETNAME requires)."""
    return f"cc-hub:{routing_domain}:{socket.gethostname()}-{os.getpid()}"


def redis_client(
    url: str,
    *,
    name: str | None = None,
    max_connections: int | None = None,
    pool_timeout_s: float = 5.0,
) -> RedisClient:
    """A client for the server or cluster `url` names; it connects on first use. With
    `max_connections`, at most that many connections (per node of a cluster), commands
    past them waiting up to `pool_timeout_s`; `name` names every connection."""
    plain_url, cluster = split_cluster_flag(url)
    options: dict[str, Any] = {
        "decode_responses": True,
        "health_check_interval": _HEALTH_CHECK_INTERVAL_S,
        "client_name": name,
    }
    if cluster:
        if max_connections is None:
            return RedisCluster.from_url(plain_url, **options)
        return BoundedRedisCluster.from_url(
            plain_url, max_commands=max_connections, wait_s=pool_timeout_s, **options
        )
    if max_connections is None:
        return Redis.from_url(plain_url, **options)
    pool = BlockingConnectionPool.from_url(
        plain_url, max_connections=max_connections, timeout=pool_timeout_s, **options
    )
    return Redis.from_pool(pool)


class BoundedRedisCluster(RedisCluster):
    """A cluster client running at most `max_commands` commands and pipelines at once; the
    others wait their turn up to `wait_s` seconds, then fail with redis-py's ConnectionError
    ("No connection available."), as a single server's `BlockingConnectionPool` does."""

    def __init__(self, *args: Any, max_commands: int, wait_s: float, **kwargs: Any) -> None:
        kwargs["max_connections"] = max_commands + _NODE_HEADROOM  # per node
        super().__init__(*args, **kwargs)
        self._turns = asyncio.Semaphore(max_commands)
        self._wait_s = wait_s

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(self._wait_s):
                await self._turns.acquire()
        except TimeoutError:
            raise RedisConnectionError("No connection available.") from None
        try:
            yield
        finally:
            self._turns.release()

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self.turn():
            return await super().execute_command(*args, **kwargs)

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> Any:
        if shard_hint:
            return super().pipeline(transaction, shard_hint)  # which refuses it
        # redis-py makes its ClusterPipeline the same way; its abstract attribute is a
        # typing artefact of the mixins it shares with the client.
        return _TurnPipeline(self, transaction)  # type: ignore[abstract]


class _TurnPipeline(ClusterPipeline):
    """A pipeline that waits for its client's turn before it runs."""

    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> Any:
        client = self.cluster_client
        assert isinstance(client, BoundedRedisCluster)
        async with client.turn():
            return await super().execute(raise_on_error, allow_redirections)

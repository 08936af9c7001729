"""The one way the hub makes a Redis client: a single server or a Redis Cluster, by URL.

The convention (DESIGN decisions 2 and 8): an ordinary `redis://` or `rediss://` URL names one
server; adding the query parameter `cluster=true` names a Redis Cluster, given by the address
of any one of its nodes, from which the client discovers the rest:

    redis://127.0.0.1:6379/0                single server, database 0
    redis://10.0.0.7:7000?cluster=true      a cluster (database 0 only, as Cluster allows)

`cluster` also takes 1/yes and false/0/no; it is removed before the URL reaches redis-py, which
would otherwise pass it on as an unknown connection argument. Every other query parameter is
redis-py's own. Both kinds of client decode replies to `str`.
"""

from __future__ import annotations

from typing import TypeAlias
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from redis.asyncio import Redis, RedisCluster

RedisClient: TypeAlias = Redis | RedisCluster

CLUSTER_PARAM = "cluster"
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no", "")
_HEALTH_CHECK_INTERVAL_S = 30


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


def redis_client(url: str) -> RedisClient:
    """A client for the server or cluster `url` names; it connects on first use."""
    plain_url, cluster = split_cluster_flag(url)
    if cluster:
        return RedisCluster.from_url(
            plain_url, decode_responses=True, health_check_interval=_HEALTH_CHECK_INTERVAL_S
        )
    return Redis.from_url(
        plain_url, decode_responses=True, health_check_interval=_HEALTH_CHECK_INTERVAL_S
    )

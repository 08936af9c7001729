"""Telling a store that is away from a bug: which exceptions mean PostgreSQL or Redis did not
answer, so that clients get `store.unavailable` (HTTP 503, or an error frame on a socket that
stays open) instead of an internal error (DESIGN decision 9)."""

from __future__ import annotations

import asyncio

import asyncpg
from redis import exceptions as redis_errors

from contactcenter.core.errors import StoreUnavailable

_STORE_FAILURES: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # refused, cut, "cannot connect now"
    asyncpg.InterfaceError,  # the connection closed under a query, the pool closing
    asyncpg.QueryCanceledError,  # statement_timeout: a server that answers too slowly
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.CannotConnectNowError,
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.BusyLoadingError,
    ConnectionError,
    TimeoutError,
    asyncio.TimeoutError,
    OSError,
)


def is_store_failure(exc: BaseException) -> bool:
    """Whether `exc` says a store did not answer, rather than that the code is wrong."""
    return isinstance(exc, _STORE_FAILURES)


def store_unavailable(exc: BaseException) -> StoreUnavailable:
    """The client's view of a store failure: which store when that is known, never the
    server's words (they may quote a statement and its values)."""
    store = None
    if isinstance(exc, redis_errors.RedisError):
        store = "redis"
    elif isinstance(exc, (asyncpg.PostgresError, asyncpg.InterfaceError)):
        store = "postgres"
    return StoreUnavailable("a store is not answering; try again shortly", store=store)

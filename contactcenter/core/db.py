"""PostgreSQL: the connection pool and schema migrations.

Migrations are the numbered `.sql` files of `contactcenter/migrations`, applied in order, each
in its own transaction, under an advisory lock so that hub processes starting together apply
each one exactly once.
"""

from __future__ import annotations

from importlib import resources

import asyncpg
import structlog

log = structlog.get_logger("contactcenter.core.db")

_MIGRATION_LOCK = 7_201_553  # advisory lock key: any constant shared by every hub process


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """What a connection goes back to the pool with: as it is. asyncpg's default reset runs
    a query (RESET ALL, UNLISTEN, advisory unlock...) on every release, one more round trip
    for every pooled query. The hub leaves no session state behind: settings are SET LOCAL,
    locks are transaction-scoped or released in a finally, nobody LISTENs; an open
    transaction is still rolled back by asyncpg itself."""


async def create_pool(
    database_url: str, *, size: int = 10, statement_timeout_s: float | None = None
) -> asyncpg.Pool:
    """A pool whose queries end within `statement_timeout_s` (None: 30 s, for the CLI's long
    work): PostgreSQL cancels a statement that runs longer, and asyncpg gives up on a server
    that does not answer at all (a hung one) a second after, so that a request gets
    `store.unavailable` instead of waiting for ever."""
    timeout_s = 30.0 if statement_timeout_s is None else statement_timeout_s
    pool = await asyncpg.create_pool(
        database_url,
        min_size=1,
        max_size=size,
        command_timeout=timeout_s + 1,
        timeout=min(timeout_s, 10.0),  # to open a connection
        server_settings={"statement_timeout": str(int(timeout_s * 1000))},
        reset=_keep_session,
    )
    assert pool is not None
    return pool


def migration_files() -> list[tuple[str, str]]:
    folder = resources.files("contactcenter.migrations")
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".sql"))
    return [(name.removesuffix(".sql"), folder.joinpath(name).read_text()) for name in names]


async def migrate(pool: asyncpg.Pool) -> list[str]:
    """Apply the migrations not yet applied; returns their versions."""
    applied_now: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for version, sql in migration_files():
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version) VALUES ($1)", version
                    )
                log.info("migration_applied", version=version)
                applied_now.append(version)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return applied_now

"""Where a command's Redis and PostgreSQL come from: the environment, the embedded servers a
running hub already runs in the data folder, or embedded servers of its own."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import replace

import structlog

from contactcenter.site_settings import SiteSettings

log = structlog.get_logger("contactcenter.cli")


@contextlib.contextmanager
def storage(
    settings: SiteSettings, *, redis: bool = True, share: bool = True
) -> Iterator[SiteSettings]:
    """`settings` with storage URLs: the environment's; else, with `share`, those of the
    embedded servers another contactcenter process runs in the data folder (`make run` in
    another terminal); else embedded servers started here and stopped on the way out (Redis
    only when `redis`). Raises EmbeddedServerError, whose message says what to do."""
    need_redis, need_pg = redis and settings.redis_url is None, settings.database_url is None
    if not (need_redis or need_pg):
        yield settings
        return
    from contactcenter.embedded.servers import EmbeddedServersInUse, EmbeddedServices

    services = EmbeddedServices(
        settings.data_dir,
        start_redis=need_redis,
        start_postgres=need_pg,
        redis_port=settings.embedded_redis_port,
        postgres_port=settings.embedded_postgres_port,
        command=" ".join(["contactcenter", *sys.argv[1:3]]),
    )
    if share and (shared := _running(settings, need_redis, need_pg)) is not None:
        yield shared
        return
    log.info(
        "embedded_servers_starting",
        data_dir=str(settings.data_dir),
        redis=need_redis,
        postgres=need_pg,
    )
    try:
        urls = services.start()
    except EmbeddedServersInUse:
        # Another process took the folder between our look and our start.
        if not share or (shared := _running(settings, need_redis, need_pg)) is None:
            raise
        yield shared
        return
    try:
        yield replace(
            settings,
            redis_url=settings.redis_url or urls.redis_url,
            database_url=settings.database_url or urls.database_url,
        )
    finally:
        services.stop()
        log.info("embedded_servers_stopped")


def _running(settings: SiteSettings, need_redis: bool, need_pg: bool) -> SiteSettings | None:
    """`settings` with the URLs of the servers another live process runs in the data folder,
    or None when none does."""
    from contactcenter.embedded.servers import EmbeddedServerError, find_running

    running = find_running(settings.data_dir)
    if running is None:
        return None
    owner, urls = running.owner, running.urls
    for needed, url, what, variable in (
        (need_redis, urls.redis_url, "Redis", "REDIS_URL"),
        (need_pg, urls.database_url, "PostgreSQL", "DATABASE_URL"),
    ):
        if needed and url is None:
            raise EmbeddedServerError(
                f"{owner.command} (pid {owner.pid}) runs the embedded servers of "
                f"{settings.data_dir} but no embedded {what}: set {variable} as it was given"
            )
    log.info(
        f"using the embedded servers that {owner.command} (pid {owner.pid}) runs",
        data_dir=str(settings.data_dir),
        pid=owner.pid,
    )
    return replace(
        settings,
        redis_url=settings.redis_url or urls.redis_url,
        database_url=settings.database_url or urls.database_url,
    )

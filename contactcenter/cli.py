"""The `contactcenter` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Iterator, Sequence
from dataclasses import replace

import structlog
from aiohttp import web

from contactcenter.errors import ConfigError
from contactcenter.logs import configure_logging
from contactcenter.settings import HubSettings, settings_from_environment

DESCRIPTION = """\
An omnichannel contact-center hub: customers' chats go through skills-based routing (Redis)
to agents' live consoles (websockets), with every customer, contact and message kept in
PostgreSQL.

With REDIS_URL and DATABASE_URL unset, the hub starts its own Redis-compatible server and
PostgreSQL in the data folder (CC_DATA_DIR, default .data) and stops them when it stops.
Settings come from config/hub.toml and config/queues.toml (CC_CONFIG_DIR to use another
folder); every key has a CC_* environment variable that wins over the file."""

EPILOG = """\
examples:
  contactcenter serve                      start the hub on 127.0.0.1:8080
  CC_PORT=9000 contactcenter serve         another port
  REDIS_URL=redis://127.0.0.1:6379/0 DATABASE_URL=postgresql://127.0.0.1/cc contactcenter serve
  contactcenter check-config               validate config/ and say what is wrong
  contactcenter migrate                    apply database migrations and exit
  contactcenter services                   run only the embedded Redis and PostgreSQL
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="contactcenter",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    serve = sub.add_parser("serve", help="run the hub (HTTP, websockets, routing, history)")
    serve.add_argument("--host", help="address to bind (default from CC_HOST or hub.toml)")
    serve.add_argument("--port", type=int, help="port to bind (default from CC_PORT or hub.toml)")
    sub.add_parser("migrate", help="apply PostgreSQL schema migrations, then exit")
    sub.add_parser("check-config", help="validate the config folder and report every key's source")
    sub.add_parser("services", help="run the embedded Redis and PostgreSQL only, print their URLs")
    return parser


@contextlib.contextmanager
def storage(settings: HubSettings, *, redis: bool = True) -> Iterator[HubSettings]:
    """`settings` with storage URLs: the environment's, or embedded servers started here
    (Redis only when `redis`)."""
    need_redis, need_pg = redis and settings.redis_url is None, settings.database_url is None
    if not (need_redis or need_pg):
        yield settings
        return
    from contactcenter.embedded import EmbeddedServices

    log = structlog.get_logger("contactcenter.cli")
    log.info(
        "embedded_servers_starting",
        data_dir=str(settings.data_dir),
        redis=need_redis,
        postgres=need_pg,
    )
    services = EmbeddedServices(
        settings.data_dir,
        start_redis=need_redis,
        start_postgres=need_pg,
        redis_port=settings.embedded_redis_port,
        postgres_port=settings.embedded_postgres_port,
    )
    urls = services.start()
    try:
        yield replace(
            settings,
            redis_url=settings.redis_url or urls.redis_url,
            database_url=settings.database_url or urls.database_url,
        )
    finally:
        services.stop()
        log.info("embedded_servers_stopped")


def _serve(settings: HubSettings, args: argparse.Namespace) -> int:
    from contactcenter.app import init
    from contactcenter.seed import demo_password

    if args.host:
        settings = replace(settings, host=args.host)
    if args.port:
        settings = replace(settings, port=args.port)
    if settings.demo_seed:
        settings = replace(
            settings, demo_password=demo_password(settings.data_dir, settings.demo_password)
        )
    with storage(settings) as live:
        base = f"http://{live.host}:{live.port}"
        lines = [
            f"Contact-center hub on {base}",
            f"  agent console: {base}/console",
            f"  customer chat: {base}/chat",
        ]
        if live.demo_seed:
            lines.append(
                f"  log in as alice or bob (agents) or sam (supervisor), "
                f"password {live.demo_password}"
            )
        lines.append(
            "  Ctrl-C stops the hub"
            + (
                " and the embedded servers"
                if (settings.redis_url is None or settings.database_url is None)
                else ""
            )
        )

        async def announce(_app: web.Application) -> None:
            print("\n".join(lines), flush=True)

        app = init(live)
        app.on_startup.append(announce)
        web.run_app(
            app,
            host=live.host,
            port=live.port,
            print=None,
            handle_signals=True,
            shutdown_timeout=5.0,
        )
    return 0


def _migrate(settings: HubSettings) -> int:
    from contactcenter.db import create_pool, migrate

    async def run(url: str) -> list[str]:
        pool = await create_pool(url, size=1)
        try:
            return await migrate(pool)
        finally:
            await pool.close()

    with storage(settings, redis=False) as live:
        assert live.database_url
        applied = asyncio.run(run(live.database_url))
    print(
        f"applied {len(applied)} migration(s)"
        + (f": {', '.join(applied)}" if applied else ", schema is up to date")
    )
    return 0


def _check_config(settings: HubSettings) -> int:
    print(f"config folder: {settings.config_dir}")
    for q in settings.queues:
        who = f"eligibility {q.eligibility}" if q.eligibility else f"skill {q.skill}"
        print(f"  queue {q.name}: {who}; channels {', '.join(q.channels)}; strategy {q.strategy}")
        aging = f", +1 per {q.aging_s:g} s waited" if q.aging_s else ""
        print(
            f"    priority {q.priority}{aging}; offer timeout {q.offer_timeout_s:g} s;"
            f" {q.max_misses} misses to away; wrap-up "
            + (f"{q.wrapup_s:g} s" if q.wrapup_s is not None else "until the agent ends it")
        )
        for i, step in enumerate(q.escalation, start=1):
            parts = [f"eligibility {step.eligibility}"] if step.eligibility else []
            parts += ["any language"] if step.any_language else []
            parts += [f"overflow to {', '.join(step.overflow)}"] if step.overflow else []
            print(f"    escalation {i} after {step.after_s:g} s: {'; '.join(parts) or 'no change'}")
        if q.max_wait_s:
            print(f"    after {q.max_wait_s:g} s: to {q.overflow_queue}")
        if q.hours is not None:
            print(f"    business hours in {q.hours.timezone}; when closed: {q.when_closed}")
    for rule in settings.rules:
        target = rule.target
        print(f"  rule {rule.name!r}: {dict(rule.conditions)} -> queue {target.queue}")
    if settings.default_route is not None:
        print(f"  default -> queue {settings.default_route.queue}")
    print("configuration is valid")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = settings_from_environment()
    except ConfigError as exc:
        print(f"configuration error: {exc.message}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    if args.command == "check-config":
        return _check_config(settings)
    if args.command == "migrate":
        return _migrate(settings)
    if args.command == "services":
        from contactcenter.embedded import main_services

        main_services(settings.data_dir)
        return 0
    return _serve(settings, args)


if __name__ == "__main__":
    sys.exit(main())

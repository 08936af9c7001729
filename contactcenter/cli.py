"""The `contactcenter` command."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiohttp import web

from contactcenter.cli_crm import _crm, _crm_settings, _demo_data
from contactcenter.cli_storage import storage
from contactcenter.core.errors import ConfigError
from contactcenter.core.logs import configure_logging
from contactcenter.embedded.folder import EmbeddedServerError
from contactcenter.site_settings import SiteSettings, settings_from_environment
from routing.model import CHANNELS

DESCRIPTION = """\
An omnichannel contact-center hub: customers' chats go through skills-based routing (Redis)
to agents' live consoles (websockets), with every customer, contact and message kept in
PostgreSQL.

With REDIS_URL and DATABASE_URL unset, the hub starts its own Redis-compatible server and
PostgreSQL in the data folder (CC_DATA_DIR, default .data) and stops them when it stops; other
commands run meanwhile use them.
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
  contactcenter demo-data                  fill the CRM with 5,000 demo customers and histories
  contactcenter crm import customers c.csv import customers from a CSV file
  contactcenter crm recompute              re-rank every customer into value tiers
"""

CRM_EPILOG = """\
Rules (value tiers, lifecycle, RFM) and CSV formats: docs/tiers.md. Settings: config/crm.toml.
Like every command, these use DATABASE_URL; when it is unset, the embedded PostgreSQL of the
hub running on the same data folder, or else one started for the time of the command.

examples:
  contactcenter crm recompute
  contactcenter crm import customers customers.csv
  contactcenter crm import orders orders.csv
"""

RECOMPUTE_HELP = """\
Recompute every customer's figures from their orders, in one transaction: value over the
window (config/crm.toml value.window_months), order count, first and last order, lifecycle
stage, RFM scores, and the value tier by rank percentile. Order changes made through the hub
update their customer at once, but only this re-ranks everyone: run it nightly (cron) and after
changing config/crm.toml. It prints how many customers changed and how many are in each tier.

example:
  contactcenter crm recompute
"""

IMPORT_CUSTOMERS_HELP = """\
Import customers from a CSV file with a header row. Columns: external_id (required), name,
email, phone, language, tier_by_hand. Phone numbers without a country code are read in
identities.default_phone_region of config/crm.toml. Every row is checked first: any bad row is
reported with its line number and reason, and then nothing is imported (exit status 1).
A customer already imported (same external_id) is updated; importing the same file twice
changes nothing. Then every customer is recomputed.

example:
  contactcenter crm import customers customers.csv
    external_id,name,email,phone,language,tier_by_hand
    C-1001,Ada Lovelace,ada@example.com,+44 20 7946 0958,en,
"""

IMPORT_ORDERS_HELP = """\
Import orders from a CSV file with a header row. Columns: external_id, amount, currency,
ordered_at (ISO 8601; UTC when no offset is given) and one of customer_external_id,
customer_email, customer_phone (required), status (placed, paid, shipped, delivered, cancelled,
refunded; default placed). Amounts are converted to the base currency at the rates of
config/crm.toml. Every row is checked first: a bad row (a malformed value, an unknown currency,
a customer not found) is reported with its line number and reason, and then nothing is
imported (exit status 1). Importing the same file twice changes nothing; a changed row updates
its order. Then every customer is recomputed.

example:
  contactcenter crm import orders orders.csv
    external_id,customer_external_id,amount,currency,ordered_at,status
    O-1,C-1001,129.90,EUR,2026-03-01T14:05:00+01:00,delivered
"""

DEMO_HELP = """\
Fill the CRM with a realistic demo data set: customers (5,000 by default) in five countries
with emails and valid phone numbers, two years of orders with a skewed value distribution
(some customers stopped buying), past contacts on every channel handled by the demo agents
(alice, bob; created if missing) with disposition, summary and transcript, open complaints,
notes and tags; then every customer is recomputed, so the console shows real tiers and
histories. The same --seed on the same day gives the same data. When demo customers are
already there, it changes nothing and says so.

examples:
  contactcenter demo-data
  contactcenter demo-data --customers 20000 --seed 7
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
    serve.add_argument(
        "--role",
        choices=("all", "web", "worker"),
        help="what this process runs (default from CC_ROLE or hub.toml, else all): all;"
        " web = consoles, chats, webhooks and SMTP; worker = routing, history, intake and"
        " outbound senders (docs/architecture.md)",
    )
    serve.add_argument(
        "--demo-data",
        action="store_true",
        help="first fill the CRM with the demo data set unless it is there already"
        " (as `contactcenter demo-data`; `make run` does this)",
    )
    sub.add_parser("migrate", help="apply PostgreSQL schema migrations, then exit")
    sub.add_parser("check-config", help="validate the config folder and report every key's source")
    sub.add_parser("services", help="run the embedded Redis and PostgreSQL only, print their URLs")
    _crm_parsers(sub)
    return parser


def _crm_parsers(sub: Any) -> None:
    raw = argparse.RawDescriptionHelpFormatter
    crm = sub.add_parser(
        "crm",
        help="CRM upkeep: recompute value tiers, import customers and orders from CSV",
        description="CRM upkeep: value tiers, lifecycle and RFM; CSV imports.",
        epilog=CRM_EPILOG,
        formatter_class=raw,
    )
    crm_sub = crm.add_subparsers(dest="crm_command", metavar="CRM_COMMAND", required=True)
    crm_sub.add_parser(
        "recompute",
        help="re-rank every customer: value, tier, lifecycle, RFM",
        description=RECOMPUTE_HELP,
        formatter_class=raw,
    )
    imports = crm_sub.add_parser(
        "import", help="import customers or orders from a CSV file", epilog=CRM_EPILOG,
        formatter_class=raw,
    )  # fmt: skip
    kinds = imports.add_subparsers(dest="import_kind", metavar="KIND", required=True)
    for kind, text in (("customers", IMPORT_CUSTOMERS_HELP), ("orders", IMPORT_ORDERS_HELP)):
        p = kinds.add_parser(
            kind, help=f"import {kind} from a CSV file", description=text, formatter_class=raw
        )
        p.add_argument("file", type=Path, metavar="FILE", help="the CSV file (UTF-8)")
        p.add_argument("--quiet", action="store_true", help="no progress bars")
    demo = sub.add_parser(
        "demo-data",
        help="fill the CRM with demo customers, orders, contacts and complaints",
        description=DEMO_HELP,
        formatter_class=raw,
    )
    demo.add_argument("--customers", type=int, default=5000, help="how many (default 5000)")
    demo.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")


def _serve(settings: SiteSettings, args: argparse.Namespace) -> int:
    from contactcenter.agents.demo_agents import demo_password
    from contactcenter.app import init

    if args.host:
        settings = replace(settings, host=args.host)
    if args.port:
        settings = replace(settings, port=args.port)
    if args.role:
        settings = replace(settings, role=args.role)
    if settings.demo_seed:
        settings = replace(
            settings, demo_password=demo_password(settings.data_dir, settings.demo_password)
        )
    # A second hub on this data folder would lose its storage when the first one stops.
    with storage(settings, share=False) as live:
        if args.demo_data:
            demo = argparse.Namespace(customers=5000, seed=1, quiet=False)
            if _demo_data(live, live.crm, demo) != 0:
                return 1
        base = f"http://{live.host}:{live.port}"
        if live.serves_clients:
            lines = [
                f"Contact-center hub on {base}" + ("" if live.runs_workers else " (role web)"),
                f"  agent console: {base}/console",
                f"  customer chat: {base}/chat",
            ]
        else:
            lines = [f"Contact-center hub worker (role worker): health at {base}/healthz"]
        if live.demo_seed and live.serves_clients:
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


def _migrate(settings: SiteSettings) -> int:
    from contactcenter.core.db import create_pool, migrate

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


_ROLE_SAYS = {
    "all": "serves clients and runs the background work",
    "web": "serves clients only; a process with role worker or all must run the workers",
    "worker": "runs the background work only; its port answers /healthz",
}


def _check_config(settings: SiteSettings) -> int:
    print(f"config folder: {settings.config_dir}")
    print(f"  role {settings.role}: {_ROLE_SAYS[settings.role]}")
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
    reasons = [
        f"{r.code} {r.label!r} ({'productive' if r.productive else 'not productive'})"
        for r in settings.reasons.reasons
    ]
    print(f"  away reasons: {', '.join(reasons) or 'none (away without a reason only)'}")
    served = {ch for q in settings.queues for ch in q.channels}
    for channel in sorted(set(CHANNELS) - served):
        print(f"  warning: no queue serves {channel}; its contacts go to the default queue")
    if _check_crm_config(settings):
        return 2
    twilio = settings.twilio
    if twilio.enabled:
        numbers = "; ".join(f"{ch} {', '.join(n)}" for ch, n in twilio.numbers.items() if n)
        print(f"  twilio: account set; numbers: {numbers or 'none'}")
    else:
        print("  twilio: off (TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN unset)")
    print("configuration is valid")
    return 0


def _check_crm_config(settings: SiteSettings) -> int:
    try:
        crm = _crm_settings(settings)
    except ConfigError as exc:
        print(f"configuration error: {exc.message}", file=sys.stderr)
        return 2
    tiers = ", ".join(f"{t.name} top {t.top_percent}%" for t in crm.tiers)
    print(
        f"  crm: value over {crm.window_months} months in {crm.base_currency}"
        f" ({len(crm.exchange_rates)} currencies); tiers {tiers};"
        f" no orders: {crm.no_orders_tier}; phone region {crm.default_phone_region}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = settings_from_environment()
    except ConfigError as exc:
        print(f"configuration error: {exc.message}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    try:
        return _run(settings, args)
    except EmbeddedServerError as exc:
        # Said plainly, with what to do: a traceback would only hide it.
        print(f"contactcenter {args.command}: {exc}", file=sys.stderr)
        return 1


def _run(settings: SiteSettings, args: argparse.Namespace) -> int:
    if args.command == "check-config":
        return _check_config(settings)
    if args.command == "migrate":
        return _migrate(settings)
    if args.command in ("crm", "demo-data"):
        try:
            crm = _crm_settings(settings)
        except ConfigError as exc:
            print(f"configuration error: {exc.message}", file=sys.stderr)
            return 2
        if args.command == "demo-data":
            return _demo_data(settings, crm, args)
        return _crm(settings, crm, args)
    if args.command == "services":
        from contactcenter.embedded.servers import main_services

        main_services(
            settings.data_dir, settings.embedded_redis_port, settings.embedded_postgres_port
        )
        return 0
    return _serve(settings, args)


if __name__ == "__main__":
    sys.exit(main())

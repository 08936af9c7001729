"""The `contactcenter crm` and `contactcenter demo-data` commands: value tiers, CSV imports
and the demo data set."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from contactcenter.site_settings import SiteSettings

if TYPE_CHECKING:
    import asyncpg

    from contactcenter.agents.service import AdminService
    from contactcenter.agents.team_service import TeamAdmin
    from contactcenter.crm.demo_data import DemoReport
    from contactcenter.crm.settings import CrmSettings
    from contactcenter.crm.tiers import RecomputeReport

T = TypeVar("T")


def _crm_settings(settings: SiteSettings) -> CrmSettings:
    return settings.crm


def _with_pool(settings: SiteSettings, work: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
    """Run `work` on a pool of the environment's or the embedded PostgreSQL, migrated first."""
    from contactcenter.cli_storage import storage
    from contactcenter.core.db import create_pool, migrate

    async def run(url: str) -> T:
        pool = await create_pool(url, size=2)
        try:
            await migrate(pool)
            return await work(pool)
        finally:
            await pool.close()

    with storage(settings, redis=False) as live:
        assert live.database_url
        return asyncio.run(run(live.database_url))


def _print_recompute(report: RecomputeReport, crm: CrmSettings) -> None:
    tiers = []
    for cut in report.cuts:
        start = f" from {cut.min_value_amount} {crm.base_currency}" if cut.min_value_amount else ""
        tiers.append(f"{cut.tier} {report.tier_counts.get(cut.tier, 0)}{start}")
    print(
        f"recomputed: {report.customers_changed} customer(s) changed;"
        f" {report.ranked_customers} ranked by value over {crm.window_months} months: "
        + ", ".join(tiers)
    )


def _crm(settings: SiteSettings, crm: CrmSettings, args: argparse.Namespace) -> int:
    from contactcenter.crm.csv_import import ImportRejected, import_customers, import_orders
    from contactcenter.crm.tier_recompute import recompute_all

    now = datetime.now(UTC)
    if args.crm_command == "recompute":
        started = time.perf_counter()
        report = _with_pool(settings, lambda pool: recompute_all(pool, crm, now))
        _print_recompute(report, crm)
        print(f"in {time.perf_counter() - started:.1f} s")
        return 0
    path: Path = args.file
    importer = import_customers if args.import_kind == "customers" else import_orders
    try:
        result = _with_pool(
            settings,
            lambda pool: importer(pool, path, crm, now=now, show_progress=not args.quiet),
        )
    except ImportRejected as exc:
        for error in exc.errors:
            print(f"{path}: {error}", file=sys.stderr)
        print(f"{path}: {len(exc.errors)} bad row(s), nothing was imported", file=sys.stderr)
        return 1
    print(
        f"{path}: {result.rows} {args.import_kind}: {result.created} created,"
        f" {result.updated} updated, {result.unchanged} unchanged"
    )
    _print_recompute(result.recompute, crm)
    return 0


def _demo_data(settings: SiteSettings, crm: CrmSettings, args: argparse.Namespace) -> int:
    from contactcenter.agents.demo_agents import DEMO_AGENTS, demo_password, seed_demo
    from contactcenter.cli_admin import with_admin
    from contactcenter.crm.demo_data import seed_demo_data

    if args.customers < 1:
        print("demo-data: --customers must be at least 1", file=sys.stderr)
        return 2
    queue = settings.queues[0] if settings.queues else None
    # midnight UTC: the same seed on the same day gives the same data
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    async def work(admin: AdminService, teams: TeamAdmin) -> DemoReport:
        if settings.demo_seed:
            password = demo_password(settings.data_dir, settings.demo_password)
            await seed_demo(admin, teams, password, settings.chat_capacity)
        names = [name for name, _, role, _ in DEMO_AGENTS if role == "agent"]
        rows = await admin.pool.fetch(
            "SELECT id FROM agents WHERE role = 'agent' ORDER BY username = ANY($1::text[]) DESC,"
            " username LIMIT $2",
            names,
            len(names),
        )
        return await seed_demo_data(
            admin.pool, crm, customers=args.customers, seed=args.seed, now=today,
            agents=[r["id"] for r in rows], queue=queue.name if queue else "support",
            dispositions=queue.dispositions if queue else ("resolved",),
            show_progress=not args.quiet,
        )  # fmt: skip

    try:
        report = with_admin(settings, work)
    except ValueError as exc:
        print(f"demo-data: {exc}", file=sys.stderr)
        return 1
    if report.already_there:
        print(
            f"demo data is already there ({report.already_there} demo customers); nothing changed"
        )
        return 0
    print("demo data: " + ", ".join(f"{n} {table}" for table, n in report.counts.items()))
    assert report.recompute is not None
    _print_recompute(report.recompute, crm)
    return 0

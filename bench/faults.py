"""Faults under load: kill -9 of a hub, FLUSHALL of Redis, PostgreSQL cut off and hung, while
customers chat with agents across two hub processes. What was lost, what was held twice, and
how long routing took to come back, per phase, beside a phase without faults.

    Redis (a server of this run's own) <- hub A, hub B -> proxy (cut / hang) -> PostgreSQL
    customers' chats and agents' consoles (this process) -> both hubs, each reconnecting to
    the other hub when its socket drops

Run from the repository root:  .venv/bin/python -m bench.faults [--rate R] [--agents N]
The last line printed is the result; the exit status is 0 unless the run itself broke (a
server that will not start, a client that crashed): what the faults cost is a finding.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench._common import (
    ROOT,
    BenchBroken,
    LogTally,
    capture_logs,
    positive_int,
    progress,
    scratch_database,
)
from bench._faults_report import report
from bench._faults_run import Run, RunPlan

DESCRIPTION = __doc__.split("\n\n")[0] if __doc__ else ""

EPILOG = """\
Storage: a redis-server of the run's own on a free loopback port (REDIS_URL is not used:
FLUSHALL must not touch anyone else's data); if the machine has no redis-server, the Valkey
the hub embeds. PostgreSQL: DATABASE_URL when set, else an embedded PostgreSQL in a
temporary folder; the run creates a scratch database cc_bench_<random> there and drops it.
The hubs reach PostgreSQL through a loopback proxy that the run cuts and hangs.

Phases (each after the one before): baseline; kill -9 of hub A, restarted later on the same
port; FLUSHALL; PostgreSQL cut off; PostgreSQL hung. Each fault hits --lead-s into its phase,
which then runs --settle-s after the fault is over. Customers arrive at --rate all along.
Result line:
  faults: customers=N lost=N double_assigned=N messages_lost=N refused_wrongly=N resumed_s=...
"""

FAULTS = ("kill", "flush", "pgcut", "pghang")


def _options(shipped: Any) -> list[tuple[str, Callable[[str], Any], Any, str]]:
    """(flag, type, default, help) of every numeric option; hub settings default to the
    shipped config's."""
    ship = "the shipped one"
    return [
        ("--rate", float, 5.0, "new chats per second (default 5)"),
        ("--agents", positive_int, 6, "agents, half on each hub (default 6)"),
        ("--capacity", positive_int, shipped.chat_capacity,
         f"chats per agent at once (default {shipped.chat_capacity}, {ship})"),
        ("--messages", positive_int, 3, "messages per customer, the first included (default 3)"),
        ("--baseline-s", float, 30.0, "the phase without faults (default 30)"),
        ("--lead-s", float, 5.0, "load before each fault (default 5)"),
        ("--settle-s", float, 25.0,
         "load after each fault is over, before the next phase (default 25)"),
        ("--outage-s", float, 10.0, "how long PostgreSQL is cut off (default 10)"),
        ("--hang-s", float, 15.0,
         "how long PostgreSQL is hung (default 15: past the statement timeout)"),
        ("--restart-after-s", float, 10.0,
         "the killed hub is started again this long after (default 10)"),
        ("--drain-s", float, 60.0,
         "after the last arrival, at most this long for chats to finish (default 60)"),
        ("--heartbeat-s", float, shipped.console_heartbeat_s,
         "console.heartbeat_s, also how often a hub looks for a Redis that lost its data"
         f" (default {shipped.console_heartbeat_s:g}, {ship})"),
        ("--offline-after-s", float, shipped.offline_after_s,
         f"console.offline_after_s (default {shipped.offline_after_s:g}, {ship})"),
        ("--routing-tick-ms", positive_int, shipped.routing_tick_ms,
         f"routing.tick_ms (default {shipped.routing_tick_ms}, {ship})"),
        ("--db-pool-size", positive_int, shipped.db_pool_size,
         f"storage.db_pool_size per hub (default {shipped.db_pool_size}, {ship})"),
        ("--statement-timeout-s", float, shipped.db_statement_timeout_s,
         f"storage.db_statement_timeout_s (default {shipped.db_statement_timeout_s:g}, {ship})"),
    ]  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from contactcenter.site_settings import load_settings

    parser = argparse.ArgumentParser(
        prog="python -m bench.faults",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for flag, kind, default, text in _options(load_settings(ROOT / "config", {})):
        parser.add_argument(flag, type=kind, default=default, help=text)
    parser.add_argument(
        "--faults",
        default=",".join(FAULTS),
        help=f"which faults, in this order (default {','.join(FAULTS)})",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the run's folder (hub logs, Redis log) even when nothing was found",
    )
    args = parser.parse_args(argv)
    chosen = tuple(f for f in args.faults.split(",") if f)
    unknown = [f for f in chosen if f not in FAULTS]
    if unknown:
        parser.error(f"--faults: unknown {unknown}; choose among {','.join(FAULTS)}")
    args.faults = chosen
    if args.rate <= 0:
        parser.error("--rate must be above 0")
    return args


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """DATABASE_URL, else an embedded PostgreSQL in a fresh folder (on the main thread: the
    embedded server is tied to the thread that starts it)."""
    url = os.environ.get("DATABASE_URL")
    if url:
        progress("storage: PostgreSQL from DATABASE_URL; Redis of this run's own")
        yield url
        return
    from contactcenter.embedded.servers import EmbeddedServices

    folder = Path(tempfile.mkdtemp(prefix="cc-bench-"))
    progress(f"storage: embedded PostgreSQL in {folder}; Redis of this run's own")
    try:
        with EmbeddedServices(folder, start_redis=False, start_postgres=True) as urls:
            assert urls.database_url is not None
            yield urls.database_url
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def bench(args: argparse.Namespace, admin_url: str) -> bool:
    """The run; True when it found something (a loss, a double assignment...)."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    workdir = Path(tempfile.mkdtemp(prefix="cc-faults-"))
    found = False
    try:
        async with scratch_database(admin_url) as database_url:
            plan = RunPlan(
                args=args,
                database_url=database_url,
                domain=f"faults{uuid.uuid4().hex[:10]}",
                password=secrets.token_urlsafe(12),
                tag=uuid.uuid4().hex[:6],
                workdir=workdir,
            )
            run = Run(plan)
            try:
                await run.go()
            finally:
                await run.close()
            found = await report(run)
    finally:
        if found or args.keep:
            progress(f"the run's folder, hub logs included, is kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return found


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tally = LogTally()
    capture_logs(tally)  # this process's own warnings (the hubs log to their files)
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    progress(f"machine: {os.cpu_count()} cores, load average {load} before the run")
    started = time.perf_counter()
    try:
        with postgres() as admin_url:
            asyncio.run(bench(args, admin_url))
    except BenchBroken as exc:
        print(f"faults: broken: {exc}", file=sys.stderr, flush=True)
        return 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("faults: interrupted", file=sys.stderr, flush=True)
        return 130
    finally:
        from bench._faults_rig import kill_leftovers

        kill_leftovers()
    progress(f"total run time {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

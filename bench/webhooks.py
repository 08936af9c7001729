"""Webhook latency: Twilio's incoming-message webhook, answered by the real hub.

    signed POST /twilio/messaging -> signature check (RequestValidator) -> parse and validate
    -> the receipt, committed once on its MessageSid in PostgreSQL -> empty TwiML

Four apps, in one run, get the same signed requests at the same pace from one aiohttp client
on loopback:

- baseline: a bare aiohttp app whose handler reads the same form and answers the same TwiML.
- floor: the baseline plus the one thing no webhook may skip, the delivery committed to
  PostgreSQL before the answer (Twilio does not send a message webhook again once it got a
  200, so a message not stored by then could be lost): the same row into the same table, on
  the same server, with nothing else running.
- hub: the hub with role "all", as `make run` starts it: its intake workers take each message
  into its conversation (customer, contact, message, routing) in the same process.
- hub-split: the hub with role "web" in this process and a worker process beside it (role
  "worker", `bench/_worker.py`) doing the intake, as a busy site runs them.

The figure to follow is the hub's p99 over the baseline's (goal: within 2x); the floor's
ratio is what storing before answering costs by itself on this machine. Twilio waits 15 s.

Run from the repository root:  .venv/bin/python -m bench.webhooks [--requests N] [--rate R]
The last line printed is the result; the exit status is 0 unless something is broken.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Awaitable, Callable

import aiohttp
import asyncpg
from aiohttp import web

from bench._common import (
    STORAGE_EPILOG,
    BenchBroken,
    LogTally,
    Run,
    delete_redis_keys,
    free_port,
    hub_settings,
    paced_run,
    positive_int,
    progress,
    run_bench,
    scratch_database,
    serve,
    stamp,
    unstamp,
)
from bench._worker import worker_process
from tests.support.fake_twilio import FakeTwilio, sign

DESCRIPTION = __doc__.split("\n\n")[0] if __doc__ else ""
EPILOG = (
    STORAGE_EPILOG
    + """

Latency is timed in this one process with time.perf_counter_ns(): from just before a request
is sent to the moment its whole answer has been read. Requests go out on a fixed schedule
(open loop), each from one of --customers phone numbers in turn.
Result line (one line; the ratios are p99 over the baseline's p99):
  webhooks: requests=N p50_ms=.. p99_ms=.. baseline_p99_ms=.. ratio_p99=.. split_p50_ms=..
            split_p99_ms=.. split_ratio_p99=.. floor_p99_ms=.. floor_ratio_p99=..
"""
)
PATH = "/twilio/messaging"
FLOOR_KIND = "bench.floor"  # the floor's receipts, apart from the hub's own
OUR_NUMBER = "+14155550199"


def customer_number(i: int, customers: int) -> str:
    return f"+1415{2_000_000 + i % customers:07d}"


def baseline_app(twiml: str) -> web.Application:
    """The least an aiohttp app can do for the same request: read the form, answer TwiML."""

    async def handler(request: web.Request) -> web.Response:
        await request.post()
        return web.Response(text=twiml, content_type="text/xml")

    app = web.Application()
    app.router.add_post(PATH, handler)
    return app


async def drive(
    label: str, url: str, fake: FakeTwilio, args: argparse.Namespace, sids: list[str]
) -> Run:
    """Post warm-up + requests signed webhooks to `url` at `args.rate`; time each answer."""
    answers: asyncio.Queue[str] = asyncio.Queue()
    failures: list[str] = []
    pending: set[asyncio.Task[None]] = set()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def post(frame: str) -> None:
            i, sent_ns, params, signature = json.loads(frame)
            headers = {"X-Twilio-Signature": signature}
            async with http.post(url, data=params, headers=headers) as resp:
                await resp.read()
                if resp.status != 200:
                    failures.append(f"{label}: request {i} answered {resp.status}")
            await answers.put(stamp(i, sent_ns))

        async def send(frame: str) -> None:
            if failures:
                raise BenchBroken(failures[0])
            task = asyncio.create_task(post(frame))
            pending.add(task)
            task.add_done_callback(pending.discard)

        def frame_for(i: int, now_ns: int) -> str:
            params = fake.incoming(
                customer_number(i, args.customers), OUR_NUMBER, f"bench message {i}"
            )
            sids.append(params["MessageSid"])
            return json.dumps([i, now_ns, params, sign(fake.auth_token, url, params)])

        def extract(raw: str | bytes) -> tuple[int, int] | None:
            return unstamp(raw if isinstance(raw, str) else raw.decode())

        try:
            return await paced_run(
                label,
                send,
                answers.get,
                frame_for,
                extract,
                warmup=args.warmup,
                messages=args.requests,
                rate=args.rate,
            )
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            if failures:
                raise BenchBroken(f"{len(failures)} requests failed; first: {failures[0]}")


async def baseline_phase(fake: FakeTwilio, args: argparse.Namespace) -> Run:
    from channels.twilio.messaging_adapter import EMPTY_TWIML

    port = free_port()
    runner, _base = await serve(baseline_app(EMPTY_TWIML), port)
    try:
        return await drive("baseline", f"http://127.0.0.1:{port}{PATH}", fake, args, [])
    finally:
        await runner.cleanup()


def floor_app(twiml: str, pool: asyncpg.Pool) -> web.Application:
    """The bare handler plus the durable write every webhook owes: the delivery committed in
    `webhook_receipts`, as the hub records it, before the answer."""

    async def handler(request: web.Request) -> web.Response:
        form = await request.post()
        await pool.fetchval(
            "INSERT INTO webhook_receipts (kind, sid, sender_key, payload)"
            " VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT DO NOTHING RETURNING true",
            FLOOR_KIND,
            form["MessageSid"],
            form["From"],
            json.dumps({k: v for k, v in form.items() if isinstance(v, str)}),
        )
        return web.Response(text=twiml, content_type="text/xml")

    app = web.Application()
    app.router.add_post(PATH, handler)
    return app


async def floor_phase(database_url: str, fake: FakeTwilio, args: argparse.Namespace) -> Run:
    from channels.twilio.messaging_adapter import EMPTY_TWIML
    from contactcenter.core.db import create_pool, migrate

    pool = await create_pool(database_url)
    port = free_port()
    try:
        await migrate(pool)
        runner, _base = await serve(floor_app(EMPTY_TWIML, pool), port)
        try:
            return await drive("floor", f"http://127.0.0.1:{port}{PATH}", fake, args, [])
        finally:
            await runner.cleanup()
    finally:
        await pool.close()


async def until_taken(database_url: str, sids: list[str], timeout_s: float) -> float:
    """Wait until every message was taken into a conversation, exactly once; seconds waited."""
    started = time.perf_counter()
    conn = await asyncpg.connect(database_url)
    try:
        while True:
            handled, stored = await conn.fetchrow(
                "SELECT (SELECT count(*) FROM webhook_receipts WHERE sid = ANY($1)"
                " AND handled_at IS NOT NULL),"
                " (SELECT count(*) FROM messages WHERE external_id = ANY($1))",
                sids,
            )
            if handled == len(sids):
                if stored != len(sids):
                    raise BenchBroken(f"hub: {stored} messages stored for {len(sids)} webhooks")
                return time.perf_counter() - started
            if time.perf_counter() - started > timeout_s:
                raise BenchBroken(f"hub: {handled} of {len(sids)} messages taken in {timeout_s} s")
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


async def hub_phase(
    redis_url: str, database_url: str, fake: FakeTwilio, args: argparse.Namespace, role: str
) -> Run:
    """The hub in this process, with `role` "all" (intake in this process too) or "web"
    (intake in a worker process beside it)."""
    from dataclasses import replace

    from channels.twilio.common import TwilioSettings
    from contactcenter.app import init

    label = "hub" if role == "all" else "hub-split"
    port = free_port()
    settings = replace(
        hub_settings(redis_url, database_url, port),
        public_url=f"http://127.0.0.1:{port}",
        role=role,
    )
    twilio = TwilioSettings(
        account_sid=fake.account_sid,
        auth_token=fake.auth_token,
        api_base="http://127.0.0.1:9",  # nothing is sent out: no agent answers
        numbers={"sms": (OUR_NUMBER,)},
    )
    runner, _base = await serve(init(replace(settings, twilio=twilio)), port)
    sids: list[str] = []
    try:
        async with contextlib.AsyncExitStack() as stack:
            worker = None
            if role == "web":
                worker_env = {
                    "REDIS_URL": redis_url,
                    "DATABASE_URL": database_url,
                    "CC_ROUTING_DOMAIN": settings.routing_domain,
                    "CC_PUBLIC_URL": settings.public_url,
                    "TWILIO_ACCOUNT_SID": fake.account_sid,
                    "TWILIO_AUTH_TOKEN": fake.auth_token,
                    "TWILIO_API_BASE": "http://127.0.0.1:9",
                }
                worker = await stack.enter_async_context(worker_process(worker_env, free_port()))
            worker_cpu = worker.cpu_s() if worker else None
            run = await drive(label, f"{settings.public_url}{PATH}", fake, args, sids)
            waited_s = await until_taken(database_url, sids, timeout_s=120)
            where = "this process" if worker is None else "the worker process"
            progress(
                f"{label}: all {len(sids)} messages taken into conversations {waited_s:.1f} s"
                f" after the last answer ({args.customers} customers, intake workers"
                f" {twilio.intake_workers} in {where})"
            )
            if worker is not None and worker_cpu is not None:
                used = worker.cpu_s()
                if used is not None:
                    per_message_ms = (used - worker_cpu) * 1000 / len(sids)
                    progress(f"{label}: worker process {per_message_ms:.2f} ms CPU per message")
            return run
    finally:
        await runner.cleanup()
        await delete_redis_keys(redis_url, f"cc:{{{settings.routing_domain}}}:*")


async def run_phases(
    redis_url: str, admin_database_url: str, args: argparse.Namespace, tally: LogTally
) -> tuple[Run, Run, Run, Run]:
    fake = FakeTwilio()
    total = args.warmup + args.requests
    async with scratch_database(admin_database_url) as database_url:
        phases: list[tuple[str, Callable[[], Awaitable[Run]]]] = [
            ("baseline", lambda: baseline_phase(fake, args)),
            ("floor", lambda: floor_phase(database_url, fake, args)),
            ("hub", lambda: hub_phase(redis_url, database_url, fake, args, "all")),
            ("hub-split", lambda: hub_phase(redis_url, database_url, fake, args, "web")),
        ]
        runs: list[Run] = []
        for label, phase in phases:
            progress(f"{label}: {total} signed webhooks ({args.warmup} warm-up) at {args.rate:g}/s")
            tally.phase = label
            run = await phase()
            progress(run.summary())
            progress(run.load())
            runs.append(run)
        tally.phase = "teardown"
    return runs[0], runs[1], runs[2], runs[3]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.webhooks",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--requests", type=positive_int, default=2000, help="measured requests (default 2000)"
    )
    parser.add_argument(
        "--rate", type=float, default=100.0, help="requests per second (default 100)"
    )
    parser.add_argument(
        "--warmup", type=int, default=100, help="requests sent first, not measured (default 100)"
    )
    parser.add_argument(
        "--customers", type=positive_int, default=50, help="distinct senders (default 50)"
    )
    args = parser.parse_args(argv)
    if not args.rate > 0:
        parser.error("--rate must be greater than 0")
    if args.warmup < 0:
        parser.error("--warmup must not be negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    outcome = run_bench(
        "webhooks",
        lambda found, tally: asyncio.run(
            run_phases(found.redis_url, found.admin_database_url, args, tally)
        ),
    )
    if isinstance(outcome, int):
        return outcome
    (baseline, floor, hub, split), _tally = outcome
    for run in (baseline, floor, hub, split):
        progress(run.outliers())
    b99, f99, h50, h99 = baseline.pct(99), floor.pct(99), hub.pct(50), hub.pct(99)
    s50, s99 = split.pct(50), split.pct(99)
    print(
        f"webhooks: requests={args.requests} p50_ms={h50:.3f} p99_ms={h99:.3f}"
        f" baseline_p99_ms={b99:.3f} ratio_p99={h99 / b99:.2f}"
        f" split_p50_ms={s50:.3f} split_p99_ms={s99:.3f} split_ratio_p99={s99 / b99:.2f}"
        f" floor_p99_ms={f99:.3f} floor_ratio_p99={f99 / b99:.2f}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Relay latency: a customer's chat message to the agent's console, through the real hub.

    customer websocket `message` frame -> stored in PostgreSQL -> MessageSent on the Redis
    stream -> the hub's stream tail -> the agent's websocket `message` frame

Beside it, in the same run and on the same Redis, a baseline doing the least possible work
on the same stack: a bare aiohttp app whose sender socket XADDs each frame to a Redis stream
and whose one reader task XREADs it and pushes it to the receiver socket (no PostgreSQL, no
validation, no routing). Both are driven by the same `websockets` clients on loopback, with
the same number of messages at the same pace; the ratio p99 / baseline p99 is the figure to
follow over time, since it cancels most of the machine's own speed.

Run from the repository root:  .venv/bin/python -m bench.relay [--messages N] [--rate R]
The last line printed is the result; the exit status is 0 unless something is broken.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import websockets
from aiohttp import WSMsgType, web
from redis.asyncio import Redis

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

DESCRIPTION = __doc__.split("\n\n")[0] if __doc__ else ""

EPILOG = (
    STORAGE_EPILOG
    + """

Latency is timed in this one process with time.perf_counter_ns(): from just before the
customer's frame is sent to the moment the agent's client has received the relayed frame.
Result line:
  relay: messages=N p50_ms=X p99_ms=Y baseline_p50_ms=A baseline_p99_ms=B ratio_p99=R
"""
)


def customer_frame(i: int, sent_ns: int) -> str:
    """The frame a customer's chat sends (docs/protocol.md, `/ws/chat` `message`)."""
    return json.dumps({"type": "message", "text": stamp(i, sent_ns), "client_msg_id": f"bench-{i}"})


# --- the baseline: the same stack doing the least possible work ------------------------------


def baseline_app(redis_url: str, stream: str) -> web.Application:
    """`/send`: each text frame is XADDed to `stream`. `/recv`: receives what one reader task
    XREADs from `stream`, pushed as it comes."""
    app = web.Application()
    receivers: set[web.WebSocketResponse] = set()
    redis_key = web.AppKey("redis", Redis)

    async def send_endpoint(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await request.app[redis_key].xadd(stream, {"frame": msg.data})
        return ws

    async def recv_endpoint(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        receivers.add(ws)
        try:
            async for _msg in ws:
                pass
        finally:
            receivers.discard(ws)
        return ws

    async def pump(redis: Redis) -> None:
        last_id = "0-0"  # the stream is new: nothing before the first frame
        while True:
            reply = await redis.xread({stream: last_id}, count=500, block=1000)
            for _name, entries in reply or []:
                for entry_id, fields in entries:
                    last_id = entry_id
                    for ws in list(receivers):
                        await ws.send_str(fields["frame"])

    async def background(app: web.Application) -> AsyncIterator[None]:
        redis = Redis.from_url(redis_url, decode_responses=True)
        app[redis_key] = redis
        task = asyncio.create_task(pump(redis), name="baseline-pump")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await redis.aclose()

    app.cleanup_ctx.append(background)
    app.router.add_get("/send", send_endpoint)
    app.router.add_get("/recv", recv_endpoint)
    return app


def baseline_extract(raw: str | bytes) -> tuple[int, int] | None:
    return unstamp(json.loads(raw)["text"])


async def baseline_phase(redis_url: str, args: argparse.Namespace) -> Run:
    stream = f"cc-bench:baseline:{uuid.uuid4().hex[:12]}"
    runner, base = await serve(baseline_app(redis_url, stream))
    ws_base = base.replace("http", "ws", 1)
    try:
        async with (
            websockets.connect(f"{ws_base}/recv") as receiver,
            websockets.connect(f"{ws_base}/send") as sender,
        ):
            await asyncio.sleep(0.1)  # let the receiver's handler register it
            return await paced_run(
                "baseline",
                sender.send,
                receiver.recv,
                customer_frame,
                baseline_extract,
                warmup=args.warmup,
                messages=args.messages,
                rate=args.rate,
            )
    finally:
        await runner.cleanup()
        await delete_redis_keys(redis_url, stream)


# --- the real hub ----------------------------------------------------------------------------


class SeqCheck:
    """Frames of one hub connection: `seq` must have no gap; `error` frames are kept."""

    def __init__(self, who: str, last_seq: int) -> None:
        self.who = who
        self.last_seq = last_seq
        self.types: Counter[str] = Counter()
        self.errors: list[dict[str, Any]] = []

    def read(self, raw: str | bytes) -> dict[str, Any]:
        frame: dict[str, Any] = json.loads(raw)
        if frame.get("seq") != self.last_seq + 1:
            raise BenchBroken(f"{self.who}: sequence gap {self.last_seq} -> {frame.get('seq')}")
        self.last_seq = frame["seq"]
        self.types[frame["type"]] += 1
        if frame["type"] == "error":
            self.errors.append(frame)
        return frame


async def hub_phase(redis_url: str, database_url: str, args: argparse.Namespace) -> Run:
    from contactcenter.app import init
    from tests.e2e.clients import AgentClient, ChatClient

    settings = hub_settings(redis_url, database_url, free_port())
    domain, password = settings.routing_domain, settings.demo_password or ""
    runner, base = await serve(init(settings), settings.port)
    clients: list[Any] = []
    try:
        agent = await AgentClient.connect(base, "alice", password)
        clients.append(agent)
        await agent.go_available()
        customer = await ChatClient.connect(base, "Bench Customer")
        clients.append(customer)
        await customer.say("Hello, I have a question")
        contact_id = (await customer.expect("queued"))["contact_id"]
        await agent.expect("offer")
        ack = await agent.command("accept", contact_id=contact_id)
        if ack["type"] != "ack":
            raise BenchBroken(f"alice could not accept the chat: {ack}")
        await agent.expect("assigned")
        await customer.expect("agent_joined")
        progress(f"hub: alice is in conversation with the customer ({contact_id})")

        agent_frames = SeqCheck("agent", agent.last_seq)
        customer_frames = SeqCheck("customer", customer.last_seq)

        def agent_extract(raw: str | bytes) -> tuple[int, int] | None:
            frame = agent_frames.read(raw)
            if frame["type"] != "message" or frame["message"]["sender"] != "customer":
                return None
            return unstamp(frame["message"]["body"])

        async def drain_customer() -> None:
            # The customer gets its own messages back; an unread socket would push back
            # until the hub drops it as too slow.
            while True:
                customer_frames.read(await customer.ws.recv())

        drain = asyncio.create_task(drain_customer(), name="customer-drain")
        try:
            run = await paced_run(
                "hub",
                customer.ws.send,
                agent.ws.recv,
                customer_frame,
                agent_extract,
                warmup=args.warmup,
                messages=args.messages,
                rate=args.rate,
            )
        finally:
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain
        for frames in (agent_frames, customer_frames):
            progress(f"hub: {frames.who} received {dict(frames.types)}")
            if frames.errors:
                raise BenchBroken(f"hub: {frames.who} got error frames: {frames.errors[:3]}")
        return run
    finally:
        for client in clients:
            with contextlib.suppress(Exception):
                await client.close()
        await runner.cleanup()
        await delete_redis_keys(redis_url, f"cc:{{{domain}}}:*")


# --- main ------------------------------------------------------------------------------------


async def run_phases(
    redis_url: str, admin_database_url: str, args: argparse.Namespace, tally: LogTally
) -> tuple[Run, Run]:
    async with scratch_database(admin_database_url) as database_url:
        total = args.warmup + args.messages
        progress(f"baseline: {total} messages ({args.warmup} warm-up) at {args.rate:g}/s")
        tally.phase = "baseline"
        baseline = await baseline_phase(redis_url, args)
        progress(baseline.summary())
        progress(baseline.load())
        progress(f"hub: {total} messages ({args.warmup} warm-up) at {args.rate:g}/s")
        tally.phase = "hub"
        hub = await hub_phase(redis_url, database_url, args)
        progress(hub.summary())
        progress(hub.load())
        tally.phase = "teardown"
    return baseline, hub


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.relay",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--messages",
        type=positive_int,
        default=2000,
        help="measured messages per run (default 2000)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=200.0,
        help="messages per second, sent on a fixed schedule (default 200)",
    )
    parser.add_argument(
        "--warmup", type=int, default=100, help="messages sent first and not measured (default 100)"
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
        "relay",
        lambda found, tally: asyncio.run(
            run_phases(found.redis_url, found.admin_database_url, args, tally)
        ),
    )
    if isinstance(outcome, int):
        return outcome
    (baseline, hub), _tally = outcome
    progress(baseline.outliers())
    progress(hub.outliers())
    b50, b99, h50, h99 = baseline.pct(50), baseline.pct(99), hub.pct(50), hub.pct(99)
    print(
        f"relay: messages={args.messages} p50_ms={h50:.3f} p99_ms={h99:.3f}"
        f" baseline_p50_ms={b50:.3f} baseline_p99_ms={b99:.3f} ratio_p99={h99 / b99:.2f}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Routing: decisions per second of one worker, and a contact's arrival to its offer on the
agent's websocket through the real hub, beside a bare aiohttp + Redis relay.

Part 1, decisions per second (bench/_decisions.py): 1,000 agents with random skills among
10, levels, languages and capacities, 20 queues (skills and eligibility expressions, every
strategy) and a backlog of 20,000 contacts in a fresh routing domain on real Redis; then
`RoutingWorker.run_pass()` again and again until the backlog is offered (or a time budget
of passes is spent), the agents accepting and wrapping up at once between passes.
Decisions/s = offers carried out per second of wall time inside passes; the share of that
time spent in `routing.core.decide`, the snapshot read and the offer scripts says where to
optimise.

Part 2, arrival to offer (bench/_arrivals.py): a hub in this process with 200 agents on real
websocket consoles, all available; customers arrive at 200/s for 15 s, each sending hello
and a first message; the agents accept every offer at once and end and wrap up after a short
random hold. Latency = the customer's first `message` sent -> the `offer` frame received on
the agent's socket. Beside it, in the same run, bench.relay's baseline (websocket -> XADD ->
XREAD -> websocket) at the same pace and count.

Run from the repository root:  .venv/bin/python -m bench.routing [--help]
The last line printed is the result; the exit status is 0 unless something is broken.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys

from bench._arrivals import Phase, baseline_phase, hub_phase
from bench._common import (
    STORAGE_EPILOG,
    LogTally,
    positive_int,
    progress,
    run_bench,
    scratch_database,
)
from bench._decisions import DecisionsResult, decisions_phase

DESCRIPTION = __doc__.split("\n\n")[0] if __doc__ else ""

EPILOG = (
    STORAGE_EPILOG
    + """

Part 1 stops at the end of the backlog or after --pass-budget-s of passes, whichever comes
first. Part 2's clients run in a process of their own unless --clients-in-process is given;
times are time.perf_counter_ns() (CLOCK_MONOTONIC, one clock for the whole machine).
Result line:
  routing: decisions_per_s=N p50_ms=X p99_ms=Y baseline_p99_ms=Z ratio_p99=R
(nan for a part that was skipped)
"""
)


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.routing",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    one = parser.add_argument_group("part 1: decisions per second")
    one.add_argument("--agents", type=positive_int, default=1000, help="agents (default 1000)")
    one.add_argument(
        "--backlog", type=positive_int, default=20_000, help="contacts queued (default 20000)"
    )
    one.add_argument(
        "--pass-budget-s",
        type=positive_float,
        default=20.0,
        help="stop the passes after this much time inside them (default 20)",
    )
    one.add_argument(
        "--single-passes",
        type=int,
        default=20,
        help="passes that each find one new contact, timed after the backlog (default 20)",
    )
    one.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="profile passes over a fresh backlog with cProfile and print the top N (default"
        " 0: no profile)",
    )
    two = parser.add_argument_group("part 2: arrival to offer, beside the baseline")
    two.add_argument(
        "--hub-agents", type=positive_int, default=200, help="agents connected (default 200)"
    )
    two.add_argument(
        "--rate", type=positive_float, default=200.0, help="arrivals per second (default 200)"
    )
    two.add_argument(
        "--seconds", type=positive_float, default=15.0, help="seconds of arrivals (default 15)"
    )
    two.add_argument(
        "--warmup-s",
        type=float,
        default=1.0,
        help="first seconds of arrivals not measured (default 1)",
    )
    two.add_argument("--hold-min-s", type=float, default=0.5, help="shortest chat (default 0.5)")
    two.add_argument("--hold-max-s", type=float, default=1.5, help="longest chat (default 1.5)")
    two.add_argument(
        "--drain-s",
        type=positive_float,
        default=30.0,
        help="after the last arrival, wait at most this long for the offers still due, while"
        " they keep coming (default 30)",
    )
    two.add_argument(
        "--clients-in-process",
        action="store_true",
        help="run the clients in the hub's own process and event loop (as bench.relay does)",
    )
    parser.add_argument("--skip-decisions", action="store_true", help="run part 2 only")
    parser.add_argument("--skip-latency", action="store_true", help="run part 1 only")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    args = parser.parse_args(argv)
    args.arrivals = round(args.rate * args.seconds)
    args.warmup = round(args.rate * args.warmup_s)
    if args.warmup < 0 or args.warmup >= args.arrivals:
        parser.error("--warmup-s must leave some arrivals to measure")
    if not 0 <= args.hold_min_s <= args.hold_max_s:
        parser.error("need 0 <= --hold-min-s <= --hold-max-s")
    if args.skip_decisions and args.skip_latency:
        parser.error("nothing to run")
    return args


async def run_parts(
    redis_url: str, admin_database_url: str, args: argparse.Namespace, tally: LogTally
) -> tuple[DecisionsResult | None, Phase | None, Phase | None]:
    decisions = baseline = hub = None
    if not args.skip_decisions:
        tally.phase = "decisions"
        progress(
            f"decisions: {args.agents} agents, 20 queues, 10 skills, backlog {args.backlog}"
            f" contacts"
        )
        decisions = await decisions_phase(redis_url, args)
        for line in decisions.lines():
            progress(line)
    if not args.skip_latency:
        where = "this process" if args.clients_in_process else "a process of their own"
        progress(
            f"baseline: {args.arrivals} messages ({args.warmup} warm-up) at {args.rate:g}/s,"
            f" clients in {where}"
        )
        tally.phase = "baseline"
        baseline = await baseline_phase(redis_url, args)
        _print_phase(baseline, not args.clients_in_process)
        async with scratch_database(admin_database_url) as database_url:
            progress(
                f"hub: {args.arrivals} arrivals ({args.warmup} warm-up) at {args.rate:g}/s,"
                f" {args.hub_agents} agents, clients in {where}"
            )
            tally.phase = "hub"
            hub = await hub_phase(redis_url, database_url, args, tally)
            _print_phase(hub, not args.clients_in_process)
        tally.phase = "teardown"
    return decisions, baseline, hub


def _print_phase(phase: Phase, clients_apart: bool) -> None:
    run = phase.run
    progress(run.summary())
    progress(run.load())
    if clients_apart and phase.server_cpu.wall_s > 0:
        progress(
            f"{run.label}: the clients' process {phase.client_cpu_s / phase.server_cpu.wall_s:.2f}"
            f" cores ({1000 * phase.client_cpu_s / max(1, len(run.latencies_ms)):.2f} ms CPU"
            f" per message)"
        )
    for line in phase.detail:
        progress(line)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    outcome = run_bench(
        "routing",
        lambda found, tally: asyncio.run(
            run_parts(found.redis_url, found.admin_database_url, args, tally)
        ),
    )
    if isinstance(outcome, int):
        return outcome
    (decisions, baseline, hub), _tally = outcome
    if decisions is not None:
        if decisions.problems:
            progress(f"decisions: {len(decisions.problems)} problems: {decisions.problems[:5]}")
        if decisions.profile:
            progress(decisions.profile)
    for phase in (baseline, hub):
        if phase is not None:
            progress(phase.run.outliers())
    nan = math.nan
    per_s = decisions.decisions_per_s if decisions else nan
    h50, h99 = (hub.run.pct(50), hub.run.pct(99)) if hub else (nan, nan)
    b99 = baseline.run.pct(99) if baseline else nan
    print(
        f"routing: decisions_per_s={per_s:.0f} p50_ms={h50:.3f} p99_ms={h99:.3f}"
        f" baseline_p99_ms={b99:.3f} ratio_p99={h99 / b99:.2f}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Consumer groups on the real Redis: at least once, and no wasted reads when all is well."""

from __future__ import annotations

from typing import Any

from contactcenter.core import events as ev
from contactcenter.core.eventbus import EventBus, EventGroupConsumer
from contactcenter.core.stream_trim import trim_once
from routing.keys import Keys


class FailsOnce:
    """A handler whose first call fails, as a store that is briefly away would."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def __call__(self, event: ev.Event) -> None:
        self.calls.append(event.event_id)
        if len(self.calls) == 1:
            raise ConnectionError("store away")


class Recorder:
    """A handler that keeps the ids of the events it was given, in order."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    async def __call__(self, event: ev.Event) -> None:
        self.ids.append(event.event_id)


def _abandoned(i: int) -> ev.ContactAbandoned:
    return ev.ContactAbandoned(at_ms=1_700_000_000_000 + i, contact_id=f"c-{i}", queue="support")


async def test_an_event_whose_handling_failed_is_handled_again_by_the_same_member(
    redis: Any, routing_domain: str
) -> None:
    stream = Keys(routing_domain).events
    handler = FailsOnce()
    member = EventGroupConsumer(redis, stream, "g", handler, consumer="m1")
    await member.ensure_group()
    event = _abandoned(1)
    await EventBus(redis, stream).publish(event)

    try:
        await member.run_once(block_ms=1)
        raise AssertionError("the handler's failure should have reached the caller")
    except ConnectionError:
        pass
    assert (await redis.xpending(stream, "g"))["pending"] == 1, "not acknowledged"
    assert await member.run_once(block_ms=1) == 1  # its own pending event, again
    assert handler.calls == [event.event_id, event.event_id]
    assert (await redis.xpending(stream, "g"))["pending"] == 0


async def test_a_healthy_member_does_not_read_its_own_pending_events_on_every_pass(
    redis: Any, routing_domain: str
) -> None:
    stream = Keys(routing_domain).events
    handled = Recorder()
    member = EventGroupConsumer(redis, stream, "g", handled, consumer="m1")
    await member.ensure_group()
    reads: list[str] = []
    real_read = redis.xreadgroup

    async def counted(group: str, consumer: str, streams: dict[str, str], **kw: Any) -> Any:
        reads.append(next(iter(streams.values())))
        return await real_read(group, consumer, streams, **kw)

    redis.xreadgroup = counted
    bus = EventBus(redis, stream)
    sent = []
    for i in range(3):
        event = _abandoned(i)
        sent.append(event.event_id)
        await bus.publish(event)
        assert await member.run_once(block_ms=1) == 1
    assert handled.ids == sent, "each event handled once, in order"
    assert reads == ["0", ">", ">", ">"], "own pending read once, at start"
    assert (await redis.xpending(stream, "g"))["pending"] == 0


# --- trimming behind the slowest group (contactcenter/core/stream_trim.py) ------------------------


async def test_a_lagging_group_loses_nothing_however_long_the_stream_grows(
    redis: Any, routing_domain: str
) -> None:
    stream = Keys(routing_domain).events
    handled, slow_handled = Recorder(), Recorder()
    fast = EventGroupConsumer(redis, stream, "fast", handled, consumer="f1")
    slow = EventGroupConsumer(redis, stream, "slow", slow_handled, consumer="s1")
    await fast.ensure_group()
    await slow.ensure_group()
    bus = EventBus(redis, stream)
    sent_ids = []
    for i in range(1_200):  # twelve times the stream's length limit below
        event = _abandoned(i)
        sent_ids.append(event.event_id)
        await bus.publish(event)
    while await fast.run_once(block_ms=1):
        pass
    # The slow group has read (not acknowledged) 100 events, and no more.
    reply = await redis.xreadgroup("slow", "s1", {stream: ">"}, count=100)
    assert len(reply[0][1]) == 100
    result = await trim_once(redis, stream, maxlen=100)
    assert result.slowest == "slow" and result.trimmed == 0  # its oldest pending holds it all
    assert await redis.xlen(stream) == 1_200
    # It comes back: its pending ones, then the rest, all 1,200 in order.
    slow._own_pending = True
    while await slow.run_once(block_ms=1):
        pass
    assert slow_handled.ids == sent_ids == handled.ids
    # Now both groups have acknowledged everything: trimmed down, far below the limit.
    result = await trim_once(redis, stream, maxlen=100)
    assert result.trimmed >= 1_000
    assert await redis.xlen(stream) < 200


async def test_a_stream_within_its_limit_is_left_alone(redis: Any, routing_domain: str) -> None:
    stream = Keys(routing_domain).events
    bus = EventBus(redis, stream)
    for i in range(50):
        await bus.publish(_abandoned(i))
    assert (await trim_once(redis, stream, maxlen=100)).trimmed == 0
    assert await redis.xlen(stream) == 50


async def test_appending_never_trims_even_past_the_limit(redis: Any, routing_domain: str) -> None:
    # Routing's scripts and the bus append without trimming: only the trimmer trims.
    stream = Keys(routing_domain).events
    bus = EventBus(redis, stream)
    await bus.publish_many([_abandoned(i) for i in range(250)])
    assert await redis.xlen(stream) == 250

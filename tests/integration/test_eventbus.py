"""Consumer groups on the real Redis: at least once, and no wasted reads when all is well."""

from __future__ import annotations

from typing import Any

from contactcenter import events as ev
from contactcenter.eventbus import EventBus, EventGroupConsumer
from routing.keys import Keys


class FailsOnce:
    """A handler whose first call fails, as a store that is briefly away would."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def __call__(self, event: ev.Event) -> None:
        self.calls.append(event.event_id)
        if len(self.calls) == 1:
            raise ConnectionError("store away")


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
    handled: list[str] = []

    async def handler(event: ev.Event) -> None:
        handled.append(event.event_id)

    member = EventGroupConsumer(redis, stream, "g", handler, consumer="m1")
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
    assert handled == sent, "each event handled once, in order"
    assert reads == ["0", ">", ">", ">"], "own pending read once, at start"
    assert (await redis.xpending(stream, "g"))["pending"] == 0

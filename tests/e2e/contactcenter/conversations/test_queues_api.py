"""Queues as a resource (GET /api/queues, /api/queues/{name}) through a real hub: the
configuration it runs with, live numbers that follow arrivals and agents, a reload, and who
sees which queue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from contactcenter.conversations.queues_api import QueueList, QueueOut
from contactcenter.settings.appkeys import WATCHER
from contactcenter.settings.hub import HubSettings
from contactcenter.web.appkeys import AGENTS
from tests.conftest import TEST_PASSWORD
from tests.e2e.clients import AgentClient, ChatClient
from tests.e2e.contactcenter.conversations.scope_support import Site, running_site


@pytest.fixture
async def site(settings: HubSettings, redis: Any, tmp_path: Path) -> AsyncIterator[Site]:
    async with running_site(settings, tmp_path) as s:
        yield s


SUPPORT = "/api/queues/support"


def _live(body: dict[str, Any]) -> dict[str, Any]:
    live: dict[str, Any] = body["live"]
    return live


async def test_a_queue_shows_the_configuration_it_runs_with(site: Site) -> None:
    body = await site.ok("admin", "/api/queues", QueueList)
    assert [q["name"] for q in body["queues"]] == ["support", "billing"]
    support, billing = (q["config"] for q in body["queues"])
    assert support["skill"] == "support" and support["channels"] == ["chat"]
    assert support["dispositions"] == ["resolved", "follow-up"]
    assert (support["offer_timeout_s"], support["wrapup_s"]) == (20.0, 120.0)
    assert support["service_level_s"] == {"chat": 60.0}
    assert support["hours"] is None and support["escalation"] == []
    assert billing["skill"] == site.billing_skill
    assert (billing["strategy"], billing["priority"], billing["max_length"]) == (
        "most-skilled", 5, 50,
    )  # fmt: skip
    assert billing["disposition_required"] is False
    assert billing["service_level_s"] == dict.fromkeys(
        ("voice", "chat", "sms", "whatsapp", "email"), 120.0
    )
    assert billing["hours"] == {
        "timezone": "Europe/Paris",
        "weekly": {"mon": ["09:00-12:00", "14:00-18:00"]},
        "holidays": ["2026-12-25"],
        "when_closed": "queue",
        "closed_message": "We are closed right now.",
    }
    assert billing["escalation"] == [
        {"after_s": 90.0, "eligibility": None, "any_language": True, "overflow": ["support"]}
    ]
    one = await site.ok("admin", SUPPORT, QueueOut)
    assert one["config"] == support and one["name"] == "support"


async def test_the_configuration_follows_a_reload(site: Site) -> None:
    path = site.folder / "queues.toml"
    path.write_text(path.read_text().replace("offer_timeout_s = 20", "offer_timeout_s = 8"))
    assert await site.hub.app[WATCHER].reload()
    body = await site.ok("sup_a", SUPPORT, QueueOut)
    assert body["config"]["offer_timeout_s"] == 8.0


async def test_live_numbers_follow_arrivals_and_agents(site: Site) -> None:
    empty = _live(await site.ok("admin", SUPPORT, QueueOut))
    assert (empty["waiting"], empty["offered"], empty["oldest_wait_s"]) == (0, 0, None)
    assert empty["open"] is True
    before = empty["agents"]
    # The demo agents have the support skill; nobody has logged in on this routing domain.
    assert before["eligible"] >= 2 and before["available"] == 0

    customers = [await ChatClient.connect(site.hub.base_url, n) for n in ("Ines", "Jon")]
    for c in customers:
        await c.say("is anyone there?")
        await c.expect("queued")
    live = _live(await site.until("admin", SUPPORT, QueueOut, lambda b: _live(b)["waiting"] == 2))
    assert live["oldest_wait_s"] is not None and live["oldest_wait_s"] >= 0
    assert live["offered"] == 0

    alice = await AgentClient.connect(site.hub.base_url, "alice", TEST_PASSWORD)
    await alice.go_available()
    offers = [await alice.expect("offer") for _ in customers]
    live = _live(await site.until("admin", SUPPORT, QueueOut, lambda b: _live(b)["offered"] == 2))
    # Offered is not answered: the customers still wait, and the oldest wait counts them.
    assert live["waiting"] == 0 and live["oldest_wait_s"] is not None
    agents = live["agents"]
    assert agents["eligible"] == before["eligible"]
    assert agents["logged_in"] == before["logged_in"] + 1
    assert agents["available"] == 1  # two chats of three: alice still has room

    for offer in offers:
        ack = await alice.command("accept", contact_id=offer["contact"]["contact_id"])
        assert ack["type"] == "ack", ack
    live = _live(await site.until("admin", SUPPORT, QueueOut, lambda b: _live(b)["offered"] == 0))
    assert (live["waiting"], live["oldest_wait_s"]) == (0, None)
    assert live["agents"]["available"] == 1

    await alice.command("set_state", state="away", reason="break")
    live = _live(
        await site.until("admin", SUPPORT, QueueOut, lambda b: _live(b)["agents"]["available"] == 0)
    )
    assert live["agents"]["logged_in"] == before["logged_in"] + 1
    for client in (alice, *customers):
        await client.close()


async def test_an_agent_counts_where_their_skills_admit_them(site: Site) -> None:
    """Billing's skill is this test's own: only the agent given it is eligible there, and
    available once they go available (capacity on one of its channels)."""
    billing = "/api/queues/billing"
    assert _live(await site.ok("sup_b", billing, QueueOut))["agents"] == {
        "eligible": 0, "logged_in": 0, "available": 0,
    }  # fmt: skip
    username = f"biller-{site.billing_skill}"
    await site.hub.app[AGENTS].create_agent(
        username, TEST_PASSWORD, display_name="Bill", skills={site.billing_skill: 70}
    )
    biller = await AgentClient.connect(site.hub.base_url, username, TEST_PASSWORD)
    await site.until("sup_b", billing, QueueOut, lambda b: _live(b)["agents"]["eligible"] == 1)
    await biller.go_available()
    body = await site.until(
        "sup_b", billing, QueueOut, lambda b: _live(b)["agents"]["available"] == 1
    )
    assert _live(body)["agents"] == {"eligible": 1, "logged_in": 1, "available": 1}
    support = _live(await site.ok("admin", SUPPORT, QueueOut))["agents"]
    assert support["available"] == 0  # no support skill: not counted there
    await biller.close()


async def test_who_sees_which_queue(site: Site) -> None:
    names = {}
    for who in ("admin", "sup_a", "sup_b", "loner"):
        body = await site.ok(who, "/api/queues", QueueList)
        names[who] = [q["name"] for q in body["queues"]]
    assert names == {
        "admin": ["support", "billing"],
        "sup_a": ["support"],
        "sup_b": ["billing"],
        "loner": [],
    }
    assert (await site.call("sup_a", SUPPORT))[0] == 200
    # Another team's queue is as unknown as one that does not exist.
    for who, path in (
        ("sup_a", "/api/queues/billing"),
        ("sup_b", SUPPORT),
        ("loner", SUPPORT),
        ("admin", "/api/queues/nowhere"),
        ("sup_a", "/api/queues/nowhere"),
    ):
        status, body = await site.call(who, path)
        assert (status, body["error_id"]) == (404, "queues.not_found"), (who, path)
    for path in ("/api/queues", SUPPORT, "/api/queues/nowhere"):
        status, body = await site.call("alice", path)
        assert (status, body["error_id"]) == (403, "auth.forbidden"), path
        status, body = await site.call(None, path)
        assert (status, body["error_id"]) == (401, "auth.required"), path


async def test_bad_input_gets_a_stable_error(site: Site) -> None:
    status, body = await site.call("admin", "/api/queues/sup%00port")
    assert (status, body["error_id"]) == (400, "request.invalid")
    status, body = await site.call("admin", "/api/queues/" + "x" * 300)
    assert (status, body["error_id"]) == (404, "queues.not_found")
    # Nothing here changes anything: the queues are as they were.
    body = await site.ok("admin", "/api/queues", QueueList)
    assert [q["name"] for q in body["queues"]] == ["support", "billing"]

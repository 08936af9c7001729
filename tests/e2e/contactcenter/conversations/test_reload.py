"""Queues and routing rules reload live; a bad file or an unsafe change is refused."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web
from redis.asyncio import Redis

from contactcenter.conversations.appkeys import SERVICE
from contactcenter.settings.appkeys import WATCHER
from contactcenter.settings.hub import HubSettings, load_routing
from tests.conftest import ROOT, LiveHub, start_hub
from tests.e2e.clients import AgentClient, ChatClient


def _config(tmp_path: Path) -> Path:
    folder = tmp_path / "config"
    folder.mkdir()
    for name in ("hub.toml", "queues.toml", "routing.toml"):
        shutil.copy(ROOT / "config" / name, folder / name)
    return folder


async def _hub_on(settings: HubSettings, folder: Path) -> tuple[LiveHub, web.AppRunner]:
    """A hub whose queues and rules come from `folder`, which the test may edit."""
    queues, rules, default = load_routing(folder)
    return await start_hub(
        replace(settings, config_dir=folder, queues=queues, rules=rules, default_route=default)
    )


def _edit(folder: Path, old: str, new: str) -> None:
    path = folder / "queues.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


async def test_a_changed_queue_applies_to_contacts_already_waiting(
    settings: HubSettings, redis: Redis, tmp_path: Path
) -> None:
    folder = _config(tmp_path)
    live, runner = await _hub_on(settings, folder)
    try:
        customer = await ChatClient.connect(live.base_url, "Wes")
        await customer.say("waiting through a reload")
        contact_id = (await customer.expect("queued"))["contact_id"]

        _edit(folder, 'strategy = "longest-idle"', 'strategy = "round-robin"')
        _edit(folder, "offer_timeout_s = 20", "offer_timeout_s = 7")
        assert await live.app[WATCHER].reload()
        assert live.app[SERVICE].settings.queue("support").strategy == "round-robin"

        alice = await AgentClient.connect(live.base_url, "alice", live.demo_password)
        await alice.go_available()
        offer = await alice.expect("offer", timeout_s=5)
        assert offer["contact"]["contact_id"] == contact_id
        assert offer["reason"]["strategy"] == "round-robin"
        await alice.close()
        await customer.close()
    finally:
        await runner.cleanup()


async def test_a_broken_file_is_refused_and_the_hub_carries_on(
    settings: HubSettings, redis: Redis, tmp_path: Path
) -> None:
    folder = _config(tmp_path)
    live, runner = await _hub_on(settings, folder)
    try:
        _edit(folder, 'skill = "support"', 'eligibility = "support >= 500"')
        assert not await live.app[WATCHER].reload()
        assert live.app[SERVICE].settings.queue("support").skill == "support"
        # Still routing with what it had.
        alice = await AgentClient.connect(live.base_url, "alice", live.demo_password)
        await alice.go_available()
        customer = await ChatClient.connect(live.base_url, "Xan")
        await customer.say("hi")
        await alice.expect("offer", timeout_s=5)
        await alice.close()
        await customer.close()
    finally:
        await runner.cleanup()


async def test_removing_a_queue_that_still_holds_contacts_is_refused(
    settings: HubSettings, redis: Redis, tmp_path: Path
) -> None:
    folder = _config(tmp_path)
    live, runner = await _hub_on(settings, folder)
    try:
        customer = await ChatClient.connect(live.base_url, "Yve")
        await customer.say("still here")
        await customer.expect("queued")
        (folder / "queues.toml").write_text(
            (folder / "queues.toml").read_text().replace('name = "support"', 'name = "help"')
        )
        (folder / "routing.toml").write_text('[default]\nqueue = "help"\n')
        assert not await live.app[WATCHER].reload()
        assert [q.name for q in live.app[SERVICE].settings.queues] == ["support"]
        await customer.close()
    finally:
        await runner.cleanup()


async def test_a_closed_queue_refuses_new_chats_and_says_when_it_opens(
    settings: HubSettings, redis: Redis, tmp_path: Path
) -> None:
    folder = _config(tmp_path)
    with (folder / "queues.toml").open("a") as f:
        f.write(
            '\n[queue.hours]\ntimezone = "Europe/Paris"\nmon = ["09:00-18:00"]\n'
            'closed_message = "Closed. Back on Monday."\n'
        )
    # The hub's clock reads Saturday 2026-11-28 12:00 UTC: closed until Monday 09:00 Paris.
    saturday_noon = int(datetime(2026, 11, 28, 12, 0, tzinfo=UTC).timestamp() * 1000)
    queues, rules, default = load_routing(folder)
    live, runner = await start_hub(
        replace(settings, config_dir=folder, queues=queues, rules=rules, default_route=default),
        clock=lambda: saturday_noon,
    )
    try:
        customer = await ChatClient.connect(live.base_url, "Zed")
        await customer.say("hello?")
        err = await customer.expect("error")
        assert err["error_id"] == "queue.closed" and err["message"] == "Closed. Back on Monday."
        monday_nine_paris = datetime(2026, 11, 30, 8, 0, tzinfo=UTC).timestamp() * 1000
        assert err["details"]["opens_at_ms"] == monday_nine_paris
        assert await redis.zcard(f"cc:{{{settings.routing_domain}}}:queue:support") == 0
        await customer.close()
    finally:
        await runner.cleanup()

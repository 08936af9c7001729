"""`make run` in one terminal and the command line in another, with no REDIS_URL or
DATABASE_URL: real `contactcenter` processes sharing one data folder's embedded servers."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import ROOT, TEST_PASSWORD, free_port
from tests.e2e.clients import login
from tests.e2e.processes import HubProcess

STARTUP_TIMEOUT_S = 90.0  # initdb, the password set-up and the migrations on a busy machine


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    scrubbed = ("REDIS_URL", "DATABASE_URL")
    env = {k: v for k, v in os.environ.items() if k not in scrubbed and not k.startswith("CC_")}
    env.update(
        {
            "CC_DATA_DIR": str(data_dir),
            "CC_CONFIG_DIR": str(ROOT / "config"),
            "CC_HOST": "127.0.0.1",
            "CC_DEMO_PASSWORD": TEST_PASSWORD,
            "CC_LOG_FORMAT": "json",
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
    )
    return env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "contactcenter", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=STARTUP_TIMEOUT_S,
        check=False,
    )


def _log_events(text: str) -> list[dict[str, object]]:
    events = []
    for line in text.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events


@pytest.fixture(scope="module")
def data_dir() -> Iterator[Path]:
    # Not tmp_path: as root, PostgreSQL runs as nobody, who cannot enter pytest's 0700 base dir.
    folder = Path(tempfile.mkdtemp(prefix="cc-cli-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def taken_ports() -> Iterator[dict[str, int]]:
    """Another program listening on the ports the embedded servers are configured to use."""
    with socket.socket() as for_redis, socket.socket() as for_postgres:
        for holder in (for_redis, for_postgres):
            holder.bind(("127.0.0.1", 0))
            holder.listen()
        yield {"redis": for_redis.getsockname()[1], "postgres": for_postgres.getsockname()[1]}


def _spawn_serve(env: dict[str, str], port: int, log_path: Path) -> HubProcess:
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "contactcenter", "serve"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return HubProcess("make-run", port, proc, log_path, env)


@pytest.fixture(scope="module")
async def running_hub(
    data_dir: Path, taken_ports: dict[str, int], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[HubProcess]:
    """`contactcenter serve` on the data folder, as `make run` starts it, while another
    program holds the embedded servers' configured ports."""
    port = free_port()
    env = _env(
        data_dir,
        CC_PORT=str(port),
        CC_EMBEDDED_REDIS_PORT=str(taken_ports["redis"]),
        CC_EMBEDDED_POSTGRES_PORT=str(taken_ports["postgres"]),
    )
    hub = _spawn_serve(env, port, tmp_path_factory.mktemp("hub") / "hub.log")
    try:
        await hub.wait_healthy(timeout_s=STARTUP_TIMEOUT_S)
        yield hub
    finally:
        await hub.stop()
        print(f"\n----- hub (exit {hub.proc.returncode}) log tail -----\n{hub.tail()}")


async def test_serve_comes_up_on_free_ports_when_the_configured_ones_are_taken(
    running_hub: HubProcess, taken_ports: dict[str, int]
) -> None:
    said = [e for e in _log_events(running_hub.log_path.read_text()) if "taken_port" in e]
    assert {e["taken_port"] for e in said} == set(taken_ports.values())
    for event in said:
        assert f"uses port {event['port']} instead" in str(event["event"])
    assert "Traceback" not in running_hub.log_path.read_text()


async def test_crm_import_beside_a_running_hub_uses_its_database(
    running_hub: HubProcess, data_dir: Path, tmp_path: Path
) -> None:
    customers = tmp_path / "customers.csv"
    customers.write_text(
        "external_id,name,email,phone,language,tier_by_hand\n"
        "C-1001,Ada Lovelace,ada@example.com,+44 20 7946 0958,en,\n"
    )
    done = await asyncio.to_thread(
        _cli, _env(data_dir), "crm", "import", "customers", str(customers), "--quiet"
    )
    assert done.returncode == 0, done.stderr
    assert "1 customers: 1 created" in done.stdout
    used = [e for e in _log_events(done.stderr) if e.get("pid") == running_hub.pid]
    assert used and "contactcenter serve" in str(used[0]["event"]), done.stderr
    assert running_hub.alive()

    token = await login(running_hub.base_url, "alice", TEST_PASSWORD)
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http,
        http.get(
            f"{running_hub.base_url}/api/customers", params={"email": "ada@example.com"}
        ) as resp,
    ):
        assert resp.status == 200, await resp.text()
        found = (await resp.json())["items"]
    assert [c["display_name"] for c in found] == ["Ada Lovelace"]


async def test_migrate_beside_a_running_hub_finds_the_schema_up_to_date(
    running_hub: HubProcess, data_dir: Path
) -> None:
    done = await asyncio.to_thread(_cli, _env(data_dir), "migrate")
    assert done.returncode == 0, done.stderr
    assert "schema is up to date" in done.stdout
    assert running_hub.alive()


async def test_a_second_serve_on_the_same_data_folder_says_who_runs_it(
    running_hub: HubProcess, data_dir: Path
) -> None:
    done = await asyncio.to_thread(_cli, _env(data_dir, CC_PORT=str(free_port())), "serve")
    assert done.returncode == 1
    assert f"run by contactcenter serve (pid {running_hub.pid})" in done.stderr
    assert "CC_DATA_DIR" in done.stderr and "Traceback" not in done.stderr
    assert running_hub.alive()

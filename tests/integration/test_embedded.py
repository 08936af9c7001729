"""The embedded servers, for real: valkey and PostgreSQL started from the pip-installed binaries."""

from __future__ import annotations

import asyncio
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import redis

from contactcenter.embedded import EmbeddedServerError, EmbeddedServices, EmbeddedUrls

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Not tmp_path: as root, PostgreSQL runs as nobody, who cannot enter pytest's 0700 base dir.
    folder = Path(tempfile.mkdtemp(prefix="cc-embedded-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


async def _pg_fetch(url: str, *statements: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        for statement in statements[:-1]:
            await conn.execute(statement)
        return list(await conn.fetch(statements[-1]))
    finally:
        await conn.close()


def _port(url: str) -> int:
    match = re.search(r":(\d+)/", url)
    assert match, url
    return int(match.group(1))


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait_closed(*ports: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while any(_answers(port) for port in ports):
        assert time.monotonic() < deadline, f"still listening: {ports}"
        time.sleep(0.05)


def test_servers_answer_and_keep_their_data_across_a_restart(data_dir: Path) -> None:
    services = EmbeddedServices(data_dir, start_redis=True, start_postgres=True)
    urls = services.start()
    try:
        assert urls.redis_url and urls.redis_url.startswith("redis://127.0.0.1:")
        assert urls.database_url and urls.database_url.startswith(
            "postgresql://contactcenter@127.0.0.1:"
        )
        with redis.Redis.from_url(urls.redis_url) as client:
            assert client.ping()
            client.set("contact:1", "queued")
            assert client.get("contact:1") == b"queued"
        rows = asyncio.run(
            _pg_fetch(
                urls.database_url,
                "CREATE TABLE contact (id int PRIMARY KEY, channel text NOT NULL)",
                "INSERT INTO contact VALUES (1, 'chat')",
                "SELECT 1 AS one",
            )
        )
        assert rows[0]["one"] == 1
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody").pw_uid
            assert (data_dir / "postgres").stat().st_uid == nobody
    finally:
        services.stop()
    services.stop()  # idempotent
    _wait_closed(_port(urls.redis_url), _port(urls.database_url))

    with EmbeddedServices(data_dir, start_redis=True, start_postgres=True) as again:
        assert again.redis_url and again.database_url
        with redis.Redis.from_url(again.redis_url) as client:
            assert client.get("contact:1") == b"queued"
        rows = asyncio.run(_pg_fetch(again.database_url, "SELECT id, channel FROM contact"))
        assert [tuple(row) for row in rows] == [(1, "chat")]
    assert (data_dir / "redis" / "valkey.log").exists()
    assert (data_dir / "postgres.log").exists()


def test_only_the_requested_server_starts(data_dir: Path) -> None:
    with EmbeddedServices(data_dir, start_redis=True, start_postgres=False) as urls:
        assert urls == EmbeddedUrls(redis_url=urls.redis_url, database_url=None)
        assert urls.redis_url
    assert not (data_dir / "postgres").exists()


def test_a_stale_postmaster_pid_whose_pid_was_reused_does_not_block_a_start(
    data_dir: Path,
) -> None:
    with EmbeddedServices(data_dir, start_redis=False, start_postgres=True):
        pass
    # A killed run leaves postmaster.pid behind, and its pid now belongs to another process of
    # the same user: PostgreSQL alone would take that for a live postmaster and refuse.
    # (As root, PostgreSQL runs as nobody, so the stranger must be nobody's for the same test.)
    as_nobody = {"user": "nobody"} if os.geteuid() == 0 else {}
    stranger = subprocess.Popen(["sleep", "30"], **as_nobody)  # type: ignore[call-overload]
    try:
        pid_file = data_dir / "postgres" / "postmaster.pid"
        pid_file.write_text(f"{stranger.pid}\n{data_dir / 'postgres'}\n0\n5432\n\n\n0 0\nready\n")
        with EmbeddedServices(data_dir, start_redis=False, start_postgres=True) as urls:
            assert urls.database_url
            assert asyncio.run(_pg_fetch(urls.database_url, "SELECT 1 AS one"))[0]["one"] == 1
    finally:
        stranger.kill()
        stranger.wait()


def test_a_fixed_port_already_taken_is_a_clear_error(data_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        services = EmbeddedServices(
            data_dir, start_redis=True, start_postgres=False, redis_port=port
        )
        with pytest.raises(EmbeddedServerError, match=f"port {port}"):
            services.start()


def test_a_second_start_on_a_data_folder_in_use_names_the_running_server(data_dir: Path) -> None:
    with EmbeddedServices(data_dir, start_redis=True, start_postgres=True):
        for kind in ("redis", "postgres"):
            second = EmbeddedServices(
                data_dir, start_redis=kind == "redis", start_postgres=kind == "postgres"
            )
            with pytest.raises(EmbeddedServerError, match="earlier run still uses"):
                second.start()


def _run_services(data_dir: Path) -> tuple[subprocess.Popen[str], list[int]]:
    """`main_services` in a child process; returns it and the ports it printed."""
    code = "import sys; from pathlib import Path; from contactcenter.embedded import main_services"
    code += "; main_services(Path(sys.argv[1]))"
    pythonpath = [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(pythonpath)}
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(data_dir)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert child.stdout is not None
    lines: list[str] = []
    while len(lines) < 2:  # skipping log lines; readline gives "" if the child died
        line = child.stdout.readline()
        assert line, f"main_services exited ({child.wait()}) before printing its URLs"
        lines += [line] if line.startswith("export ") else []
    assert lines[0].startswith("export REDIS_URL=redis://127.0.0.1:"), lines
    assert lines[1].startswith("export DATABASE_URL=postgresql://contactcenter@127.0.0.1:"), lines
    return child, [_port(line) for line in lines]


def test_main_services_stops_both_servers_on_sigterm(data_dir: Path) -> None:
    child, ports = _run_services(data_dir)
    assert all(_answers(port) for port in ports)
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=20) == 0
    assert not any(_answers(port) for port in ports)


def test_servers_go_down_when_the_hub_is_killed(data_dir: Path) -> None:
    child, ports = _run_services(data_dir)
    child.kill()
    child.wait()
    _wait_closed(*ports)

"""The embedded servers, for real: valkey and PostgreSQL started from the pip-installed binaries."""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
import redis
import structlog

from contactcenter.embedded.servers import (
    EmbeddedServersInUse,
    EmbeddedServices,
    EmbeddedUrls,
    find_running,
)

REPO = Path(__file__).resolve().parents[4]


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
    port = urlsplit(url).port
    assert port, url
    return port


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
        assert urls.redis_url and urls.redis_url.startswith("redis://:")
        assert urls.database_url and urls.database_url.startswith("postgresql://contactcenter:")
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


def test_taken_ports_are_replaced_by_free_ones_said_in_the_log_and_kept(data_dir: Path) -> None:
    with socket.socket() as redis_holder, socket.socket() as postgres_holder:
        for holder in (redis_holder, postgres_holder):  # another program on the default ports
            holder.bind(("127.0.0.1", 0))
            holder.listen()
        taken = {
            "redis": redis_holder.getsockname()[1],
            "postgres": postgres_holder.getsockname()[1],
        }
        wanted = {"redis_port": taken["redis"], "postgres_port": taken["postgres"]}
        with structlog.testing.capture_logs() as logs:
            with EmbeddedServices(
                data_dir, start_redis=True, start_postgres=True, **wanted
            ) as urls:
                assert urls.redis_url and urls.database_url
                used = {"redis": _port(urls.redis_url), "postgres": _port(urls.database_url)}
                assert used["redis"] != taken["redis"] and used["postgres"] != taken["postgres"]
                with redis.Redis.from_url(urls.redis_url) as client:
                    assert client.ping()
                assert asyncio.run(_pg_fetch(urls.database_url, "SELECT 1 AS one"))[0]["one"] == 1
        said = {entry["server"]: entry for entry in logs if "taken_port" in entry}
        for kind, server in (("redis", "valkey-server"), ("postgres", "PostgreSQL")):
            assert said[server]["log_level"] == "warning"
            assert f"port {taken[kind]} " in said[server]["event"]
            assert f"uses port {used[kind]} instead" in said[server]["event"]
        # The next start (the default ports still taken) uses the same ports again.
        with EmbeddedServices(data_dir, start_redis=True, start_postgres=True, **wanted) as again:
            assert again.redis_url and again.database_url
            assert _port(again.redis_url) == used["redis"]
            assert _port(again.database_url) == used["postgres"]


def test_a_second_start_on_a_data_folder_in_use_names_the_running_server(data_dir: Path) -> None:
    with EmbeddedServices(data_dir, start_redis=True, start_postgres=True):
        for kind in ("redis", "postgres"):
            second = EmbeddedServices(
                data_dir, start_redis=kind == "redis", start_postgres=kind == "postgres"
            )
            with pytest.raises(EmbeddedServersInUse, match=f"run by .* \\(pid {os.getpid()}\\)"):
                second.start()


def _run_services(data_dir: Path) -> tuple[subprocess.Popen[str], list[int]]:
    """`main_services` in a child process; returns it and the ports it printed."""
    code = "import sys; from pathlib import Path"
    code += "; from contactcenter.embedded.servers import main_services"
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
    assert lines[0].startswith("export REDIS_URL=redis://:"), lines
    assert lines[1].startswith("export DATABASE_URL=postgresql://contactcenter:"), lines
    return child, [_port(line.split("=", 1)[1].strip()) for line in lines]


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


def _private_everywhere(data_dir: Path) -> list[str]:
    """What in the folder someone else could read, write or enter (the top folder, as root,
    lets PostgreSQL's account's group in, and only in)."""
    top = data_dir.stat()
    wrong = []
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        if stat.S_IMODE(top.st_mode) != 0o710 or top.st_gid != nobody.pw_gid:
            wrong.append(f"{data_dir} {stat.filemode(top.st_mode)} gid {top.st_gid}")
    elif stat.S_IMODE(top.st_mode) != 0o700:
        wrong.append(f"{data_dir} {stat.filemode(top.st_mode)}")
    for folder, dirs, files in os.walk(data_dir):
        for name in (*dirs, *files):
            mode = Path(folder, name).lstat().st_mode
            if mode & 0o077 and not stat.S_ISLNK(mode):
                wrong.append(f"{Path(folder, name)} {stat.filemode(mode)}")
    return wrong


def test_the_data_folder_is_private_and_logins_need_its_passwords(data_dir: Path) -> None:
    with EmbeddedServices(data_dir, start_redis=True, start_postgres=True) as urls:
        assert urls.redis_url and urls.database_url
        with redis.Redis.from_url(urls.redis_url) as client:
            client.set("customer:1:phone", "+33612345678")
            client.save()  # a dump.rdb too
        redis_port, pg_port = _port(urls.redis_url), _port(urls.database_url)
        with redis.Redis(host="127.0.0.1", port=redis_port) as stranger:
            with pytest.raises(redis.AuthenticationError):
                stranger.get("customer:1:phone")
        for password in ("", "guess"):
            with pytest.raises(asyncpg.InvalidPasswordError):
                asyncio.run(
                    _pg_fetch(
                        f"postgresql://contactcenter:{password}@127.0.0.1:{pg_port}/contactcenter",
                        "SELECT 1",
                    )
                )
        state = json.loads((data_dir / "embedded.json").read_text())
        passwords = (state["redis"]["password"], state["postgres"]["password"])
        assert passwords[0] in urls.redis_url and passwords[1] in urls.database_url
        # No password on a server's command line, which `ps` shows to everyone.
        for pid_file in (
            data_dir / "redis" / "valkey.pid",
            data_dir / "postgres" / "postmaster.pid",
        ):
            pid = int(pid_file.read_text().split()[0])
            command_line = Path(f"/proc/{pid}/cmdline").read_text()
            assert not any(password in command_line for password in passwords)
    assert (data_dir / "redis" / "dump.rdb").exists()
    assert _private_everywhere(data_dir) == []


def test_the_server_logs_keep_no_customer_data(data_dir: Path) -> None:
    phone, said = "+33612345678", "please call me back about my order"
    with EmbeddedServices(data_dir, start_redis=True, start_postgres=True) as urls:
        assert urls.redis_url and urls.database_url

        async def failing_writes(url: str) -> None:
            conn = await asyncpg.connect(url)
            try:
                await conn.execute(
                    "CREATE TABLE receipt (id int PRIMARY KEY, sender text NOT NULL,"
                    " body text CHECK (length(body) < 10), payload jsonb)"
                )
                failures: list[tuple[str, tuple[object, ...]]] = [
                    ("INSERT INTO receipt VALUES (1, $1, $2)", (phone, said)),  # check fails
                    ("INSERT INTO receipt VALUES (2, NULL, $1)", (said,)),  # not null fails
                    ("SELECT CAST($1::text AS int)", (f"{phone} {said}",)),  # a cast fails
                    (
                        "SELECT $1::text::jsonb",
                        (f'{{"From": "{phone}", "Body": "{said}\\u0000"}}',),
                    ),
                ]
                for statement, args in failures:
                    with pytest.raises(asyncpg.PostgresError):
                        await conn.execute(statement, *args)
            finally:
                await conn.close()

        asyncio.run(failing_writes(urls.database_url))
        with redis.Redis.from_url(urls.redis_url) as client:
            client.hset("contact:1", mapping={"from": phone, "body": said})
            assert client.config_get("hide-user-data-from-log") == {
                "hide-user-data-from-log": "yes"
            }
    for log in (data_dir / "postgres.log", data_dir / "redis" / "valkey.log"):
        text = log.read_text()
        assert "ready to accept connections" in text or "Ready to accept" in text, log
        for secret in ("33612345678", "call me back"):
            assert secret not in text, f"{secret!r} in {log}"


def test_a_folder_of_an_earlier_version_gets_passwords_and_keeps_its_data(data_dir: Path) -> None:
    with EmbeddedServices(data_dir, start_redis=True, start_postgres=True) as urls:
        assert urls.redis_url and urls.database_url
        with redis.Redis.from_url(urls.redis_url) as client:
            client.set("contact:1", "queued")
        asyncio.run(
            _pg_fetch(
                urls.database_url,
                "CREATE TABLE contact (id int PRIMARY KEY)",
                "INSERT INTO contact VALUES (7)",
                "ALTER ROLE contactcenter PASSWORD NULL",  # the earlier version set none
                "SELECT 1",
            )
        )
    # As an earlier version left it: no passwords file, every local login trusted (initdb's
    # pg_hba.conf for --auth=trust), world-readable files.
    (data_dir / "embedded.json").unlink()
    (data_dir / "redis" / "valkey.conf").unlink()
    hba = data_dir / "postgres" / "pg_hba.conf"
    hba.write_text(
        "local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n"
        "local replication all trust\nhost replication all 127.0.0.1/32 trust\n"
    )
    for path in (data_dir, data_dir / "redis"):
        path.chmod(0o755)
    for path in (data_dir / "postgres.log", data_dir / "redis" / "valkey.log", hba):
        path.chmod(0o644)

    with EmbeddedServices(data_dir, start_redis=True, start_postgres=True) as again:
        assert again.redis_url and again.database_url
        assert again.redis_url != urls.redis_url and again.database_url != urls.database_url
        with redis.Redis.from_url(again.redis_url) as client:
            assert client.get("contact:1") == b"queued"
        rows = asyncio.run(_pg_fetch(again.database_url, "SELECT id FROM contact"))
        assert [row["id"] for row in rows] == [7]
        trusted = f"postgresql://contactcenter@127.0.0.1:{_port(again.database_url)}/contactcenter"
        with pytest.raises(asyncpg.InvalidPasswordError):
            asyncio.run(_pg_fetch(trusted, "SELECT 1"))
        assert _private_everywhere(data_dir) == []
    assert (data_dir / "embedded.json").exists()


def test_another_process_finds_the_running_servers_and_none_once_they_stop(
    data_dir: Path,
) -> None:
    assert find_running(data_dir) is None
    with EmbeddedServices(
        data_dir, start_redis=False, start_postgres=True, command="contactcenter serve"
    ) as urls:
        found = find_running(data_dir)
        assert found is not None and found.urls == urls
        assert found.owner.pid == os.getpid() and found.owner.command == "contactcenter serve"
    assert find_running(data_dir) is None

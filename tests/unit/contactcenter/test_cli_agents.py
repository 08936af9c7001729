"""`contactcenter agents` and `contactcenter teams` with no servers: help that helps, and bad
input refused before any storage is touched (exit 2, the field and the reason, no traceback).
The commands against real PostgreSQL and Redis: tests/e2e/contactcenter/agents/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CONFIG = Path(__file__).resolve().parents[3] / "config"


def _run(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    # No storage URLs and an empty data folder: reaching storage would start servers, which
    # these refusals must not need.
    env = {"CC_CONFIG_DIR": str(CONFIG), "CC_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "contactcenter", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_top_level_help_names_agents_and_teams(tmp_path: Path) -> None:
    out = _run("--help", data_dir=tmp_path)
    assert out.returncode == 0
    assert "agents" in out.stdout and "teams" in out.stdout
    assert "contactcenter agents import agents.csv" in out.stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("agents",), ("list", "add", "set", "deactivate", "reactivate", "password", "import")),
        (("agents", "add"), ("--skill SKILL=LEVEL", "--capacity CHANNEL=N", "--password-stdin",
                             "examples:", "one-time password")),
        (("agents", "set"), ("--no-skill SKILL", "--no-team NAME", "reaches routing")),
        (("agents", "list"), ("--team NAME", "--all", "--json")),
        (("agents", "import"), ("display_name", "--passwords-out", "0600", "--update",
                                "all or nothing", "skills (support=50;billing=30)")),
        (("teams",), ("list", "add", "set", "delete", "supervisor")),
        (("teams", "set"), ("--no-member LOGIN", "--queue QUEUE", "--name NEW")),
    ],
)  # fmt: skip
def test_help_at_every_level(args: tuple[str, ...], words: tuple[str, ...], tmp_path: Path) -> None:
    out = _run(*args, "--help", data_dir=tmp_path)
    assert out.returncode == 0, out.stderr
    for word in words:
        assert word in out.stdout, (word, out.stdout)


def test_a_bad_login_is_refused_before_storage(tmp_path: Path) -> None:
    out = _run("agents", "add", "Not A Login", "--name", "X", data_dir=tmp_path)
    assert out.returncode == 2
    assert "contactcenter agents add: login: a login is 2 to 64 characters" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "postgres").exists() and list(tmp_path.iterdir()) == []


def test_a_weak_password_from_stdin_is_refused_before_storage(tmp_path: Path) -> None:
    env_run = subprocess.run(
        [sys.executable, "-m", "contactcenter", "agents", "password", "carol", "--password-stdin"],
        input="short\n",
        capture_output=True,
        text=True,
        env={"CC_CONFIG_DIR": str(CONFIG), "CC_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        timeout=60,
        check=False,
    )
    assert env_run.returncode == 2
    assert "password: password too weak: at least 10 characters" in env_run.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_csv_with_a_bad_header_is_refused_before_storage(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    csv = tmp_path / "agents.csv"
    csv.write_text("login,name\ncarol,Carol\n")
    out = _run("agents", "import", str(csv), "--quiet", data_dir=data)
    assert out.returncode == 2
    assert "line 1: unknown column 'name'" in out.stderr
    assert "nothing was imported [agents.import_rejected]" in out.stderr
    assert list(data.iterdir()) == []


def test_a_missing_csv_file_is_said_plainly(tmp_path: Path) -> None:
    out = _run("agents", "import", str(tmp_path / "nope.csv"), data_dir=tmp_path)
    assert out.returncode == 2
    assert "cannot read" in out.stderr and "No such file or directory" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_missing_option_value_is_a_usage_error(tmp_path: Path) -> None:
    out = _run("agents", "add", "carol", data_dir=tmp_path)
    assert out.returncode == 2
    assert "--name" in out.stderr

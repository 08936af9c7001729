"""The command line: help that helps, config errors that say where."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[3] / "config"


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "contactcenter", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_help_names_every_command_and_the_storage_switch() -> None:
    out = _run("--help")
    assert out.returncode == 0
    for word in ("serve", "migrate", "check-config", "services", "REDIS_URL", "DATABASE_URL"):
        assert word in out.stdout


def test_check_config_reports_the_file_and_key_of_a_problem(tmp_path: Path) -> None:
    for name in ("hub.toml", "queues.toml", "routing.toml"):
        shutil.copy(CONFIG / name, tmp_path / name)
    path = tmp_path / "queues.toml"
    path.write_text(path.read_text().replace("offer_timeout_s = 20", "offer_timeout_s = 0"))
    out = _run("check-config", env={"CC_CONFIG_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 2
    assert "queues.toml" in out.stderr and "queue[0].offer_timeout_s" in out.stderr


def test_check_config_accepts_the_shipped_config() -> None:
    out = _run("check-config", env={"CC_CONFIG_DIR": str(CONFIG), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0 and "configuration is valid" in out.stdout


def test_check_config_says_what_the_process_role_runs() -> None:
    env = {"CC_CONFIG_DIR": str(CONFIG), "PATH": "/usr/bin:/bin"}
    out = _run("check-config", env={**env, "CC_ROLE": "worker"})
    assert out.returncode == 0 and "role worker: runs the background work only" in out.stdout
    assert "role all:" in _run("check-config", env=env).stdout
    refused = _run("check-config", env={**env, "CC_ROLE": "router"})
    assert refused.returncode == 2 and "all, web, worker" in refused.stderr


def test_serve_help_explains_the_roles() -> None:
    out = _run("serve", "--help")
    assert out.returncode == 0
    assert "--role {all,web,worker}" in out.stdout and "docs/architecture.md" in out.stdout

"""Settings: defaults, then config files, then the environment; errors name where and what."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from contactcenter.core.errors import ConfigError
from contactcenter.site_settings import load_settings

CONFIG = Path(__file__).resolve().parents[4] / "config"


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    for name in ("hub.toml", "queues.toml", "routing.toml"):
        shutil.copy(CONFIG / name, tmp_path / name)
    return tmp_path


def test_shipped_config_loads_with_its_documented_defaults() -> None:
    s = load_settings(CONFIG, {})
    assert (s.host, s.port, s.routing_domain) == ("127.0.0.1", 8080, "main")
    assert [q.name for q in s.queues] == ["support"]
    assert s.queue("support").offer_timeout_s == 20
    assert s.redis_url is None and s.database_url is None


def test_environment_wins_over_the_file_and_is_cast() -> None:
    env = {"CC_PORT": "9001", "CC_DEMO_SEED": "false", "REDIS_URL": "redis://h:1/0"}
    s = load_settings(CONFIG, env)
    assert s.port == 9001 and s.demo_seed is False and s.redis_url == "redis://h:1/0"


def test_secrets_come_from_the_environment_only(config_dir: Path) -> None:
    with (config_dir / "hub.toml").open("a") as f:
        f.write('\n[secrets]\ndemo_password = "in-a-file"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(config_dir, {})
    assert "[secrets]" in info.value.message and "unknown section" in info.value.message
    assert load_settings(CONFIG, {"CC_DEMO_PASSWORD": "pw"}).demo_password == "pw"


def test_the_widget_identity_secret_comes_from_the_environment_and_must_be_long() -> None:
    secret = "s" * 16
    loaded = load_settings(CONFIG, {"CC_WIDGET_IDENTITY_SECRET": secret}).widget
    assert loaded.identity_secret == secret
    assert secret not in repr(loaded)
    assert load_settings(CONFIG, {}).widget.identity_secret == ""
    with pytest.raises(ConfigError) as info:
        load_settings(CONFIG, {"CC_WIDGET_IDENTITY_SECRET": "short"})
    assert "CC_WIDGET_IDENTITY_SECRET" in info.value.message


@pytest.mark.parametrize(
    ("role", "serves_clients", "runs_workers"),
    [("all", True, True), ("web", True, False), ("worker", False, True)],
)
def test_a_process_role_says_what_the_process_runs(
    role: str, serves_clients: bool, runs_workers: bool
) -> None:
    s = load_settings(CONFIG, {"CC_ROLE": role})
    assert (s.role, s.serves_clients, s.runs_workers) == (role, serves_clients, runs_workers)
    assert load_settings(CONFIG, {}).role == "all"


def test_an_unknown_role_is_refused_with_the_roles_there_are() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(CONFIG, {"CC_ROLE": "router"})
    assert "server.role" in info.value.message and "all, web, worker" in info.value.message


def test_a_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(CONFIG, {"CC_PORT": "eighty"})
    assert "CC_PORT" in info.value.message


def test_an_unknown_key_names_the_file_and_key(config_dir: Path) -> None:
    text = (config_dir / "hub.toml").read_text().replace("port = 8080", "prot = 8080")
    (config_dir / "hub.toml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(config_dir, {})
    assert "hub.toml" in info.value.message and "server.prot" in info.value.message


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("offer_timeout_s = 20", "offer_timeout_s = -1", "queue[0].offer_timeout_s"),
        ('skill = "support"', 'skill = ""', "queue[0].skill"),
        (
            'channels = ["chat", "sms", "whatsapp", "email", "voice"]',
            'channels = "chat"',
            "queue[0].channels",
        ),
    ],
)
def test_a_bad_queue_names_the_queue_and_key(
    config_dir: Path, old: str, new: str, where: str
) -> None:
    path = config_dir / "queues.toml"
    path.write_text(path.read_text().replace(old, new))
    with pytest.raises(ConfigError) as info:
        load_settings(config_dir, {})
    assert "queues.toml" in info.value.message and where in info.value.message


def test_invalid_toml_is_reported_with_the_file(config_dir: Path) -> None:
    (config_dir / "queues.toml").write_text("[[queue]\nname=")
    with pytest.raises(ConfigError) as info:
        load_settings(config_dir, {})
    assert "queues.toml" in info.value.message and "not valid TOML" in info.value.message


def test_every_key_of_the_shipped_file_is_commented() -> None:
    lines = (CONFIG / "hub.toml").read_text().splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.lstrip().startswith("#"):
            assert lines[i - 1].lstrip().startswith("#"), f"hub.toml line {i + 1} has no comment"


def test_login_and_agent_message_limits_come_from_the_file_and_the_environment() -> None:
    shipped = load_settings(CONFIG, {})
    assert (shipped.login_free_failures_per_account, shipped.login_max_delay_s) == (5, 300)
    assert (shipped.agent_messages_per_window, shipped.agent_message_window_s) == (30, 10)
    env = {"CC_LOGIN_FIRST_DELAY_S": "0.5", "CC_AGENT_MESSAGES_PER_WINDOW": "12"}
    s = load_settings(CONFIG, env)
    assert (s.login_first_delay_s, s.agent_messages_per_window) == (0.5, 12)


@pytest.mark.parametrize(
    ("env", "where"),
    [
        ({"CC_LOGIN_FREE_FAILURES_PER_ACCOUNT": "0"}, "login.free_failures_per_account"),
        ({"CC_AGENT_MESSAGE_WINDOW_S": "-1"}, "agents.message_window_s"),
        ({"CC_LOGIN_FIRST_DELAY_S": "10", "CC_LOGIN_MAX_DELAY_S": "5"}, "login.max_delay_s"),
    ],
)
def test_a_limit_that_would_not_limit_is_refused(env: dict[str, str], where: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(CONFIG, env)
    assert where in info.value.message

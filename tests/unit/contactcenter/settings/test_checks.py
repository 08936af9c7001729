"""check-config's verdict on the routing files beside what the hub runs, and the lines and
warnings the command and GET /api/config/routing share (contactcenter/settings/checks.py)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from contactcenter.core.errors import ConfigError
from contactcenter.settings import checks
from contactcenter.settings.routing import QueueSettings
from contactcenter.site_settings import load_settings

CONFIG = Path(__file__).resolve().parents[4] / "config"


def shipped_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(CONFIG, folder)
    return folder


def test_settings_that_match_their_files_are_loaded_and_valid(tmp_path: Path) -> None:
    folder = shipped_copy(tmp_path)
    live = load_settings(folder, {})
    verdict = checks.verdict(live, 1_700_000_000_000, checks.read_routing(folder))
    assert (verdict.status, verdict.summary) == ("valid", "loaded and valid")
    assert verdict.config_dir == str(folder) and verdict.loaded_at_ms == 1_700_000_000_000
    assert verdict.problem is None


def test_valid_changes_not_taken_up_yet_are_told_apart(tmp_path: Path) -> None:
    folder = shipped_copy(tmp_path)
    live = load_settings(folder, {})
    path = folder / "queues.toml"
    path.write_text(path.read_text().replace("offer_timeout_s = 20", "offer_timeout_s = 25"))
    verdict = checks.verdict(live, None, checks.read_routing(folder))
    assert verdict.status == "changed" and verdict.summary.startswith("loaded and valid;")


def test_a_mistake_in_the_files_is_named_with_its_file_and_key(tmp_path: Path) -> None:
    folder = shipped_copy(tmp_path)
    live = load_settings(folder, {})
    path = folder / "queues.toml"
    path.write_text(path.read_text().replace("offer_timeout_s = 20", "offer_timeout_s = 0"))
    on_disk = checks.read_routing(folder)
    assert isinstance(on_disk, ConfigError)
    verdict = checks.verdict(live, None, on_disk)
    assert verdict.status == "invalid"
    assert verdict.problem is not None and "queue[0].offer_timeout_s" in verdict.problem


def test_a_channel_no_queue_serves_is_a_warning() -> None:
    live = load_settings(CONFIG, {})
    assert checks.routing_warnings(live) == []
    chat_only = replace(live, queues=(QueueSettings(name="support", skill="support"),))
    assert checks.routing_warnings(chat_only) == [
        f"no queue serves {channel}; its contacts go to the default queue"
        for channel in ("email", "sms", "voice", "whatsapp")
    ]


def test_queues_and_rules_are_described_as_check_config_prints_them() -> None:
    q = QueueSettings(
        name="billing",
        eligibility="billing >= 50",
        channels=("chat", "email"),
        aging_s=30,
        max_wait_s=300,
        overflow_queue="general",
    )
    assert checks.describe_queue(q) == [
        "queue billing: eligibility billing >= 50; channels chat, email; strategy longest-idle",
        "  priority 0, +1 per 30 s waited; offer timeout 20 s; 3 misses to away; wrap-up until"
        " the agent ends it",
        "  after 300 s: to general",
    ]
    lines = checks.describe_routing(load_settings(CONFIG, {}))
    assert lines[0].startswith("queue support: skill support;")
    assert lines[-2] == "default -> queue support"
    assert lines[-1].startswith("away reasons: break 'Break' (not productive),")

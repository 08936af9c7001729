"""All of a site's settings: the hub's own (contactcenter/settings/hub.py) and those of the
channels, each loaded by its own package (Twilio: channels/twilio/common.py; the web chat
widget: agent_console/customers/settings.py).

Part of the composition root: `load_settings` is the one place settings are read. It is a
function of its inputs (a folder and an environment mapping), so tests build settings without
touching the process environment. Nothing else in the hub reads the environment or a global.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from agent_console.customers.settings import WidgetSettings, load_widget_settings
from channels.twilio.common import TwilioSettings, load_twilio_settings
from contactcenter.settings.hub import HubSettings, load_hub_settings


@dataclass(frozen=True)
class SiteSettings(HubSettings):
    """The hub's settings with its channels'. Handlers below the composition root see the
    `HubSettings` part (contactcenter/settings/appkeys.py) and their own channel's settings,
    handed to them by the root."""

    twilio: TwilioSettings = field(default_factory=TwilioSettings)
    widget: WidgetSettings = field(default_factory=WidgetSettings)


def load_settings(config_dir: Path, env: Mapping[str, str]) -> SiteSettings:
    """Build the site's settings from `config_dir` (hub.toml, queues.toml, routing.toml,
    crm.toml, twilio.toml, widget.toml) and `env`.

    Environment variables win over the files. Every problem raises `ConfigError` naming the
    file and key (or the variable) and what is wrong.
    """
    hub = load_hub_settings(config_dir, env)
    return SiteSettings(
        **{f.name: getattr(hub, f.name) for f in fields(hub)},
        twilio=load_twilio_settings(config_dir, env),
        widget=load_widget_settings(config_dir, env),
    )


def default_config_dir(env: Mapping[str, str]) -> Path:
    """The config folder: CC_CONFIG_DIR, else ./config, else the copy installed with the hub."""
    if env.get("CC_CONFIG_DIR"):
        return Path(env["CC_CONFIG_DIR"])
    local = Path("config")
    if (local / "hub.toml").is_file():
        return local
    return Path(__file__).resolve().parent.parent / "config"


def settings_from_environment() -> SiteSettings:
    env = dict(os.environ)
    return load_settings(default_config_dir(env), env)

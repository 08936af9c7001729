"""Typed application keys of the settings: what the hub runs with, and the watcher that
reloads the routing configuration (contactcenter/settings/reload.py)."""

from __future__ import annotations

from aiohttp import web

from contactcenter.settings.hub import HubSettings
from contactcenter.settings.reload import ConfigWatcher

SETTINGS = web.AppKey("settings", HubSettings)
WATCHER = web.AppKey("watcher", ConfigWatcher)

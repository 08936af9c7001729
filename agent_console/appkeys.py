"""Typed application key of the console side: the hub of this process's live connections."""

from __future__ import annotations

from aiohttp import web

from agent_console.hub import ConsoleHub

HUB = web.AppKey("hub", ConsoleHub)

"""Typed application key of the REST layer: the agents' accounts and sessions."""

from __future__ import annotations

from aiohttp import web

from contactcenter.web.auth import AgentStore

AGENTS = web.AppKey("agents", AgentStore)

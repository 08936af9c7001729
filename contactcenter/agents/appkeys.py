"""Typed application keys of administration: the services for agents' accounts and teams."""

from __future__ import annotations

from aiohttp import web

from contactcenter.agents.service import AdminService
from contactcenter.agents.team_service import TeamAdmin

ADMIN = web.AppKey("admin", AdminService)
TEAMS = web.AppKey("teams", TeamAdmin)

"""Typed application keys of the conversations domain: the service every channel and
console goes through, the routing store and worker under it, and whether this process has
rebuilt live state from the record since it started."""

from __future__ import annotations

import asyncio

from aiohttp import web

from contactcenter.conversations.service import ConversationService
from routing.store import RoutingStore
from routing.worker import RoutingWorker

SERVICE = web.AppKey("service", ConversationService)
ROUTING = web.AppKey("routing", RoutingStore)
ROUTING_WORKER = web.AppKey("routing_worker", RoutingWorker)
RECOVERED = web.AppKey("recovered", asyncio.Event)

"""REST endpoints of a session: log in (within contactcenter/web/login_limits.py), log out
(closing the session's consoles everywhere), who am I; and the health check."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contactcenter.core.appkeys import BUS, CLOCK, POOL, REDIS
from contactcenter.core.errors import (
    BadCredentials,
)
from contactcenter.core.events import SessionEnded
from contactcenter.web.appkeys import AGENTS
from contactcenter.web.auth import session_hash
from contactcenter.web.http import (
    SESSION_COOKIE,
    invalid_input,
    json_body,
    json_error,
    require_principal,
    session_token,
)
from contactcenter.web.login_limits import LOGIN_LIMITER, TooManyLoginAttempts
from contactcenter.web.origins import client_ip

log = structlog.get_logger("contactcenter.web.session_api")


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)


def too_many_attempts(error: TooManyLoginAttempts) -> web.Response:
    """429 with Retry-After in whole seconds (RFC 9110 section 10.2.3)."""
    response = json_error(error)
    response.headers["Retry-After"] = str(error.details["retry_after_s"])
    return response


async def login(request: web.Request) -> web.Response:
    """A session for valid credentials, within the limits of contactcenter/web/login_limits.py:
    while an account or an address must wait, every attempt gets 429, checked or not."""

    try:
        body = LoginBody.model_validate(await json_body(request))
    except ValidationError as exc:
        raise invalid_input(exc, "body") from None
    limiter = request.app[LOGIN_LIMITER]
    forwarded = request.headers.get("X-Forwarded-For")
    address = client_ip(request.remote, forwarded, limiter.policy.trust_forwarded_for)
    try:
        attempt = await limiter.begin(body.username, address)
    except TooManyLoginAttempts as exc:
        log.info("login_refused_waiting", limit=exc.details["limit"], address=address)
        return too_many_attempts(exc)
    try:
        token, principal = await request.app[AGENTS].login(body.username, body.password)
    except BadCredentials:
        await limiter.failed(attempt)
        raise
    await limiter.succeeded(attempt)
    log.info("agent_logged_in", agent_id=principal.agent_id)
    response = web.json_response({"token": token, "agent": principal.public()})
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        path="/",
        secure=limiter.policy.secure_cookie,
    )
    return response


async def logout(request: web.Request) -> web.Response:
    """End the session. Its consoles, on every hub process, this one included, are closed
    (code 4001) when the `SessionEnded` event reaches that process's stream tail."""
    from routing.worker import wall_clock_ms

    token = session_token(request)
    agent_id = await request.app[AGENTS].logout(token) if token else None
    if token and agent_id is not None:
        clock = request.app.get(CLOCK, wall_clock_ms)
        ended = SessionEnded(at_ms=clock(), agent_id=agent_id, token_hash=session_hash(token))
        await request.app[BUS].publish(ended)
        log.info("agent_logged_out", agent_id=agent_id)
    response = web.json_response({"ok": True})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def me(request: web.Request) -> web.Response:
    principal = await require_principal(request)
    return web.json_response({"agent": principal.public()})


HEALTH_TIMEOUT_S = 1.5


async def _check(name: str, probe: Awaitable[Any]) -> str | None:
    """None when `probe` answers within the time; else `name`. The probe is left behind, not
    awaited, past the time: cancelling a query to a hung server may itself wait on it."""
    task = asyncio.ensure_future(probe)
    done, _pending = await asyncio.wait({task}, timeout=HEALTH_TIMEOUT_S)
    if not done:
        task.cancel()
        task.add_done_callback(_swallow)
        return name
    return name if task.exception() is not None else None


def _swallow(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so that it is not reported as never retrieved


async def healthz(request: web.Request) -> web.Response:
    """200 when Redis and PostgreSQL answer; 503 naming what is down."""

    down = [
        d
        for d in await asyncio.gather(
            _check("redis", request.app[REDIS].ping()),  # type: ignore[arg-type]
            _check("postgres", request.app[POOL].fetchval("SELECT 1")),
        )
        if d
    ]
    if down:
        return web.json_response({"status": "down", "down": down}, status=503)
    return web.json_response({"status": "ok"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/api/login", login)
    app.router.add_post("/api/logout", logout)
    app.router.add_get("/api/me", me)

"""REST endpoints: login, session, health; and the middleware that maps errors to HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contactcenter.core.errors import (
    BadCredentials,
    HubError,
    InvalidInput,
    ServiceUnavailable,
    Unauthenticated,
)
from contactcenter.core.events import SessionEnded
from contactcenter.core.storable import text_problem, unstorable
from contactcenter.core.store_errors import is_store_failure, store_unavailable
from contactcenter.web.auth import Principal, session_hash
from contactcenter.web.login_limits import LOGIN_LIMITER, TooManyLoginAttempts
from contactcenter.web.origins import client_ip

log = structlog.get_logger("contactcenter.web.api")

SESSION_COOKIE = "cc_session"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_error(error: HubError) -> web.Response:
    return web.json_response(error.as_dict(), status=error.http_status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except HubError as exc:
        return json_error(exc)
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json":
            return web.json_response(
                {"error_id": f"http.{exc.status}", "message": exc.reason, "details": {}},
                status=exc.status,
                headers={k: v for k, v in exc.headers.items() if k.lower() == "allow"},
            )
        raise
    except Exception as exc:
        if is_store_failure(exc):  # a store away is no bug of ours: 503, try again
            log.warning("request_store_unavailable", path=request.path, error=type(exc).__name__)
            return json_error(store_unavailable(exc))
        log.exception("request_failed", path=request.path, method=request.method)
        return web.json_response(
            {"error_id": "internal", "message": "internal error", "details": {}}, status=500
        )


class WorkerRole(ServiceUnavailable):
    """This process has the worker role: it serves no clients."""

    error_id = "hub.worker_role"


@web.middleware
async def health_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A worker process answers its health check, and nothing else: a console or webhook
    sent here by mistake gets a clear 503 instead of a session that would never be fed."""
    if request.path != "/healthz":
        raise WorkerRole(
            "this hub process runs background work only (role worker); send clients and"
            " webhooks to a process with role web or all",
            role="worker",
        )
    return await handler(request)


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)


def invalid_input(exc: ValidationError, where: str) -> InvalidInput:
    """A model's validation errors as `request.invalid`, listing each field's problem."""
    errors = [
        {"field": ".".join(str(p) for p in e["loc"]) or where, "message": e["msg"]}
        for e in exc.errors()
    ]
    return InvalidInput(f"the {where} is not valid", errors=errors)


def refuse_unstorable(value: Any, where: str) -> None:
    """`request.invalid` naming the first field of `value` (the body, query or path
    parameters) that holds text no store can keep (contactcenter/core/storable.py)."""
    found = unstorable(value)
    if found is not None:
        field, problem = found
        raise InvalidInput(
            f"the {where} is not valid", errors=[{"field": field or where, "message": problem}]
        )


async def json_body(request: web.Request) -> Any:
    """The request's JSON body, or `request.invalid`: not JSON (nested too deeply counts:
    the decoder's recursion limit), or holding text no store can keep."""
    try:
        data = await request.json()
    except (ValueError, RecursionError):
        raise InvalidInput("body is not valid JSON") from None
    refuse_unstorable(data, "body")
    return data


def _token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        token = header.removeprefix("Bearer ").strip() or None
    else:
        token = request.cookies.get(SESSION_COOKIE)
    # Header bytes that are not UTF-8 arrive as lone surrogates: no token we gave out.
    return None if token is None or text_problem(token) else token


async def require_principal(request: web.Request) -> Principal:
    principal, _token_hash = await require_session(request)
    return principal


async def require_session(request: web.Request) -> tuple[Principal, str]:
    """Who is behind the request, and its session (the hash of its token)."""
    from contactcenter.web.appkeys import AGENTS

    token = _token(request)
    principal = await request.app[AGENTS].authenticate(token) if token else None
    if token is None or principal is None:
        raise Unauthenticated("log in first")
    return principal, session_hash(token)


def too_many_attempts(error: TooManyLoginAttempts) -> web.Response:
    """429 with Retry-After in whole seconds (RFC 9110 section 10.2.3)."""
    response = json_error(error)
    response.headers["Retry-After"] = str(error.details["retry_after_s"])
    return response


async def login(request: web.Request) -> web.Response:
    """A session for valid credentials, within the limits of contactcenter/web/login_limits.py:
    while an account or an address must wait, every attempt gets 429, checked or not."""
    from contactcenter.web.appkeys import AGENTS

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
    from contactcenter.core.appkeys import BUS, CLOCK
    from contactcenter.web.appkeys import AGENTS
    from routing.worker import wall_clock_ms

    token = _token(request)
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
    from contactcenter.core.appkeys import POOL, REDIS

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

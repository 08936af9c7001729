"""The REST layer's plumbing: the middleware that maps the error tree to HTTP (stable
`error_id`, never a 500 for input), the worker role's health-only gate, and what every handler
uses to read a request (JSON body, storable values, the caller's session)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web
from pydantic import ValidationError

from contactcenter.core.errors import (
    HubError,
    InvalidInput,
    PasswordChangeRequired,
    ServiceUnavailable,
    Unauthenticated,
)
from contactcenter.core.storable import text_problem, unstorable
from contactcenter.core.store_errors import is_store_failure, store_unavailable
from contactcenter.web.appkeys import AGENTS
from contactcenter.web.auth import Principal, session_hash

log = structlog.get_logger("contactcenter.web.http")

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


def session_token(request: web.Request) -> str | None:
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


# What a session with an administrator's one-time password may do: say who it is, choose
# its own password, log out.
PASSWORD_CHANGE_PATHS = frozenset(("/api/me", "/api/me/password", "/api/logout"))


async def require_session(request: web.Request) -> tuple[Principal, str]:
    """Who is behind the request, and its session (the hash of its token)."""
    token = session_token(request)
    principal = await request.app[AGENTS].authenticate(token) if token else None
    if token is None or principal is None:
        raise Unauthenticated("log in first")
    if principal.must_change_password and request.path not in PASSWORD_CHANGE_PATHS:
        raise PasswordChangeRequired("choose your own password first (POST /api/me/password)")
    return principal, session_hash(token)

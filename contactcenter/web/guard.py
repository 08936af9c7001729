"""What protects an agent's browser session from other sites (docs/decisions.md, "Accounts and
security").

- **Origin.** A request that a browser sends on its own, with the session cookie, must come
  from the hub's own pages: the agent websocket, and every cookie-authenticated request that
  changes something (POST, PUT, PATCH, DELETE), are refused (403, `auth.origin_forbidden`)
  when their `Origin` header names another site. A request with no `Origin` is not a
  browser's cross-site one (browsers send it on every websocket, RFC 6455 section 4.1, and
  on every cross-origin POST, Fetch standard "origin header"), so it is let through; so is
  one authenticated by `Authorization: Bearer`, which no page can make another site send.
- **JSON only.** Such a cookie-authenticated change must carry a JSON body (or none): a form
  or text/plain body, the kinds a page may send to another site without asking it first
  (CORS "simple requests"), is refused (403, `auth.content_type_forbidden`).
- **Headers.** Every answer says `X-Content-Type-Options: nosniff` and `Referrer-Policy:
  same-origin`; the pages and their files also carry a Content-Security-Policy: scripts,
  styles and connections from the hub itself only (and, on the console, the Twilio Voice
  SDK's script and Twilio's hosts), no plugins, and no framing by any site. The widget's
  own files (`/static/widget.js`, `/static/widget.css`, `/widget/config.json`) are left as
  agent_console/customers/widget.py serves them, for any site to load.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware

from contactcenter.core.errors import Forbidden
from contactcenter.web.http import SESSION_COOKIE
from contactcenter.web.origins import origin_allowed

log = structlog.get_logger("contactcenter.web.guard")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

UNSAFE_METHODS = frozenset(("POST", "PUT", "PATCH", "DELETE"))
# Served to any site by agent_console/customers/widget.py (docs/widget.md, "Embedding").
WIDGET_FILES = frozenset(("/static/widget.js", "/static/widget.css", "/widget/config.json"))
WIDGET_MODULES = "/static/widget/"  # the ES modules widget.js imports
PAGE_PATHS = frozenset(("/console", "/chat", "/admin"))
# Where the Twilio Voice SDK connects from the console: signalling (wss://voice-js.*),
# call-quality insights (https://eventgw.*) and its ring and key tones (https://sdk.*,
# fetched and played as audio). The call's media is WebRTC, which CSP does not govern.
TWILIO_CONNECT = "https://*.twilio.com wss://*.twilio.com"
TWILIO_MEDIA = "https://sdk.twilio.com"


class OriginForbidden(Forbidden):
    """A page of another site tried to use an agent's session."""

    error_id = "auth.origin_forbidden"


class ContentTypeForbidden(Forbidden):
    """A change authenticated by the session cookie did not send JSON."""

    error_id = "auth.content_type_forbidden"


def is_widget_file(path: str) -> bool:
    """Whether `path` is one of the widget's files, which any site may load."""
    return path in WIDGET_FILES or path.startswith(WIDGET_MODULES)


def own_hosts(request: web.Request, public_url: str) -> list[str]:
    """The hub's own hosts: the one this request was sent to, and the public URL's (a proxy
    in front of the hub may change the first)."""
    return [request.host, urlsplit(public_url).netloc]


def check_origin(request: web.Request, public_url: str) -> None:
    """Raise `OriginForbidden` unless the request has no Origin or the hub's own."""
    origin = request.headers.get("Origin")
    if not origin_allowed(origin, own_hosts(request, public_url), ()):
        log.info("origin_refused", path=request.path, method=request.method, origin=origin)
        raise OriginForbidden(
            "this page's site may not use an agent's session", origin=origin, path=request.path
        )


def cookie_authenticated(request: web.Request) -> bool:
    """Whether the request's session, if any, is the cookie's (a Bearer token wins)."""
    bearer = request.headers.get("Authorization", "").startswith("Bearer ")
    return SESSION_COOKIE in request.cookies and not bearer


def session_guard(public_url: str) -> Middleware:
    """The middleware refusing cookie-authenticated changes from other sites or without
    JSON; a login is checked for its Origin too (another site must not sign an agent in)."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method in UNSAFE_METHODS:
            by_cookie = cookie_authenticated(request)
            if by_cookie or request.path == "/api/login":
                check_origin(request, public_url)
            if by_cookie and request.body_exists and request.content_type != "application/json":
                raise ContentTypeForbidden(
                    "a request signed in by the session cookie must send JSON"
                    " (Content-Type: application/json)",
                    content_type=request.content_type,
                )
        return await handler(request)

    return guard


def _script_origin(url: str) -> str | None:
    """The origin of an absolute http(s) script URL; None for a path on the hub."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return None


def content_policy(*, sdk_url: str | None = None) -> str:
    """The Content-Security-Policy of the hub's pages; with `sdk_url`, the console's, which
    also loads the Twilio Voice SDK from there and lets it reach Twilio."""
    scripts = "'self'"
    connect = "'self'"
    media = "'self'"
    if sdk_url is not None:
        sdk_origin = _script_origin(sdk_url)
        scripts += f" {sdk_origin}" if sdk_origin else ""
        connect += f" {TWILIO_CONNECT}"
        media += f" {TWILIO_MEDIA}"
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src {scripts}",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src {connect}",
            f"media-src {media}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def security_headers(sdk_url: str) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    """The `on_response_prepare` hook adding the headers above."""
    console_policy = content_policy(sdk_url=sdk_url)
    page_policy = content_policy()

    async def add(request: web.Request, response: web.StreamResponse) -> None:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        path = request.path
        if is_widget_file(path):
            return
        if path == "/console":
            response.headers["Content-Security-Policy"] = console_policy
        elif path in PAGE_PATHS or path.startswith("/static/"):
            response.headers["Content-Security-Policy"] = page_policy

    return add

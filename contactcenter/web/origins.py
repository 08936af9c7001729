"""Where a request comes from: whether a page's Origin may speak to the hub
(`origin_allowed`, RFC 6454), whether an `allowed_origins` entry is well formed
(`origin_problem`), and the client's address behind a trusted proxy (`client_ip`). Pure
functions of their arguments."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

import structlog

log = structlog.get_logger("contactcenter.web.origins")


# --- origins ----------------------------------------------------------------------------------

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _split_origin(origin: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin as a browser sends it (RFC 6454 section 6.1), or
    None when it is not one (a path, credentials, `null`)."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username or parts.password:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def origin_problem(entry: str) -> str | None:
    """Why `entry` is not a valid `allowed_origins` entry, or None. Valid: `*`, an origin
    (`https://shop.example`, `http://127.0.0.1:8000`) or one whose host starts with `*.`
    (`https://*.shop.example`: its subdomains, not itself)."""
    if entry == "*":
        return None
    if _split_origin(entry.replace("://*.", "://wildcard.", 1)) is None:
        return "expected *, scheme://host[:port] or scheme://*.domain[:port], with no path"
    return None


def origin_allowed(origin: str | None, own_hosts: Sequence[str], allowed: Sequence[str]) -> bool:
    """Whether a websocket opened with this Origin header may speak to the chat.

    No Origin: not a browser (a browser always sends one on a websocket, RFC 6455 section
    4.1, item 8), and whatever it claims could not be checked anyway. `own_hosts` (host or
    host:port, compared without the scheme, because a TLS proxy in front of the hub changes
    it) are the hub's own pages, always allowed."""
    if origin is None:
        return True
    found = _split_origin(origin)
    if found is None:
        return False
    scheme, host, port = found
    netloc = host if port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    if netloc in {h.lower() for h in own_hosts} or f"{host}:{port}" in own_hosts:
        return True
    for entry in allowed:
        if entry == "*":
            return True
        wildcard = "://*." in entry
        want = _split_origin(entry.replace("://*.", "://wildcard.", 1))
        if want is None or want[0] != scheme or want[2] != port:
            continue
        if wildcard and host.endswith("." + want[1].removeprefix("wildcard.")):
            return True
        if not wildcard and want[1] == host:
            return True
    return False


def client_ip(peer: str | None, forwarded_for: str | None, trust_forwarded_for: bool) -> str:
    """The address a visitor's limits are counted on: the socket's peer, or, behind a proxy
    the operator trusts, the last address in X-Forwarded-For (the one that proxy added; any
    before it the client could have written itself)."""
    if trust_forwarded_for and forwarded_for:
        last = forwarded_for.split(",")[-1].strip()
        if last:
            return last
    return peer or "unknown"

"""The REST API's operations, declared once: bound to aiohttp routes, and described as an
OpenAPI 3.1 document (https://spec.openapis.org/oas/v3.1.0) generated from the same table
and the pydantic models of each operation.

An `Operation` names its method, path, role, and the models of its query, body and answer.
`bind` turns it into an aiohttp handler that authenticates the caller (contactcenter.web.http's
session: cookie `cc_session` or `Authorization: Bearer`), checks the role, validates the path,
the query and the body (a `request.invalid` error listing each field's problem; text that no
store can hold, contactcenter/core/storable.py, is refused wherever it is; an operation with a
body model requires a body), calls the operation's function and answers JSON.
`openapi_document` describes a list of operations, and those of
contactcenter/web/session_api.py, which are served there and only described here.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.json_schema import models_json_schema

from contactcenter.core.errors import Forbidden, InvalidInput
from contactcenter.web import http
from contactcenter.web.auth import Principal
from contactcenter.web.session_api import LoginBody

Role = Literal["public", "agent", "supervisor", "admin"]  # "agent": anyone logged in
M = TypeVar("M", bound=BaseModel)
JSON_SCHEMA_REF = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Call:
    """One call of an operation: the request, who made it, and its validated input."""

    request: web.Request
    who: Principal | None
    query: BaseModel | None
    body: BaseModel | None

    @property
    def agent(self) -> Principal:
        assert self.who is not None, "a public operation has no caller"
        return self.who

    def path(self, name: str) -> str:
        return self.request.match_info[name]

    def query_as(self, model: type[M]) -> M:
        assert isinstance(self.query, model)
        return self.query

    def body_as(self, model: type[M]) -> M:
        assert isinstance(self.body, model)
        return self.body


Answer = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    name: str  # the operationId
    summary: str
    role: Role
    tag: str
    answer: Answer | None = None  # None: served elsewhere, only described here
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None  # the model of a successful answer
    status: int = 200
    errors: tuple[int, ...] = ()  # statuses beyond 400/401/403, such as 404 and 409
    also: tuple[int, ...] = ()  # statuses answered with `response` too (healthz's 503)
    content_type: str = "application/json"


class ErrorBody(BaseModel):
    """Every error: a stable id to act on, a message for people, details by error."""

    model_config = ConfigDict(title="Error")
    error_id: str
    message: str
    details: dict[str, Any]


async def _body(request: web.Request, model: type[BaseModel]) -> BaseModel:
    if not request.body_exists:
        # Every operation with a body model requires one (the document says so): a PATCH
        # sent without any is a client's mistake, not a request to change nothing.
        raise InvalidInput(
            "this operation takes a JSON body",
            errors=[{"field": "body", "message": "a JSON body is required"}],
        )
    raw = await http.json_body(request)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise http.invalid_input(exc, "body") from None


def _query(request: web.Request, model: type[BaseModel]) -> BaseModel:
    raw = dict(request.query)
    http.refuse_unstorable(raw, "query")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise http.invalid_input(exc, "query") from None


async def caller(request: web.Request, role: Role) -> Principal | None:
    if role == "public":
        return None
    who = await http.require_principal(request)
    if role == "supervisor" and not who.is_supervisor:
        raise Forbidden("supervisors and admins only", role=who.role)
    if role == "admin" and who.role != "admin":
        raise Forbidden("admins only", role=who.role)
    return who


def bind(op: Operation) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    answer = op.answer
    assert answer is not None, f"{op.name} is served elsewhere"

    async def handler(request: web.Request) -> web.StreamResponse:
        who = await caller(request, op.role)
        http.refuse_unstorable(dict(request.match_info), "path")
        query = _query(request, op.query) if op.query else None
        body = await _body(request, op.body) if op.body else None
        result = await answer(Call(request, who, query, body))
        if isinstance(result, web.StreamResponse):
            return result
        return web.json_response(result, status=op.status)

    handler.__name__ = op.name
    return handler


def add_operations(app: web.Application, ops: Iterable[Operation]) -> None:
    for op in ops:
        app.router.add_route(op.method, op.path, bind(op))


# --- the document ------------------------------------------------------------------------------


class LoginAnswer(BaseModel):
    token: str
    agent: AgentPublic


class AgentPublic(BaseModel):
    agent_id: str
    username: str
    display_name: str
    role: Literal["agent", "supervisor", "admin"]
    must_change_password: bool = Field(
        False, description="a one-time password set by an admin: change it before anything else"
    )


class MeAnswer(BaseModel):
    agent: AgentPublic


class OkAnswer(BaseModel):
    ok: bool


class HealthAnswer(BaseModel):
    status: Literal["ok", "down"]
    down: list[Literal["redis", "postgres"]] = Field(default_factory=list)


LoginAnswer.model_rebuild()

# contactcenter/web/session_api.py's endpoints: served there, described here.
EXISTING = (
    Operation("POST", "/api/login", "login", "Log in; sets the cc_session cookie and returns"
              " a bearer token", "public", "session", body=LoginBody, response=LoginAnswer,
              errors=(401, 403, 429)),
    Operation("POST", "/api/logout", "logout", "Log out (ends the session, clears the cookie)",
              "public", "session", response=OkAnswer, errors=(403,)),
    Operation("GET", "/api/me", "me", "Who the session belongs to", "agent", "session",
              response=MeAnswer),
    Operation("GET", "/healthz", "healthz", "200 when Redis and PostgreSQL answer; 503 naming"
              " what is down", "public", "health", response=HealthAnswer, also=(503,)),
)  # fmt: skip

_ERROR_TEXT = {
    400: "Invalid input (error_id request.invalid and more specific ids)",
    401: "Not logged in (auth.required), or wrong credentials (auth.bad_credentials)",
    403: "Not allowed for this role (auth.forbidden); the session must choose its own password"
    " first (auth.password_change_required); the account is deactivated (auth.deactivated);"
    " or, signed in by the session cookie, sent by another site's page"
    " (auth.origin_forbidden) or without JSON (auth.content_type_forbidden)",
    404: "No such thing (*.not_found)",
    409: "In conflict with the current state",
    413: "The body is larger than the hub takes (http.413; console.max_frame_bytes)",
    429: "Too many failed logins (auth.too_many_attempts): wait Retry-After seconds",
    503: "Unavailable: a store did not answer (store.unavailable: try again), or what the"
    " operation needs is not configured (error_id says which)",
}


def _schemas(ops: list[Operation]) -> tuple[dict[Any, Any], dict[str, Any]]:
    models: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (ErrorBody, "serialization")
    ]
    for op in ops:
        models += [(m, "validation") for m in (op.query, op.body) if m is not None]
        if op.response is not None:
            models.append((op.response, "serialization"))
    refs, defs = models_json_schema(models, ref_template=JSON_SCHEMA_REF)
    return refs, defs.get("$defs", {})


def _parameters(op: Operation, refs: dict[Any, Any], defs: dict[str, Any]) -> list[Any]:
    params: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "format": "uuid"}
            if name.endswith("_id")
            else {"type": "string"},
        }
        for name in re.findall(r"{(\w+)}", op.path)
    ]
    if op.query is not None:
        schema = _resolve(refs[(op.query, "validation")], defs)
        required = set(schema.get("required", ()))
        for name, prop in schema.get("properties", {}).items():
            params.append({"name": name, "in": "query", "required": name in required,
                           "schema": prop})  # fmt: skip
    return params


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    found: dict[str, Any] = defs[ref.rsplit("/", 1)[-1]]
    return found


def _responses(op: Operation, refs: dict[Any, Any]) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": op.summary}
    if op.response is not None:
        ok["content"] = {op.content_type: {"schema": refs[(op.response, "serialization")]}}
    elif op.content_type != "application/json":
        ok["content"] = {op.content_type: {"schema": {"type": "string"}}}
    out = {str(status): ok for status in (op.status, *op.also)}
    statuses = set(op.errors)
    if op.query or op.body or "{" in op.path:
        statuses.add(400)
    if op.body:
        statuses.add(413)
    if op.role != "public":
        statuses.add(401)
    if op.role == "supervisor" or (op.role != "public" and op.method != "GET"):
        # a cookie-authenticated change may be refused (contactcenter/web/guard.py)
        statuses.add(403)
    statuses.add(503)  # any operation, while PostgreSQL or Redis does not answer
    error = {"application/json": {"schema": refs[(ErrorBody, "serialization")]}}
    for status in sorted(statuses):
        out[str(status)] = {"description": _ERROR_TEXT.get(status, "Error"), "content": error}
    return out


def openapi_document(ops: Iterable[Operation], *, version: str = "0.1.0") -> dict[str, Any]:
    """The OpenAPI 3.1 document of `ops` and of contactcenter/web/session_api.py's endpoints."""
    every = [*EXISTING, *ops]
    refs, defs = _schemas(every)
    paths: dict[str, dict[str, Any]] = {}
    for op in every:
        paths.setdefault(op.path, {})[op.method.lower()] = {
            "operationId": op.name,
            "summary": op.summary,
            "tags": [op.tag],
            "x-role": op.role,
            "security": [] if op.role == "public" else [{"bearer": []}, {"session": []}],
            "parameters": _parameters(op, refs, defs),
            **(
                {"requestBody": {"required": True, "content": {
                    "application/json": {"schema": refs[(op.body, "validation")]}}}}
                if op.body else {}
            ),
            "responses": _responses(op, refs),
        }  # fmt: skip
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Contact-center hub API",
            "version": version,
            "description": "x-role: public (no session), agent (any logged-in agent,"
            " supervisor or admin), supervisor (supervisors and admins), admin (admins only)."
            " See docs/crm.md and docs/admin.md.",
        },
        "paths": paths,
        "components": {
            "schemas": defs,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": http.SESSION_COOKIE},
            },
        },
    }


# A page that renders the document it fetches; self-contained (no CDN: the hub may run
# without internet access).
DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Contact-center hub API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:980px;padding:1rem;color:#222}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ddd}
details{border:1px solid #ddd;border-radius:6px;margin:.4rem 0;padding:.3rem .6rem}
summary{cursor:pointer}code,pre{font:12px/1.4 ui-monospace,monospace}
pre{background:#f6f6f6;padding:.5rem;overflow:auto;max-height:24rem}
.m{display:inline-block;width:4.2rem;font-weight:600}.GET{color:#0a6}.POST{color:#06c}
.PATCH{color:#a60}.PUT{color:#a60}.DELETE{color:#c22}.role{float:right;color:#777}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2rem .4rem;text-align:left}
</style></head><body><h1>Contact-center hub API</h1><p id="info">Loading…</p><main></main>
<script>
const entities = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"};
const esc = s => String(s).replace(/[&<>"]/g, c => entities[c]);
let doc;
function resolve(s) {
  if (s && s.$ref) return resolve(doc.components.schemas[s.$ref.split("/").pop()]);
  return s;
}
function expand(s, depth) {
  if (depth > 6 || s === null || typeof s !== "object") return s;
  if (Array.isArray(s)) return s.map(x => expand(x, depth + 1));
  if (s.$ref) return expand(resolve(s), depth + 1);
  const out = {};
  for (const [k, v] of Object.entries(s)) out[k] = expand(v, depth + 1);
  return out;
}
const block = s => "<pre>" + esc(JSON.stringify(expand(s, 0), null, 1)) + "</pre>";
function operation(path, method, op) {
  let html = `<details><summary><span class="m ${method.toUpperCase()}">${method.toUpperCase()}`
    + `</span><code>${esc(path)}</code> ${esc(op.summary)}<span class="role">${esc(op["x-role"])}`
    + `</span></summary>`;
  if (op.parameters.length) {
    html += "<table><tr><th>parameter</th><th>in</th><th>required</th><th>schema</th></tr>";
    for (const p of op.parameters)
      html += `<tr><td>${esc(p.name)}</td><td>${p.in}</td><td>${p.required}</td>`
        + `<td><code>${esc(JSON.stringify(p.schema))}</code></td></tr>`;
    html += "</table>";
  }
  if (op.requestBody)
    html += "<p>Request body</p>" + block(op.requestBody.content["application/json"].schema);
  for (const [status, r] of Object.entries(op.responses)) {
    html += `<p><b>${status}</b> ${esc(r.description)}</p>`;
    const c = r.content && Object.values(r.content)[0];
    if (c && status < 300) html += block(c.schema);
  }
  return html + "</details>";
}
fetch("openapi.json").then(r => r.json()).then(d => {
  doc = d;
  document.getElementById("info").textContent =
    `OpenAPI ${d.openapi}, version ${d.info.version}. ${d.info.description}`;
  const byTag = {};
  for (const [path, item] of Object.entries(d.paths))
    for (const [method, op] of Object.entries(item))
      (byTag[op.tags[0]] = byTag[op.tags[0]] || []).push(operation(path, method, op));
  document.querySelector("main").innerHTML = Object.entries(byTag)
    .map(([tag, ops]) => `<h2>${esc(tag)}</h2>` + ops.join("")).join("");
}).catch(e => {
  document.getElementById("info").textContent = "Could not load openapi.json: " + e;
});
</script></body></html>
"""

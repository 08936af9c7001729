"""The agents' side of voice: `GET /api/voice/token` gives a logged-in agent a Twilio access
token with a Voice grant for the browser softphone, and the address of the Twilio Voice SDK
the console loads (docs/channels.md, "Twilio voice"); off (503, error id
`twilio.softphone_off`) until an API key is configured. `GET` and `PUT
/api/agents/{agent_id}/voice` read and say where an agent takes calls: the softphone or a
phone.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant

from channels.twilio.common import TWILIO
from channels.twilio.voice_twiml import client_identity
from contactcenter.agents import audit
from contactcenter.agents.accounts import AgentNotFound
from contactcenter.agents.audit import Actor
from contactcenter.agents.scope import scope_of
from contactcenter.core.appkeys import POOL
from contactcenter.core.errors import Forbidden, ServiceUnavailable
from contactcenter.crm.identity import normalise_phone
from contactcenter.web.openapi import Call, Operation

TOKEN_PATH = "/api/voice/token"


class SoftphoneOff(ServiceUnavailable):
    """No API key is configured: agents' browser softphones cannot get a token."""

    error_id = "twilio.softphone_off"


class VoiceTokenAnswer(BaseModel):
    """A Twilio access token with a Voice grant; the softphone registers as `identity`,
    with the Twilio Voice JavaScript SDK found at `sdk_url` (`voice.softphone_sdk_url`)."""

    token: str
    identity: str
    ttl_s: int
    sdk_url: str


async def voice_token(call: Call) -> dict[str, Any]:
    """An access token (https://www.twilio.com/docs/iam/access-tokens) for the agent's
    browser softphone: it receives calls as the agent's client identity and places calls
    through the configured TwiML App."""
    twilio = call.request.app.get(TWILIO)
    if twilio is None or not twilio.softphone_enabled:
        raise SoftphoneOff(
            "no Twilio API key: set TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET",
            needs=["TWILIO_ACCOUNT_SID", "TWILIO_API_KEY_SID", "TWILIO_API_KEY_SECRET"],
            # Whether calls come in at all (a Twilio account): without, consoles show no phone.
            voice=bool(twilio and twilio.enabled),
        )
    identity, ttl_s = client_identity(call.agent.agent_id), twilio.voice.token_ttl_s
    token = AccessToken(
        twilio.account_sid, twilio.api_key_sid, twilio.api_key_secret, identity=identity, ttl=ttl_s
    )
    token.add_grant(
        VoiceGrant(
            incoming_allow=True, outgoing_application_sid=twilio.voice.outgoing_application_sid
        )
    )
    return {
        "token": token.to_jwt(),
        "identity": identity,
        "ttl_s": ttl_s,
        "sdk_url": twilio.voice.softphone_sdk_url,
    }


class VoiceToIn(BaseModel):
    """ "client": the browser softphone; otherwise a phone number (national numbers are read
    in the Twilio settings' default region)."""

    model_config = ConfigDict(extra="forbid")
    voice_to: str = Field(min_length=1, max_length=40)


class VoiceToOut(BaseModel):
    agent_id: str
    voice_to: str


async def _agent_key(call: Call, doing: str) -> tuple[str, uuid.UUID]:
    """The path's agent id, when the caller may act on it: agents on themselves,
    supervisors on their teams' agents (docs/admin.md, "Teams and scope"), admins on anyone.
    An agent outside a supervisor's scope is as unknown as one that does not exist."""
    agent_id = call.request.match_info["agent_id"]
    if agent_id != call.agent.agent_id:
        if not call.agent.is_supervisor:
            raise Forbidden(f"agents {doing} where they take their own calls only")
        scope = await scope_of(call.request.app[POOL], call.agent)
        if not scope.sees_agent(agent_id):
            raise AgentNotFound("no such agent", agent_id=agent_id)
    try:
        return agent_id, uuid.UUID(agent_id)
    except ValueError:
        raise AgentNotFound("no such agent", agent_id=agent_id) from None


async def get_voice_to(call: Call) -> dict[str, Any]:
    """Where the agent takes calls (the console shows it, and starts the softphone on
    "client")."""
    agent_id, key = await _agent_key(call, "read")
    voice_to = await call.request.app[POOL].fetchval(
        "SELECT voice_to FROM agents WHERE id = $1", key
    )
    if voice_to is None:
        raise AgentNotFound("no such agent", agent_id=agent_id)
    return {"agent_id": agent_id, "voice_to": voice_to}


async def set_voice_to(call: Call) -> dict[str, Any]:
    """Where the agent takes calls. Agents set their own; supervisors their teams' agents'.
    The change is in the audit log (docs/admin.md, "Audit")."""
    agent_id, key = await _agent_key(call, "set")
    body = call.body
    assert isinstance(body, VoiceToIn)
    twilio = call.request.app.get(TWILIO)
    region = twilio.default_region if twilio else None
    voice_to = "client" if body.voice_to == "client" else normalise_phone(body.voice_to, region)
    async with call.request.app[POOL].acquire() as conn, conn.transaction():
        before = await conn.fetchval("SELECT voice_to FROM agents WHERE id = $1 FOR UPDATE", key)
        if before is None:
            raise AgentNotFound("no such agent", agent_id=agent_id)
        if before != voice_to:
            await conn.execute("UPDATE agents SET voice_to = $2 WHERE id = $1", key, voice_to)
            await audit.record(
                conn, Actor.of(call.agent), "agent.voice", "agent", agent_id,
                {"voice_to": before}, {"voice_to": voice_to},
            )  # fmt: skip
    return {"agent_id": agent_id, "voice_to": voice_to}


VOICE_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "GET",
        TOKEN_PATH,
        "get_voice_token",
        "A Twilio Voice access token for the agent's browser softphone",
        "agent",
        "voice",
        answer=voice_token,
        response=VoiceTokenAnswer,
        errors=(503,),
    ),
    Operation(
        "GET",
        "/api/agents/{agent_id}/voice",
        "get_voice_to",
        "Where the agent takes calls: the browser softphone or a phone",
        "agent",
        "voice",
        answer=get_voice_to,
        response=VoiceToOut,
        errors=(403, 404),  # 403: an agent asking about another agent
    ),
    Operation(
        "PUT",
        "/api/agents/{agent_id}/voice",
        "set_voice_to",
        "Where the agent takes calls: the browser softphone or a phone",
        "agent",
        "voice",
        answer=set_voice_to,
        body=VoiceToIn,
        response=VoiceToOut,
        errors=(403, 404),  # 403: an agent asking about another agent
    ),
)

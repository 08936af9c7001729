"""The agents' browser softphone: `GET /api/voice/token` gives a logged-in agent a Twilio access
token with a Voice grant (docs/channels.md, "Twilio voice"). Off (503, error id
`twilio.softphone_off`) until an API key is configured.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant

from channels.twilio_common import TWILIO
from channels.twilio_voice_twiml import client_identity
from contactcenter.errors import ServiceUnavailable
from contactcenter.openapi import Call, Operation

TOKEN_PATH = "/api/voice/token"


class SoftphoneOff(ServiceUnavailable):
    """No API key is configured: agents' browser softphones cannot get a token."""

    error_id = "twilio.softphone_off"


class VoiceTokenAnswer(BaseModel):
    """A Twilio access token with a Voice grant; the softphone registers as `identity`."""

    token: str
    identity: str
    ttl_s: int


async def voice_token(call: Call) -> dict[str, Any]:
    """An access token (https://www.twilio.com/docs/iam/access-tokens) for the agent's
    browser softphone: it receives calls as the agent's client identity and places calls
    through the configured TwiML App."""
    twilio = call.request.app.get(TWILIO)
    if twilio is None or not twilio.softphone_enabled:
        raise SoftphoneOff(
            "no Twilio API key: set TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET",
            needs=["TWILIO_ACCOUNT_SID", "TWILIO_API_KEY_SID", "TWILIO_API_KEY_SECRET"],
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
    return {"token": token.to_jwt(), "identity": identity, "ttl_s": ttl_s}


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
)

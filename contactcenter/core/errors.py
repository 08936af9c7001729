"""One error tree for the hub. Every error has a stable `error_id` that clients may rely on.

The REST middleware maps `HubError` to an HTTP status and a JSON body
`{"error_id": ..., "message": ..., "details": {...}}`; the websocket gateways send the same
shape as an `error` frame. "No agent available" is not an error: it is simply no decision.
"""

from __future__ import annotations

from typing import Any


class HubError(Exception):
    error_id = "hub.error"
    http_status = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        return {"error_id": self.error_id, "message": self.message, "details": self.details}


class ConfigError(HubError):
    """A settings or config file problem: names where (file and key, or variable) and what."""

    error_id = "config.invalid"

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}", where=where, problem=problem)


class InvalidInput(HubError):
    error_id = "request.invalid"
    http_status = 400


class MalformedFrame(InvalidInput):
    error_id = "frame.malformed"


class UnknownFrameType(InvalidInput):
    error_id = "frame.unknown_type"


class Unauthenticated(HubError):
    error_id = "auth.required"
    http_status = 401


class BadCredentials(Unauthenticated):
    error_id = "auth.bad_credentials"


class Forbidden(HubError):
    error_id = "auth.forbidden"
    http_status = 403


class AccountDeactivated(Forbidden):
    """The credentials are right, but an administrator deactivated the account."""

    error_id = "auth.deactivated"


class PasswordChangeRequired(Forbidden):
    """The session's password was set by an administrator: the agent must choose their own
    (`POST /api/me/password`) before anything else."""

    error_id = "auth.password_change_required"


class NotFound(HubError):
    error_id = "not_found"
    http_status = 404


class Conflict(HubError):
    error_id = "conflict"
    http_status = 409


class OfferGone(Conflict):
    """The offer was taken back (expired, rejected) or never was this agent's."""

    error_id = "offer.gone"


class ContactNotAssigned(Conflict):
    error_id = "contact.not_assigned"


class ConversationClosed(Conflict):
    error_id = "conversation.closed"


class UnknownQueue(InvalidInput):
    error_id = "transfer.unknown_queue"


class UnknownAgent(InvalidInput):
    error_id = "transfer.unknown_agent"


class AgentUnavailable(Conflict):
    """The agent named as a transfer's target is not available or has no room."""

    error_id = "transfer.agent_unavailable"


class ContactNotWaiting(Conflict):
    error_id = "contact.not_waiting"


class UnknownDisposition(InvalidInput):
    error_id = "wrapup.unknown_disposition"


class DispositionRequired(InvalidInput):
    error_id = "wrapup.disposition_required"


class QueueFull(HubError):
    """The queue holds as many contacts as it may; the customer should try again later."""

    error_id = "queue.full"
    http_status = 503


class QueueClosed(HubError):
    """Outside the queue's business hours; `details.opens_at_ms` says when it opens next."""

    error_id = "queue.closed"
    http_status = 503


class ServiceUnavailable(HubError):
    error_id = "service.unavailable"
    http_status = 503


class AgentHoldsWork(Conflict):
    """Going offline with contacts in hand, without saying what becomes of them;
    `details.contact_ids` names them."""

    error_id = "agent.holds_work"


class StoreUnavailable(ServiceUnavailable):
    """PostgreSQL or Redis did not answer (down, hung past the statement timeout, or cut
    off): nothing was changed by this request; try again (docs/decisions.md)."""

    error_id = "store.unavailable"


class Internal(HubError):
    """A failure of the hub itself (logged with its traceback); nothing the client did."""

    error_id = "internal"
    http_status = 500

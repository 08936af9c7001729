"""Identities normalised to one spelling, so that every channel finds the same customer.

A phone number becomes E.164 (`+14155550123`) through the phonenumbers library, whatever its
formatting; an email is trimmed and lower-cased (the domain is case-insensitive by RFC 5321,
and in practice mailboxes are too). Anything that cannot be normalised is refused with
`InvalidIdentity`, never stored as given.
"""

from __future__ import annotations

import functools
import hashlib
import hmac

import phonenumbers

from contactcenter.core.errors import InvalidInput

KINDS = ("phone", "email", "whatsapp", "visitor", "external")


class InvalidIdentity(InvalidInput):
    error_id = "identity.invalid"


# Parsing a number against its numbering plan costs tens of microseconds, and the same
# numbers come back (a customer's every SMS): the valid answers are kept.
@functools.lru_cache(maxsize=10_000)
def normalise_phone(raw: str, default_region: str | None = None) -> str:
    """E.164 form of `raw`; a number without a country code is read in `default_region`
    (an ISO 3166 code such as "US" or "FR")."""
    try:
        number = phonenumbers.parse(raw.strip(), default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidIdentity(f"not a phone number: {exc}", kind="phone") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidIdentity("not a valid phone number", kind="phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(raw: str) -> str:
    value = raw.strip().lower()
    local, at, domain = value.partition("@")
    if not at or not local or "." not in domain or " " in value or len(value) > 254:
        raise InvalidIdentity("not an email address", kind="email")
    return value


def normalise(kind: str, raw: str, default_region: str | None = None) -> str:
    """The stored spelling of an identity of `kind`. WhatsApp ids are phone numbers
    (Twilio sends them as `whatsapp:+14155550123`)."""
    if kind == "phone":
        return normalise_phone(raw, default_region)
    if kind == "whatsapp":
        return normalise_phone(raw.removeprefix("whatsapp:"), default_region)
    if kind == "email":
        return normalise_email(raw)
    if kind in KINDS:
        value = raw.strip()
        if not value or len(value) > 200:
            raise InvalidIdentity(f"empty or overlong {kind} id", kind=kind)
        return value
    raise InvalidIdentity(f"unknown identity kind {kind!r}", kind=kind)


def site_signature(secret: str, user_id: str) -> str:
    """What an embedding site sends beside its user's id to prove it (docs/widget.md):
    HMAC-SHA256 of the id under the widget's identity secret, in lower-case hex, as
    Intercom's and Chatwoot's identity verification do."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def site_signature_valid(secret: str, user_id: str, signature: str) -> bool:
    """Whether `signature` proves `user_id`; compared in constant time. No secret, no proof."""
    if not secret:
        return False
    return hmac.compare_digest(site_signature(secret, user_id), signature.lower())

"""The webhook signature check, against signatures computed by twilio's RequestValidator."""

from __future__ import annotations

import pytest
from multidict import MultiDict
from twilio.request_validator import RequestValidator

from channels.twilio.common import signature_valid, webhook_url

TOKEN = "12345678901234567890123456789012"
URL = "https://hub.example.com/twilio/messaging"
PARAMS = {"MessageSid": "SM" + "a" * 32, "From": "+14155550123", "Body": "hello"}


def signed(url: str = URL, params: dict[str, str] = PARAMS, token: str = TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(url, params))


def test_a_request_signed_with_our_token_is_accepted() -> None:
    assert signature_valid(TOKEN, URL, PARAMS, signed())


@pytest.mark.parametrize(
    "signature",
    [
        "",
        "not-a-signature",
        signed(token="another-account-token-0000000000"),
        signed(url="https://elsewhere.example/twilio/messaging"),
        signed(params={**PARAMS, "Body": "something else"}),
    ],
)
def test_unsigned_or_forged_requests_are_refused(signature: str) -> None:
    assert not signature_valid(TOKEN, URL, PARAMS, signature)


def test_a_tampered_parameter_breaks_the_signature() -> None:
    assert not signature_valid(TOKEN, URL, {**PARAMS, "From": "+14155550999"}, signed())


def test_repeated_parameters_are_all_signed() -> None:
    params = MultiDict([("MediaUrl", "https://a.example/1"), ("MediaUrl", "https://a.example/2")])
    good = str(RequestValidator(TOKEN).compute_signature(URL, params))
    assert signature_valid(TOKEN, URL, params, good)
    assert not signature_valid(TOKEN, URL, MultiDict([("MediaUrl", "https://a.example/1")]), good)


def test_the_signed_url_is_the_public_one_with_path_and_query() -> None:
    # Behind a proxy the hub sees http://10.0.0.5:8080/...; Twilio signed the public URL.
    url = webhook_url("https://hub.example.com/cc/", "/twilio/messaging/status?message_id=m1")
    assert url == "https://hub.example.com/cc/twilio/messaging/status?message_id=m1"
    assert signature_valid(TOKEN, url, PARAMS, signed(url=url))


def test_a_signature_with_or_without_the_default_port_is_accepted() -> None:
    # RequestValidator tries both, since Twilio's own signing is not consistent about it.
    with_port = "https://hub.example.com:443/twilio/messaging"
    assert signature_valid(TOKEN, URL, PARAMS, signed(url=with_port))

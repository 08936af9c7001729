"""Identity normalisation: one spelling per identity, whatever the channel wrote."""

from __future__ import annotations

import pytest

from contactcenter.crm.identity import (
    InvalidIdentity,
    normalise,
    normalise_email,
    normalise_phone,
    site_signature,
    site_signature_valid,
)


@pytest.mark.parametrize(
    "raw",
    [
        "+14155550132",
        "+1 415 555 0132",
        "+1 (415) 555-0132",
        "+1.415.555.0132",
        "001 415 555 0132",  # the international call prefix dialled from France...
        "  +1-415-555-0132  ",
        "tel:+1-415-555-0132",  # RFC 3966 URI, as some systems hand numbers over
    ],
)
def test_formatting_variants_of_one_number_give_one_e164(raw: str) -> None:
    region = "FR" if raw.startswith("00") else None
    assert normalise_phone(raw, region) == "+14155550132"


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("(415) 555-0132", "US", "+14155550132"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("+33 6 12 34 56 78", "US", "+33612345678"),  # a + number ignores the region
        ("+33 (0)6 12 34 56 78", None, "+33612345678"),  # the trunk 0 in brackets
        ("020 7946 0018", "GB", "+442079460018"),
        ("0033 6 12 34 56 78", "FR", "+33612345678"),
    ],
)
def test_national_numbers_are_read_in_their_region(
    raw: str, region: str | None, expected: str
) -> None:
    assert normalise_phone(raw, region) == expected


def test_a_national_number_without_a_region_is_refused() -> None:
    with pytest.raises(InvalidIdentity) as info:
        normalise_phone("06 12 34 56 78")
    assert info.value.error_id == "identity.invalid"
    assert info.value.details == {"kind": "phone"}


@pytest.mark.parametrize(
    "raw", ["", "hello", "12", "+1 415 555", "+33 6 12 34 56 78 90 12", "+999 123 456 789"]
)
def test_invalid_numbers_are_refused_not_stored_as_given(raw: str) -> None:
    with pytest.raises(InvalidIdentity):
        normalise_phone(raw, "FR")


def test_whatsapp_ids_are_phone_numbers() -> None:
    assert normalise("whatsapp", "whatsapp:+33 6 12 34 56 78") == "+33612345678"
    assert normalise("whatsapp", "0612345678", "FR") == normalise("phone", "+33612345678")


@pytest.mark.parametrize(
    "raw", ["Ann.Lee@Example.COM", "  ann.lee@example.com ", "ANN.LEE@EXAMPLE.COM\n"]
)
def test_email_case_and_spaces_give_one_spelling(raw: str) -> None:
    assert normalise_email(raw) == "ann.lee@example.com"
    assert normalise("email", raw) == "ann.lee@example.com"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "ann",
        "ann@",
        "@example.com",
        "ann@localhost",
        "ann lee@example.com",
        "a" * 250 + "@x.org",
    ],
)
def test_invalid_emails_are_refused(raw: str) -> None:
    with pytest.raises(InvalidIdentity):
        normalise_email(raw)


def test_other_kinds_are_trimmed_and_unknown_kinds_refused() -> None:
    assert normalise("visitor", "  v-123 ") == "v-123"
    with pytest.raises(InvalidIdentity):
        normalise("visitor", "   ")
    with pytest.raises(InvalidIdentity):
        normalise("fax", "+14155550132")


# --- site signatures (docs/widget.md, "Who the visitor is") -----------------------------------


def test_a_site_signature_is_hmac_sha256_of_the_user_id_in_hex() -> None:
    # RFC 4231, test case 2: key "Jefe", data "what do ya want for nothing?"
    assert site_signature("Jefe", "what do ya want for nothing?") == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


@pytest.mark.parametrize(
    ("secret", "user_id", "signature", "valid"),
    [
        (
            "Jefe",
            "what do ya want for nothing?",
            site_signature("Jefe", "what do ya want for nothing?"),
            True,
        ),
        (
            "Jefe",
            "what do ya want for nothing?",
            site_signature("Jefe", "what do ya want for nothing?").upper(),
            True,
        ),
        ("Jefe", "someone else", site_signature("Jefe", "what do ya want for nothing?"), False),
        ("", "4711", site_signature("", "4711"), False),  # no secret, no proof
        ("Jefe", "4711", "0" * 64, False),
    ],
)
def test_a_signature_proves_only_its_own_user_under_the_hubs_secret(
    secret: str, user_id: str, signature: str, valid: bool
) -> None:
    assert site_signature_valid(secret, user_id, signature) is valid

"""What the Twilio tests share: the test account and numbers of their own (the fake API
answering for the account is the `fake` fixture, tests/e2e/conftest.py)."""

from __future__ import annotations

import random

ACCOUNT_SID = "AC" + "1" * 32  # shaped like Twilio's; the fake answers for it alone
AUTH_TOKEN = "test-auth-token-0123456789abcdef"


def unique_phone() -> str:
    """A phone number of this test's own: tests share one database."""
    return f"+1415{random.randint(2_000_000, 9_999_999)}"

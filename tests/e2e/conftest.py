"""Fixtures of the end-to-end tests beyond tests/conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from channels.fake_twilio import FakeTwilio
from tests.e2e.twilio_support import ACCOUNT_SID, AUTH_TOKEN


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    """Twilio's REST API on loopback, answering for the Twilio tests' account."""
    api = FakeTwilio(ACCOUNT_SID, AUTH_TOKEN)
    await api.start()
    yield api
    await api.close()

"""Property-based fuzzing of the REST API from its own OpenAPI document.

Schemathesis reads `/api/openapi.json` from a running hub (real Redis and PostgreSQL) and
generates requests for every operation: valid ones (positive) and ones the document says are
invalid (negative). Each answer must be no 5xx, a status the document lists for that
operation, the content type it names and a body matching its schema; a request the document
calls invalid must be refused. Whatever it finds is a defect of the API or of the document.

Schemathesis is synchronous (requests): it runs in a worker thread while the hub serves on
the test's event loop. Generation is derandomized (a fixed seed per test) and bounded per
operation, so a run is repeatable and takes about a minute on two cores.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.errors import FailureGroup

from channels.twilio.common import TwilioSettings
from contactcenter.settings.hub import HubSettings
from tests.conftest import LiveHub
from tests.e2e.clients import login
from tests.e2e.contactcenter.agents.admin_support import admin_api
from tests.e2e.twilio_support import ACCOUNT_SID, AUTH_TOKEN
from tests.support.fake_twilio import FakeTwilio

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(name="settings")
def twilio_settings(settings: HubSettings, fake: FakeTwilio) -> HubSettings:
    """The hub with every optional part on (Twilio with a softphone API key, its REST API
    the fake on loopback), so that no operation answers "not configured"."""
    twilio = TwilioSettings(
        ACCOUNT_SID, AUTH_TOKEN, api_base=fake.base_url, api_key_sid="SK" + "2" * 32,
        api_key_secret="fuzz-" + "3" * 32,
    )  # fmt: skip
    return replace(settings, twilio=twilio)


# Examples per operation and generation mode: enough to reach every field's edge cases
# (empty, long, NUL, wrong types) where they matter, few enough for the module to take about
# a minute of CPU. Without a session every operation stops at 401, so a few suffice there.
EXAMPLES = 10
EXAMPLES_WITHOUT_SESSION = 4

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
)


@dataclass
class Findings:
    failures: dict[str, str] = field(default_factory=dict)  # "GET /path (mode)": the report
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)  # (operation, status)

    @property
    def cases(self) -> int:
        return sum(self.statuses.values())

    def reached(self) -> set[str]:
        """The operations that answered at least once with success."""
        return {label for label, status in self.statuses if status < 300}

    def report(self) -> str:
        return "\n\n".join(f"{label}:\n{text}" for label, text in self.failures.items())


def fuzz(
    base_url: str,
    headers: dict[str, str],
    *,
    skip: Callable[[str], bool] = lambda label: False,
    path_parameters: dict[str, str] | None = None,
    examples: int = EXAMPLES,
) -> Findings:
    """Every operation's generated cases, sent to `base_url` with `headers` (path parameters
    named in `path_parameters` fixed, the rest generated); what the checks found."""
    schema = schemathesis.openapi.from_url(base_url + "/api/openapi.json")
    checks = [getattr(schemathesis.checks, name) for name in CHECKS]
    sent = {"base_url": base_url, "headers": headers}  # for checks that send again
    found = Findings()
    for result in schema.get_all_operations():
        operation = result.ok()
        if skip(operation.label):
            continue
        fixed = {
            name: value
            for name, value in (path_parameters or {}).items()
            if "{" + name + "}" in operation.path
        }
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=examples,
                derandomize=True,  # a fixed seed: the same requests every run
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],  # no shrinking: bounded time
                suppress_health_check=list(HealthCheck),
                report_multiple_bugs=False,
            )
            @given(case=operation.as_strategy(mode, path_parameters=fixed or None))
            def run(case: schemathesis.Case) -> None:
                response = case.call(base_url=base_url, headers=headers, timeout=10)
                found.statuses[case.operation.label, response.status_code] += 1
                case.validate_response(
                    response, checks=checks, headers=headers, transport_kwargs=sent
                )

            try:
                run()
            except Unsatisfiable:  # nothing to make invalid: no parameters, no body
                assert mode is GenerationMode.NEGATIVE, operation.label
            except (FailureGroup, Exception) as exc:  # keep what failed, go on with the rest
                found.failures[f"{operation.label} ({mode.value})"] = str(exc)[:3000]
    return found


async def _get(hub: LiveHub, path: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(hub.base_url + path, headers=headers) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def test_without_a_session_every_answer_matches_the_document(hub: LiveHub) -> None:
    doc = await _get(hub, "/api/openapi.json")
    found = await asyncio.to_thread(fuzz, hub.base_url, {}, examples=EXAMPLES_WITHOUT_SESSION)
    assert not found.failures, found.report()
    assert found.cases > 100
    # Whatever the input, an operation that needs a session refuses first: 401, never 400.
    protected = {
        f"{method.upper()} {path}"
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if op["x-role"] != "public"
    }
    assert {status for (label, status) in found.statuses if label in protected} == {401}


def _logout(label: str) -> bool:
    # Logging out would end the very session the fuzzer is using: the run without a session
    # covers it.
    return label == "POST /api/logout"


async def _seed(hub: LiveHub, token: str) -> dict[str, str]:
    """Objects of the hub's own, so that requests reach past "no such customer"; the path
    parameters that name them."""
    auth = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=auth) as http:
        async with http.post(
            hub.base_url + "/api/customers", json={"display_name": "Fuzz Target"}
        ) as r:
            customer = (await r.json())["customer_id"]
        async with http.post(
            hub.base_url + "/api/cases",
            json={"customer_id": customer, "kind": "request", "subject": "fuzzed"},
        ) as r:
            case = (await r.json())["case_id"]
        async with http.post(
            hub.base_url + f"/api/customers/{customer}/orders",
            json={"amount": "9.50", "currency": "EUR", "ordered_at_ms": 1_700_000_000_000},
        ) as r:
            order = (await r.json())["order_id"]
    return {"customer_id": customer, "case_id": case, "order_id": order}


async def test_a_supervisors_answers_match_the_document(hub: LiveHub) -> None:
    token = await login(hub.base_url, "sam", hub.demo_password)
    ids = await _seed(hub, token)
    headers = {"Authorization": f"Bearer {token}"}
    generated = await asyncio.to_thread(fuzz, hub.base_url, headers, skip=_logout)
    on_ours = await asyncio.to_thread(
        fuzz, hub.base_url, headers, skip=_logout, path_parameters=ids
    )
    assert not generated.failures, generated.report()
    assert not on_ours.failures, on_ours.report()
    # Not a run of refusals only: most operations were carried out at least once.
    assert len(on_ours.reached()) >= 20, sorted(on_ours.reached())


async def test_an_agents_answers_match_the_document(hub: LiveHub) -> None:
    """An agent meets the refusals of roles: supervisors' operations, another agent's phone."""
    supervisor = await login(hub.base_url, "sam", hub.demo_password)
    ids = await _seed(hub, supervisor)
    ids["agent_id"] = (await _get(hub, "/api/me", supervisor))["agent"]["agent_id"]
    token = await login(hub.base_url, "alice", hub.demo_password)
    headers = {"Authorization": f"Bearer {token}"}
    found = await asyncio.to_thread(fuzz, hub.base_url, headers, skip=_logout, path_parameters=ids)
    assert not found.failures, found.report()
    assert (
        found.statuses["PUT /api/agents/{agent_id}/voice", 403]
        and found.statuses["DELETE /api/orders/{order_id}", 403]
    ), "an agent is refused what is not theirs to do"


async def test_an_admins_answers_match_the_document(hub: LiveHub) -> None:
    """An admin gets past the role check of every operation, the administrative ones too;
    the agent and team in their paths are made for the run (aimed at the admin's own
    account, a new password would end the fuzzer's session)."""
    async with aiohttp.ClientSession() as http:
        admin = await admin_api(hub, http)
        ids = await _seed(hub, admin.token)
        ids["agent_id"] = (await admin.new_agent("fuzzed"))["agent_id"]
        ids["team_id"] = (await admin.new_team("fuzzed"))["team_id"]
    headers = {"Authorization": f"Bearer {admin.token}"}
    found = await asyncio.to_thread(fuzz, hub.base_url, headers, skip=_logout, path_parameters=ids)
    assert not found.failures, found.report()
    assert {"PATCH /api/agents/{agent_id}", "POST /api/teams", "GET /api/audit"} <= found.reached()

"""Types at the REST edge mean what the OpenAPI document says: integers are integers,
times fit a datetime, flags are booleans, and null is taken exactly where it is documented."""

from __future__ import annotations

import json

import aiohttp

from tests.conftest import LiveHub
from tests.e2e.api_support import call, seed, state

# The latest instant a Python datetime holds: 9999-12-31T23:59:59.999Z.
LAST_MS = 253_402_300_799_999


async def test_timestamps_are_integers_between_1970_and_9999(hub: LiveHub) -> None:
    async with aiohttp.ClientSession() as http:
        seeded = await seed(http, hub)
        before = await state(http, hub, seeded)
        case_in = {"customer_id": seeded.customer.rsplit("/", 1)[1], "kind": "request",
                   "subject": "When?"}  # fmt: skip
        order_in = {"amount": "5.00", "currency": "EUR"}
        for bad in ("1e20", "100000000000000000000", str(LAST_MS + 1), "-1", "false", "true",
                    '"1700000000000"', "1.7e12"):  # fmt: skip
            for who, method, path, body in (
                (seeded.agent, "POST", "/api/cases", {**case_in, "due_at_ms": "@"}),
                (seeded.agent, "PATCH", seeded.case, {"due_at_ms": "@"}),
                (seeded.supervisor, "POST", seeded.customer + "/orders",
                 {**order_in, "ordered_at_ms": "@"}),
                (seeded.supervisor, "PATCH", seeded.order, {"ordered_at_ms": "@"}),
            ):  # fmt: skip
                sent = json.dumps(body).replace('"@"', bad)
                status, answer = await call(
                    http, hub, who, method, path, data=sent,
                    headers={"Content-Type": "application/json"},
                )  # fmt: skip
                assert status == 400, (method, path, sent, answer)
                assert answer["error_id"] == "request.invalid"
                assert answer["details"]["errors"][0]["field"].endswith("_at_ms"), answer
        assert await state(http, hub, seeded) == before
        # The last millisecond of year 9999 is a time like any other, and reads back.
        status, case = await call(
            http, hub, seeded.agent, "PATCH", seeded.case, json={"due_at_ms": LAST_MS}
        )
        assert (status, case["due_at_ms"]) == (200, LAST_MS), case
        status, order = await call(
            http, hub, seeded.supervisor, "PATCH", seeded.order, json={"ordered_at_ms": LAST_MS}
        )
        assert (status, order["ordered_at_ms"]) == (200, LAST_MS), order
        status, context = await call(http, hub, seeded.agent, "GET", seeded.customer + "/context")
        assert status == 200 and context["value"]["last_order_at_ms"] == LAST_MS, context


async def test_identity_flags_are_booleans_not_numbers(hub: LiveHub) -> None:
    async with aiohttp.ClientSession() as http:
        seeded = await seed(http, hub)
        before = await state(http, hub, seeded)
        for flag in ("shared", "primary"):
            status, body = await call(
                http, hub, seeded.agent, "POST", seeded.customer + "/identities",
                json={"kind": "email", "value": "flag@example.org", flag: 1},
            )  # fmt: skip
            assert (status, body["details"]["errors"][0]["field"]) == (400, flag), body
        assert await state(http, hub, seeded) == before


async def test_null_is_refused_where_the_document_says_a_field_is_not_nullable(
    hub: LiveHub,
) -> None:
    async with aiohttp.ClientSession() as http:
        seeded = await seed(http, hub)
        status, doc = await call(http, hub, None, "GET", "/api/openapi.json")
        schemas = doc["components"]["schemas"]
        before = await state(http, hub, seeded)
        for model, who, path in (
            ("CustomerPatch", seeded.supervisor, seeded.customer),
            ("CasePatch", seeded.supervisor, seeded.case),
            ("OrderPatch", seeded.supervisor, seeded.order),
        ):
            for field, schema in schemas[model]["properties"].items():
                nullable = {"type": "null"} in schema.get("anyOf", [])
                status, body = await call(http, hub, who, "PATCH", path, json={field: None})
                if nullable:
                    assert status == 200, (model, field, body)
                else:
                    assert (status, body["error_id"]) == (400, "request.invalid"), (model, field)
            assert not any(
                field in schemas[model].get("required", [])
                for field in schemas[model]["properties"]
            ), f"{model}: a PATCH requires nothing"
        after = await state(http, hub, seeded)
        # Only the nullable fields that were nulled changed (language, tier, owner, due time).
        assert after[0]["display_name"] == before[0]["display_name"]
        assert after[-2]["subject"] == before[-2]["subject"]

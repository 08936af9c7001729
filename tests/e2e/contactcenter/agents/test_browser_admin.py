"""The admin page in a real browser (docs/admin.md, "The admin page"): an operator makes a
team, a supervisor and three agents with skills through the page; an agent signs in to the
console with the one-time password and must choose their own; the supervisor sees their
team's agents only and may change a skill but not a role; an agent deactivated from the
page loses their open console. And the queues and routing rules as configured, with
check-config's verdict.

Drives the system Chromium (/usr/bin/chromium) through Playwright. The hub runs in this
process on a config folder of its own (two queues, one rule), so that the verdict compares
the files with what the hub runs. The test database is shared by the session's tests:
logins and team names carry a suffix of their own.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from contactcenter.site_settings import load_settings
from tests.conftest import TEST_PASSWORD, LiveHub, Servers, free_port, start_hub
from tests.e2e.browser import LIVE_MS, chromium, require_chromium, watched_page
from tests.e2e.clients import login
from tests.e2e.processes import make_config_dir

require_chromium()

from playwright.async_api import expect  # noqa: E402

pytestmark = pytest.mark.browser

QUEUES_TOML = """
[[queue]]
name = "support"
skill = "support"
channels = ["chat"]
offer_timeout_s = 20
dispositions = ["resolved", "follow-up"]
service_level_s = { chat = 60 }

[[queue]]
name = "billing"
eligibility = "billing >= 30"
channels = ["chat", "email"]
strategy = "most-skilled"
priority = 5
dispositions = ["paid", "refunded"]

[queue.hours]
timezone = "Europe/Paris"
mon = ["09:00-17:00"]
when_closed = "queue"
"""

ROUTING_TOML = """
[[rule]]
name = "French speakers"
match = { language = "fr" }
queue = "billing"
skills = ["french"]

[default]
queue = "support"
"""

ONE_TIME = "first-time-Pass-42"  # what the admin gives; each person then chooses their own


@pytest.fixture
async def admin_hub(
    servers: Servers, database_url: str, routing_domain: str, redis: Redis, tmp_path: Path
) -> AsyncIterator[LiveHub]:
    config = make_config_dir(tmp_path / "config")
    (config / "queues.toml").write_text(QUEUES_TOML)
    (config / "routing.toml").write_text(ROUTING_TOML)
    settings = replace(
        load_settings(config, {}),
        port=free_port(),
        redis_url=servers.redis_url,
        database_url=database_url,
        routing_domain=routing_domain,
        routing_tick_ms=50,
        demo_password=TEST_PASSWORD,
        data_dir=tmp_path / "data",
        db_pool_size=4,
    )
    live, runner = await start_hub(settings)
    yield live
    await runner.cleanup()


async def sign_in_at(page: Any, url: str, username: str, password: str) -> None:
    await page.goto(url)
    await page.get_by_test_id("login-username").fill(username)
    await page.get_by_test_id("login-password").fill(password)
    await page.get_by_test_id("login-submit").click()


async def choose_password(page: Any, new_password: str) -> None:
    """The one-time password step: the current one is filled in from the sign-in."""
    await expect(page.get_by_test_id("password-form")).to_be_visible(timeout=LIVE_MS)
    await page.get_by_test_id("password-new").fill(new_password)
    await page.get_by_test_id("password-repeat").fill(new_password)
    await page.get_by_test_id("password-submit").click()


def skill(page: Any, name: str) -> Any:
    return page.locator(f'[data-testid="skill-level"][data-skill="{name}"]')


def agent_row(page: Any, login: str) -> Any:
    return page.locator(f'[data-testid="agent-row"][data-login="{login}"]')


async def new_agent(
    page: Any, login: str, name: str, *, role: str, team: str, skills: dict[str, int]
) -> None:
    """Fill the form of a new agent (not saved)."""
    await page.get_by_test_id("agent-new").click()
    form = page.get_by_test_id("agent-form")
    await expect(form).to_have_attribute("data-mode", "create")
    await form.get_by_test_id("agent-login").fill(login)
    await form.get_by_test_id("agent-display-name").fill(name)
    await form.get_by_test_id("agent-role-select").select_option(role)
    await form.locator(f'[data-testid="agent-team"][data-team-name="{team}"]').check()
    for skill_name, level in skills.items():
        await skill(form, skill_name).fill(str(level))
    await form.get_by_test_id("agent-languages").fill("en, fr")
    await form.get_by_test_id("agent-password").fill(ONE_TIME)


async def save_new_agent(page: Any, login: str) -> None:
    await page.get_by_test_id("agent-save").click()
    await expect(page.get_by_test_id("agent-form-status")).to_contain_text(
        "Created", timeout=LIVE_MS
    )
    await expect(agent_row(page, login)).to_be_visible(timeout=LIVE_MS)


async def test_an_operator_sets_up_a_team_through_the_admin_page(admin_hub: LiveHub) -> None:
    base = admin_hub.base_url
    sfx = uuid.uuid4().hex[:6]
    team = f"Billing {sfx}"
    sup, agents = f"sup-{sfx}", [f"ag{i}-{sfx}" for i in (1, 2, 3)]
    errors: list[str] = []

    async with chromium() as browser:
        admin_ctx, admin = await watched_page(browser, errors, "admin page")

        # -- the demo admin signs in on the admin page
        await sign_in_at(admin, f"{base}/admin", "admin", admin_hub.demo_password)
        await expect(admin.get_by_test_id("agents-panel")).to_be_visible(timeout=LIVE_MS)
        await expect(agent_row(admin, "alice")).to_be_visible(timeout=LIVE_MS)
        # The suite's other tests share the database: keep to this test's agents, so that
        # they are on the list's first page whatever the others made.
        await admin.get_by_test_id("agent-search").fill(sfx)
        await expect(agent_row(admin, "alice")).to_have_count(0, timeout=LIVE_MS)

        # -- a team
        await admin.get_by_test_id("tab-teams").click()
        await admin.get_by_test_id("team-new-name").fill(team)
        await admin.get_by_test_id("team-create").click()
        await expect(admin.get_by_test_id("team-name")).to_have_value(team, timeout=LIVE_MS)

        # -- a supervisor; mistakes are shown beside the field the hub names
        await admin.get_by_test_id("tab-agents").click()
        await new_agent(admin, sup, "Sue Pervisor", role="supervisor", team=team,
                        skills={"support": 150})  # fmt: skip
        await admin.get_by_test_id("agent-password").fill("short")
        await admin.get_by_test_id("agent-save").click()
        await expect(admin.get_by_test_id("error-skills")).to_contain_text("support")
        await expect(skill(admin, "support")).to_have_attribute("aria-invalid", "true")
        await skill(admin, "support").fill("40")
        await admin.get_by_test_id("agent-save").click()
        await expect(admin.get_by_test_id("error-password")).to_contain_text("at least 10")
        await expect(admin.get_by_test_id("agent-password")).to_have_attribute(
            "aria-invalid", "true"
        )
        await expect(admin.get_by_test_id("error-skills")).to_be_hidden()
        await admin.get_by_test_id("agent-password").fill(ONE_TIME)
        await save_new_agent(admin, sup)

        # -- three agents with skills
        levels = [{"support": 70, "billing": 60}, {"support": 50}, {"billing": 90, "french": 80}]
        for i, (login, skills) in enumerate(zip(agents, levels, strict=True), start=1):
            await new_agent(
                admin, login, f"Agent {i} {sfx}", role="agent", team=team, skills=skills
            )
            await save_new_agent(admin, login)
        await expect(agent_row(admin, agents[2]).locator('[data-col="skills"]')).to_contain_text(
            "billing 90"
        )
        # A login that exists is refused beside the login.
        await new_agent(admin, agents[0], "Again", role="agent", team=team, skills={})
        await admin.get_by_test_id("agent-save").click()
        taken = admin.get_by_test_id("error-login")
        await expect(taken).to_have_attribute(
            "data-error-id", "agents.login_taken", timeout=LIVE_MS
        )
        await admin.get_by_test_id("agent-cancel").click()

        # The filters: by skill, then by team.
        await admin.get_by_test_id("agent-filter-skill").select_option("french")
        await expect(admin.get_by_test_id("agent-row")).to_have_count(1, timeout=LIVE_MS)
        await admin.get_by_test_id("agent-filter-skill").select_option("")
        await admin.get_by_test_id("agent-filter-team").select_option(label=team)
        await expect(admin.get_by_test_id("agent-row")).to_have_count(4, timeout=LIVE_MS)

        # -- the supervisor supervises the team, which takes the billing queue
        await admin.get_by_test_id("tab-teams").click()
        await admin.locator(f'[data-testid="team-row"][data-team-name="{team}"]').click()
        member = admin.locator(f'[data-testid="team-member"][data-login="{sup}"]')
        await member.get_by_test_id("team-member-supervises").check()
        await admin.locator('[data-testid="team-queue"][data-queue="billing"]').check()
        await admin.get_by_test_id("team-save").click()
        await expect(admin.get_by_test_id("team-form-status")).to_have_text("Saved.")
        row = admin.locator(f'[data-testid="team-row"][data-team-name="{team}"]')
        await expect(row).to_contain_text("3 members · 1 supervisor · billing")

        # -- the first agent signs in to the console and must choose a password first
        agent_ctx, console = await watched_page(browser, errors, "console")
        await sign_in_at(console, f"{base}/console", agents[0], ONE_TIME)
        await choose_password(console, "tooshort")
        weak = console.get_by_test_id("password-new-error")
        await expect(weak).to_contain_text("at least 10")
        await expect(weak).to_have_attribute("data-error-id", "agents.weak_password")
        await choose_password(console, f"my-own-{sfx}-secret")
        status = console.get_by_test_id("connection-status")
        await expect(status).to_have_attribute("data-state", "connected", timeout=LIVE_MS)
        await expect(console.get_by_test_id("admin-link")).to_be_hidden()

        # -- the supervisor: their own password, then their team's agents only
        sup_ctx, supervisor = await watched_page(browser, errors, "supervisor")
        await sign_in_at(supervisor, f"{base}/admin", sup, ONE_TIME)
        await choose_password(supervisor, f"sue-{sfx}-chooses-this")
        await expect(supervisor.get_by_test_id("agent-total")).to_have_text(
            "4 agents", timeout=LIVE_MS
        )
        for login in (sup, *agents):
            await expect(agent_row(supervisor, login)).to_be_visible()
        await expect(agent_row(supervisor, "alice")).to_have_count(0)
        await expect(supervisor.get_by_test_id("agent-new")).to_be_hidden()

        await agent_row(supervisor, agents[1]).click()
        form = supervisor.get_by_test_id("agent-form")
        await expect(form.get_by_test_id("agent-role-select")).to_be_disabled()
        await expect(form.get_by_test_id("agent-display-name")).to_be_disabled()
        await expect(supervisor.get_by_test_id("agent-account")).to_be_hidden()
        await skill(form, "support").fill("55")
        await form.get_by_test_id("agent-save").click()
        await expect(form.get_by_test_id("agent-form-status")).to_have_text("Saved.")
        await expect(agent_row(supervisor, agents[1]).locator('[data-col="skills"]')).to_have_text(
            "support 55", timeout=LIVE_MS
        )
        # The role is not theirs to change: the hub refuses it whatever the page shows.
        agent_id = await agent_row(supervisor, agents[1]).get_attribute("data-agent-id")
        refused = await supervisor.evaluate(
            """async (id) => {
                const r = await fetch("/api/agents/" + id, {method: "PATCH",
                    headers: {"Content-Type": "application/json"},
                    body: JSON.stringify({role: "admin"})});
                return [r.status, (await r.json()).error_id];
            }""",
            agent_id,
        )
        assert refused == [403, "auth.forbidden"]
        await expect(agent_row(supervisor, agents[1]).locator('[data-col="role"]')).to_have_text(
            "agent"
        )

        # -- the admin deactivates the first agent: their open console closes
        await admin.get_by_test_id("tab-agents").click()
        await admin.get_by_test_id("agent-filter-team").select_option("")
        await agent_row(admin, agents[0]).click()
        await admin.get_by_test_id("agent-deactivate").click()
        await expect(admin.get_by_test_id("agent-active-state")).to_contain_text("Deactivated")
        await expect(console.get_by_test_id("login-username")).to_be_visible(timeout=LIVE_MS)
        await expect(console.get_by_test_id("login-error")).to_contain_text("session has ended")
        await expect(agent_row(admin, agents[0])).to_have_count(0, timeout=LIVE_MS)
        await admin.get_by_test_id("agent-filter-active").select_option("false")
        await expect(agent_row(admin, agents[0]).locator('[data-col="active"]')).to_have_text(
            "Deactivated", timeout=LIVE_MS
        )

        for ctx in (admin_ctx, agent_ctx, sup_ctx):
            await ctx.close()

    assert not errors, "errors in the pages:\n" + "\n".join(errors)


async def test_the_admin_page_shows_the_routing_configuration_and_its_verdict(
    admin_hub: LiveHub,
) -> None:
    errors: list[str] = []
    async with chromium() as browser:
        ctx, page = await watched_page(browser, errors, "admin page")
        await sign_in_at(page, f"{admin_hub.base_url}/admin", "sam", admin_hub.demo_password)
        await page.get_by_test_id("tab-routing").click()

        verdict = page.get_by_test_id("config-verdict")
        await expect(verdict).to_have_attribute("data-status", "valid", timeout=LIVE_MS)
        await expect(page.get_by_test_id("config-summary")).to_have_text("Loaded and valid.")
        config_dir = str(admin_hub.settings.config_dir)
        await expect(page.get_by_test_id("config-source")).to_contain_text(config_dir)
        # No queue serves sms, whatsapp or voice: check-config's warnings.
        await expect(page.get_by_test_id("config-warning")).to_have_count(3)

        billing = page.locator('[data-testid="config-queue"][data-queue="billing"]')
        await expect(billing).to_contain_text("billing >= 30")
        await expect(billing).to_contain_text("most-skilled")
        await expect(billing).to_contain_text("paid, refunded")
        await expect(billing).to_contain_text("Europe/Paris: mon 09:00-17:00; waits when closed")
        support = page.locator('[data-testid="config-queue"][data-queue="support"]')
        await expect(support).to_contain_text("chat 60 s")
        rule = page.locator('[data-testid="config-rule"][data-rule="French speakers"]')
        await expect(rule).to_contain_text("language fr")
        await expect(rule).to_contain_text("french")
        await expect(page.get_by_test_id("config-default")).to_contain_text("support")

        # A mistake in the files: the hub keeps what it loaded, and the verdict names it.
        path = admin_hub.settings.config_dir / "routing.toml"
        path.write_text(ROUTING_TOML.replace('queue = "billing"', 'queue = "nowhere"'))
        await page.get_by_test_id("config-refresh").click()
        await expect(verdict).to_have_attribute("data-status", "invalid", timeout=LIVE_MS)
        await expect(page.get_by_test_id("config-problem")).to_contain_text("routing.toml")
        await expect(page.get_by_test_id("config-problem")).to_contain_text("nowhere")
        await expect(page.locator('[data-testid="config-rule"]')).to_have_count(1)
        await ctx.close()
    assert not errors, "errors in the pages:\n" + "\n".join(errors)


async def test_an_agent_is_sent_to_the_console_and_supervisors_get_a_link(
    admin_hub: LiveHub,
) -> None:
    base = admin_hub.base_url
    errors: list[str] = []
    async with chromium() as browser:
        ctx, page = await watched_page(browser, errors, "agent")
        await sign_in_at(page, f"{base}/admin", "alice", admin_hub.demo_password)
        await expect(page.get_by_test_id("forbidden-view")).to_be_visible(timeout=LIVE_MS)
        await ctx.close()

        ctx, page = await watched_page(browser, errors, "supervisor")
        await sign_in_at(page, f"{base}/console", "sam", admin_hub.demo_password)
        link = page.get_by_test_id("admin-link")
        await expect(link).to_be_visible(timeout=LIVE_MS)
        await link.click()
        # The same session: no second sign-in.
        await expect(page.get_by_test_id("agents-panel")).to_be_visible(timeout=LIVE_MS)
        await page.get_by_test_id("console-link").click()
        await expect(page.get_by_test_id("connection-status")).to_have_attribute(
            "data-state", "connected", timeout=LIVE_MS
        )
        await ctx.close()
    assert not errors, "errors in the pages:\n" + "\n".join(errors)


async def test_the_agent_list_comes_a_page_at_a_time(admin_hub: LiveHub) -> None:
    base = admin_hub.base_url
    sfx = uuid.uuid4().hex[:6]
    token = await login(base, "admin", admin_hub.demo_password)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        for i in range(3):
            body = {"login": f"pg{i}-{sfx}", "display_name": f"Paged {i}", "password": ONE_TIME}
            async with http.post(f"{base}/api/agents", json=body) as resp:
                assert resp.status == 201, await resp.text()
    errors: list[str] = []
    async with chromium() as browser:
        ctx, page = await watched_page(browser, errors, "admin page")
        await sign_in_at(page, f"{base}/admin?limit=2", "admin", admin_hub.demo_password)
        await page.get_by_test_id("agent-search").fill(sfx)
        total = page.get_by_test_id("agent-total")
        await expect(total).to_have_text("3 agents, 2 shown", timeout=LIVE_MS)
        await expect(page.get_by_test_id("agent-row")).to_have_count(2)
        await page.get_by_test_id("agent-more").click()
        await expect(page.get_by_test_id("agent-row")).to_have_count(3, timeout=LIVE_MS)
        await expect(total).to_have_text("3 agents")
        await expect(page.get_by_test_id("agent-more")).to_be_hidden()
        logins = await page.get_by_test_id("agent-row").evaluate_all(
            "rows => rows.map(r => r.dataset.login)"
        )
        assert logins == [f"pg{i}-{sfx}" for i in range(3)]
        await ctx.close()
    assert not errors, "errors in the pages:\n" + "\n".join(errors)


async def _api(base: str, token: str, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(
            method, base + path, headers={"Authorization": f"Bearer {token}"}, **kw
        ) as resp,
    ):
        return resp.status, await resp.json() if resp.content_type == "application/json" else None


async def test_members_reset_passwords_reactivation_and_deleting_a_team_from_the_page(
    admin_hub: LiveHub,
) -> None:
    base = admin_hub.base_url
    sfx = uuid.uuid4().hex[:6]
    team, login_ = f"Desk {sfx}", f"rs-{sfx}"
    token = await login(base, "admin", admin_hub.demo_password)
    status, made = await _api(base, token, "POST", "/api/agents", json={
        "login": login_, "display_name": "Reset Me", "password": ONE_TIME,
        "must_change_password": False, "skills": {"support": 10},
    })  # fmt: skip
    assert status == 201, made
    errors: list[str] = []
    async with chromium() as browser:
        ctx, page = await watched_page(browser, errors, "admin page")
        await sign_in_at(page, f"{base}/admin", "admin", admin_hub.demo_password)
        await expect(page.get_by_test_id("agents-panel")).to_be_visible(timeout=LIVE_MS)

        # -- the role filter and the search find the agent
        await page.get_by_test_id("agent-filter-role").select_option("agent")
        await page.get_by_test_id("agent-search").fill(sfx)
        await expect(agent_row(page, login_)).to_be_visible(timeout=LIVE_MS)
        await page.get_by_test_id("agent-filter-role").select_option("supervisor")
        await expect(agent_row(page, login_)).to_have_count(0, timeout=LIVE_MS)
        await page.get_by_test_id("agent-filter-role").select_option("agent")

        # -- a reset password is one the agent must change
        await agent_row(page, login_).click()
        await page.get_by_test_id("agent-reset-password").fill("reset-Pass-9876")
        await page.get_by_test_id("agent-reset-submit").click()
        await expect(page.get_by_test_id("agent-account-status")).to_contain_text(
            "Password reset", timeout=LIVE_MS
        )
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                base + "/api/login", json={"username": login_, "password": "reset-Pass-9876"}
            ) as resp,
        ):
            assert (await resp.json())["agent"]["must_change_password"] is True

        # -- deactivated, then reactivated from the page
        await page.get_by_test_id("agent-deactivate").click()
        await expect(page.get_by_test_id("agent-active-state")).to_contain_text("Deactivated")
        await page.get_by_test_id("agent-reactivate").click()
        await expect(page.get_by_test_id("agent-account-status")).to_contain_text(
            "Reactivated", timeout=LIVE_MS
        )
        status, account = await _api(base, token, "GET", f"/api/agents/{made['agent_id']}")
        assert account["active"] is True

        # -- a team: a member added by login, then removed; then the team deleted
        await page.get_by_test_id("tab-teams").click()
        await page.get_by_test_id("team-new-name").fill(team)
        await page.get_by_test_id("team-create").click()
        await expect(page.get_by_test_id("team-name")).to_have_value(team, timeout=LIVE_MS)
        await page.get_by_test_id("team-add-login").fill(login_)
        await page.get_by_test_id("team-add-member").click()
        member = page.locator(f'[data-testid="team-member"][data-login="{login_}"]')
        await expect(member).to_be_visible(timeout=LIVE_MS)
        await page.get_by_test_id("team-save").click()
        await expect(page.get_by_test_id("team-form-status")).to_contain_text("Saved")
        status, account = await _api(base, token, "GET", f"/api/agents/{made['agent_id']}")
        assert [t["name"] for t in account["teams"]] == [team]
        team_id = account["teams"][0]["team_id"]
        await member.get_by_test_id("team-member-remove").click()
        await expect(member).to_have_count(0)
        await page.get_by_test_id("team-save").click()
        await expect(page.get_by_test_id("team-form-status")).to_contain_text("Saved")
        status, account = await _api(base, token, "GET", f"/api/agents/{made['agent_id']}")
        assert account["teams"] == []
        await page.get_by_test_id("team-delete").click()
        await page.get_by_test_id("team-delete-confirm").click()
        await expect(
            page.locator(f'[data-testid="team-row"][data-team-name="{team}"]')
        ).to_have_count(0, timeout=LIVE_MS)
        status, _ = await _api(base, token, "GET", f"/api/teams/{team_id}")
        assert status == 404
        await ctx.close()
    assert not errors, "errors in the page:\n" + "\n".join(errors)

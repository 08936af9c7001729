/* The list of agents (GET /api/agents): searched and filtered by team, skill, role and
 * whether active, a page at a time (the answer's `next` cursor; `?limit=N` in the page's
 * address sets the page size, 50 by default). A supervisor's list holds their teams' agents
 * and themselves: the hub decides. Choosing a row opens the agent's form (agent_form.js). */

import { el } from "../shared/dom.js";
import { state, isAdmin, call } from "./state.js";
import { showError } from "./layout.js";

const $ = (id) => document.getElementById(id);
const ui = {
  filters: $("agent-filters"),
  search: $("agent-search"),
  team: $("agent-filter-team"),
  skill: $("agent-filter-skill"),
  role: $("agent-filter-role"),
  active: $("agent-filter-active"),
  rows: $("agent-rows"),
  total: $("agent-total"),
  empty: $("agent-empty"),
  more: $("agent-more"),
  create: $("agent-new"),
};

const SEARCH_DELAY_MS = 250;

function pageSize() {
  const asked = Number(new URLSearchParams(window.location.search).get("limit"));
  return Number.isInteger(asked) && asked >= 1 && asked <= 200 ? asked : 50;
}

const PAGE_SIZE = pageSize();
const hooks = { onSelect: () => undefined, onCreate: () => undefined };
let next = null; // the cursor of the next page, or null on the last
let generation = 0; // answers to an older query are dropped
let selectedId = null;
let searchTimer = null;

/* main.js: `onSelect(agent)` when a row is chosen, `onCreate()` for "New agent". */
export function setAgentListHooks({ onSelect, onCreate }) {
  hooks.onSelect = onSelect;
  hooks.onCreate = onCreate;
}

function options(select, first, items) {
  const keep = select.value;
  select.textContent = "";
  select.append(el("option", { value: "", text: first }));
  for (const [value, label] of items) select.append(el("option", { value, text: label }));
  select.value = items.some(([value]) => value === keep) ? keep : "";
}

/* The team and skill filters, from the teams and the catalogue as they are now. */
export function fillFilters() {
  options(ui.team, "Every team", state.teams.map((t) => [t.team_id, t.name]));
  options(ui.skill, "Every skill", state.catalogue.skills.map((s) => [s, s]));
  ui.create.hidden = !isAdmin();
}

function query(cursor) {
  const q = new URLSearchParams({ limit: String(PAGE_SIZE), active: ui.active.value });
  const search = ui.search.value.trim();
  if (search) q.set("search", search);
  if (ui.team.value) q.set("team_id", ui.team.value);
  if (ui.skill.value) q.set("skill", ui.skill.value);
  if (ui.role.value) q.set("role", ui.role.value);
  if (cursor) q.set("cursor", cursor);
  return "/api/agents?" + q.toString();
}

function chips(items) {
  return items.map((text) => el("span", { class: "chip chip-muted", text }));
}

function row(agent) {
  const teams = agent.teams.map((t) => t.name + (t.supervises ? " (supervises)" : ""));
  const skills = Object.entries(agent.skills).sort().map(([name, level]) => name + " " + level);
  const tr = el("tr", {
    class: "is-selectable" + (agent.active ? "" : " is-inactive"),
    tabindex: "0",
    testid: "agent-row",
    dataset: { login: agent.login, agentId: agent.agent_id },
  },
  el("td", {}, el("code", { text: agent.login })),
  el("td", { text: agent.display_name }),
  el("td", { text: agent.role, dataset: { col: "role" } }),
  el("td", { dataset: { col: "teams" } }, ...chips(teams)),
  el("td", { dataset: { col: "skills" } }, ...chips(skills)),
  el("td", { text: agent.active ? "Active" : "Deactivated", dataset: { col: "active" } }));
  tr.classList.toggle("is-selected", agent.agent_id === selectedId);
  const choose = () => {
    markSelected(agent.agent_id);
    hooks.onSelect(agent);
  };
  tr.addEventListener("click", choose);
  tr.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") choose();
  });
  return tr;
}

function render(page, append) {
  if (!append) ui.rows.textContent = "";
  for (const agent of page.items) ui.rows.append(row(agent));
  next = page.next === null || page.next === undefined ? null : String(page.next);
  ui.more.hidden = next === null;
  const shown = ui.rows.children.length;
  const count = page.total === 1 ? "1 agent" : page.total + " agents";
  ui.total.textContent = count + (shown < page.total ? ", " + shown + " shown" : "");
  ui.empty.hidden = page.total > 0;
}

/* The first page again, as the filters say now. */
export async function reloadAgents() {
  const mine = ++generation;
  try {
    const page = await call("GET", query(null));
    if (mine === generation) render(page, false);
  } catch (e) {
    if (mine === generation) showError("The agents could not be listed: " + e.message, e.errorId);
  }
}

async function showMore() {
  if (next === null) return;
  const mine = generation;
  ui.more.disabled = true;
  try {
    const page = await call("GET", query(next));
    if (mine === generation) render(page, true);
  } catch (e) {
    showError("The next agents could not be listed: " + e.message, e.errorId);
  } finally {
    ui.more.disabled = false;
  }
}

export function markSelected(agentId) {
  selectedId = agentId;
  for (const tr of ui.rows.children) tr.classList.toggle("is-selected", tr.dataset.agentId === agentId);
}

ui.filters.addEventListener("submit", (ev) => ev.preventDefault());
ui.search.addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(reloadAgents, SEARCH_DELAY_MS);
});
for (const select of [ui.team, ui.skill, ui.role, ui.active]) select.addEventListener("change", reloadAgents);
ui.more.addEventListener("click", showMore);
ui.create.addEventListener("click", () => {
  markSelected(null);
  hooks.onCreate();
});

/* Teams (GET /api/teams): the list, and one team's name, members (who supervises) and
 * queues. Admins create (POST), change (PATCH: the members, supervisors and queues given
 * replace the team's) and delete (DELETE) teams; a supervisor reads the teams they
 * supervise. */

import { el } from "../shared/dom.js";
import { state, isAdmin, loadTeams, call } from "./state.js";
import { showError } from "./layout.js";
import { clearErrors, fieldError, showErrors } from "./errors.js";

const $ = (id) => document.getElementById(id);
const ui = {
  createForm: $("team-create-form"),
  newName: $("team-new-name"),
  list: $("team-list"),
  empty: $("team-empty"),
  none: $("team-none"),
  form: $("team-form"),
  name: $("team-name"),
  members: $("team-members"),
  add: $("team-add"),
  addLogin: $("team-add-login"),
  addMember: $("team-add-member"),
  queues: $("team-queues"),
  status: $("team-form-status"),
  actions: $("team-actions"),
  del: $("team-delete"),
  delConfirm: $("team-delete-confirm"),
};
const createRoot = ui.createForm.parentElement;

const hooks = { onChanged: () => undefined };
let current = null; // the team shown
let members = []; // its people as edited: {agent_id, login, display_name, supervises}

/* main.js: `onChanged()` after the teams changed (agents' forms and filters name them). */
export function setTeamHooks({ onChanged }) {
  hooks.onChanged = onChanged;
}

function summary(team) {
  const supervisors = team.members.filter((m) => m.supervises).length;
  const people = team.members.length - supervisors;
  return people + (people === 1 ? " member" : " members") + " · " + supervisors
    + (supervisors === 1 ? " supervisor" : " supervisors") + " · "
    + (team.queues.length ? team.queues.join(", ") : "no queue");
}

function renderList() {
  ui.list.textContent = "";
  for (const team of state.teams) {
    const button = el("button", {
      type: "button",
      class: "team-row" + (current && current.team_id === team.team_id ? " is-selected" : ""),
      testid: "team-row",
      dataset: { teamName: team.name, teamId: team.team_id },
      onclick: () => openTeam(team),
    }, el("span", { class: "team-row-name", text: team.name }),
    el("span", { class: "muted small", text: summary(team) }));
    ui.list.append(el("li", {}, button));
  }
  ui.empty.hidden = state.teams.length > 0;
  ui.createForm.hidden = !isAdmin();
}

/* The teams again (and the one shown, as it is now). */
export async function reloadTeams() {
  try {
    await loadTeams();
  } catch (e) {
    showError("The teams could not be listed: " + e.message, e.errorId);
    return;
  }
  const shown = current && state.teams.find((t) => t.team_id === current.team_id);
  if (current && !shown) closeTeam();
  else if (shown) current = shown;
  renderList();
  hooks.onChanged();
}

function renderMembers() {
  const admin = isAdmin();
  ui.members.textContent = "";
  for (const m of members) {
    ui.members.append(el("li", { class: "member", testid: "team-member", dataset: { login: m.login } },
      el("span", { class: "member-name", text: m.display_name + " (" + m.login + ")" }),
      el("label", { class: "checkbox" },
        el("input", {
          type: "checkbox",
          testid: "team-member-supervises",
          checked: m.supervises,
          disabled: !admin,
          onchange: (ev) => { m.supervises = ev.target.checked; },
        }), "Supervises"),
      admin ? el("button", {
        type: "button",
        class: "btn btn-ghost btn-small",
        testid: "team-member-remove",
        "aria-label": "Remove " + m.login,
        text: "Remove",
        onclick: () => {
          members = members.filter((x) => x !== m);
          renderMembers();
        },
      }) : null));
  }
  if (!members.length) ui.members.append(el("li", { class: "muted small", text: "No members." }));
}

function renderQueues(chosen) {
  const admin = isAdmin();
  ui.queues.textContent = "";
  for (const queue of state.catalogue.queues) {
    ui.queues.append(el("label", { class: "checkbox" },
      el("input", { type: "checkbox", value: queue, testid: "team-queue", dataset: { queue },
        checked: chosen.includes(queue), disabled: !admin }),
      queue));
  }
}

function openTeam(team) {
  const admin = isAdmin();
  current = team;
  members = team.members.map((m) => ({ ...m }));
  clearErrors(ui.form);
  ui.status.textContent = "";
  ui.name.value = team.name;
  ui.name.disabled = !admin;
  ui.add.hidden = !admin;
  ui.actions.hidden = !admin;
  ui.delConfirm.hidden = true;
  ui.del.hidden = false;
  renderMembers();
  renderQueues(team.queues);
  ui.none.hidden = true;
  ui.form.hidden = false;
  renderList();
}

function closeTeam() {
  current = null;
  ui.form.hidden = true;
  ui.none.hidden = false;
}

async function addMember() {
  clearErrors(ui.form);
  const login = ui.addLogin.value.trim().toLowerCase();
  if (!login) return;
  if (members.some((m) => m.login === login)) {
    fieldError(ui.form, "members", login + " is a member already.");
    return;
  }
  try {
    const q = new URLSearchParams({ search: login, active: "any", limit: "200" });
    const page = await call("GET", "/api/agents?" + q.toString());
    const found = page.items.find((a) => a.login === login);
    if (!found) {
      fieldError(ui.form, "members", "No agent has the login " + login + ".");
      return;
    }
    members.push({ agent_id: found.agent_id, login: found.login,
      display_name: found.display_name, supervises: false });
    ui.addLogin.value = "";
    renderMembers();
  } catch (e) {
    showErrors(ui.form, e);
  }
}

async function save(ev) {
  ev.preventDefault();
  clearErrors(ui.form);
  ui.status.textContent = "";
  const body = {
    members: members.filter((m) => !m.supervises).map((m) => m.agent_id),
    supervisors: members.filter((m) => m.supervises).map((m) => m.agent_id),
    queues: Array.from(ui.queues.querySelectorAll("input:checked"), (i) => i.value),
  };
  if (ui.name.value.trim() !== current.name) body.name = ui.name.value.trim();
  try {
    current = await call("PATCH", "/api/teams/" + encodeURIComponent(current.team_id), body);
    openTeam(current);
    ui.status.textContent = "Saved.";
    await reloadTeams();
  } catch (e) {
    showErrors(ui.form, e);
  }
}

async function remove() {
  clearErrors(ui.form);
  try {
    await call("DELETE", "/api/teams/" + encodeURIComponent(current.team_id));
    closeTeam();
    await reloadTeams();
  } catch (e) {
    showErrors(ui.form, e);
  }
}

async function create(ev) {
  ev.preventDefault();
  clearErrors(createRoot);
  try {
    const team = await call("POST", "/api/teams", { name: ui.newName.value.trim() });
    ui.newName.value = "";
    await reloadTeams();
    openTeam(state.teams.find((t) => t.team_id === team.team_id) || team);
  } catch (e) {
    showErrors(createRoot, e);
  }
}

ui.createForm.addEventListener("submit", create);
ui.form.addEventListener("submit", save);
ui.addMember.addEventListener("click", addMember);
ui.addLogin.addEventListener("keydown", (ev) => {
  if (ev.key === "Enter") {
    ev.preventDefault();
    addMember();
  }
});
ui.del.addEventListener("click", () => {
  ui.del.hidden = true;
  ui.delConfirm.hidden = false;
});
ui.delConfirm.addEventListener("click", remove);

/* The list as state.teams holds it (main.js loads them first), no team open. */
export function showTeams() {
  closeTeam();
  renderList();
}

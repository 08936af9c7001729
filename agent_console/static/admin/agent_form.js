/* An agent's form: create (POST /api/agents, with a one-time password) and edit (PATCH
 * /api/agents/{id}, only what changed); for admins, deactivate or reactivate and reset the
 * password (one-time). A supervisor may change skills, languages and capacity only: the
 * rest is shown disabled (the hub refuses it anyway). Refusals show beside their field. */

import { state, isAdmin, call } from "./state.js";
import { clearErrors, showErrors } from "./errors.js";
import { fillTeams, readTeams, fillLevels, readLevels, readLanguages, same } from "./agent_fields.js";

const $ = (id) => document.getElementById(id);
const ui = {
  none: $("agent-none"),
  form: $("agent-form"),
  title: $("agent-form-title"),
  status: $("agent-form-status"),
  loginField: $("agent-login-field"),
  login: $("agent-login"),
  displayName: $("agent-display-name"),
  email: $("agent-email"),
  role: $("agent-role-select"),
  teams: $("agent-teams"),
  skills: $("agent-skills"),
  languages: $("agent-languages"),
  capacity: $("agent-capacity"),
  voiceTo: $("agent-voice-to"),
  voiceBlocksChat: $("agent-voice-blocks-chat"),
  passwordField: $("agent-password-field"),
  password: $("agent-password"),
  save: $("agent-save"),
  cancel: $("agent-cancel"),
  account: $("agent-account"),
  activeState: $("agent-active-state"),
  deactivate: $("agent-deactivate"),
  reactivate: $("agent-reactivate"),
  resetForm: $("agent-reset-form"),
  resetPassword: $("agent-reset-password"),
  accountStatus: $("agent-account-status"),
};

const hooks = { onSaved: () => undefined, onClosed: () => undefined };
let current = null; // the account being edited; null when creating

/* main.js: `onSaved(account)` after any change, `onClosed()` when the form closes. */
export function setAgentFormHooks({ onSaved, onClosed }) {
  hooks.onSaved = onSaved;
  hooks.onClosed = onClosed;
}

const ADMIN_ONLY = [ui.displayName, ui.email, ui.role, ui.voiceTo, ui.voiceBlocksChat];

function fill(account) {
  const admin = isAdmin();
  const a = account || {
    login: "", display_name: "", email: null, role: "agent", teams: [], skills: {},
    languages: [], capacity: {}, voice_to: "client", voice_blocks_chat: true, active: true,
  };
  ui.form.dataset.mode = account ? "edit" : "create";
  ui.title.textContent = account ? a.display_name + " (" + a.login + ")" : "New agent";
  ui.login.value = a.login;
  ui.login.disabled = Boolean(account);
  ui.loginField.hidden = Boolean(account);
  ui.displayName.value = a.display_name;
  ui.email.value = a.email || "";
  ui.role.value = a.role;
  ui.languages.value = a.languages.join(", ");
  ui.voiceTo.value = a.voice_to;
  ui.voiceBlocksChat.checked = a.voice_blocks_chat;
  for (const input of ADMIN_ONLY) input.disabled = !admin;
  fillTeams(ui.teams, state.teams, a.teams.map((t) => t.team_id), !admin);
  const skills = Array.from(new Set([...state.catalogue.skills, ...Object.keys(a.skills)])).sort();
  fillLevels(ui.skills, "skills", skills, a.skills, { max: 100, disabled: false });
  fillLevels(ui.capacity, "capacity", state.catalogue.channels, a.capacity, { max: 50, disabled: false });
  ui.passwordField.hidden = Boolean(account);
  ui.password.value = "";
  ui.account.hidden = !(account && admin);
  ui.activeState.textContent = a.active ? "Active" : "Deactivated: cannot sign in";
  ui.deactivate.hidden = !a.active;
  ui.reactivate.hidden = a.active;
  ui.resetPassword.value = "";
}

function open(account) {
  current = account;
  clearErrors(ui.form);
  clearErrors(ui.account);
  ui.status.textContent = "";
  ui.accountStatus.textContent = "";
  fill(account);
  ui.none.hidden = true;
  ui.form.hidden = false;
  (account ? ui.displayName : ui.login).focus();
}

export function openCreate() {
  open(null);
}

export function openEdit(account) {
  open(account);
}

export function closeForm() {
  current = null;
  ui.form.hidden = true;
  ui.account.hidden = true;
  ui.none.hidden = false;
}

/* Everything the form says, as the API names it. */
function values() {
  return {
    display_name: ui.displayName.value.trim(),
    email: ui.email.value.trim() || null,
    role: ui.role.value,
    team_ids: readTeams(ui.teams),
    skills: readLevels(ui.skills),
    languages: readLanguages(ui.languages.value),
    capacity: readLevels(ui.capacity),
    voice_to: ui.voiceTo.value.trim(),
    voice_blocks_chat: ui.voiceBlocksChat.checked,
  };
}

/* What differs from the account as it was, among what this user may change. */
function changes(v) {
  const was = {
    ...current,
    team_ids: current.teams.map((t) => t.team_id).sort(),
    capacity: current.capacity,
  };
  const allowed = isAdmin() ? Object.keys(v) : ["skills", "languages", "capacity"];
  const out = {};
  for (const key of allowed) {
    if (key === "capacity") {
      const changed = Object.entries(v.capacity).filter(([ch, n]) => was.capacity[ch] !== n);
      if (changed.length) out.capacity = Object.fromEntries(changed);
    } else if (!same(v[key], was[key])) out[key] = v[key];
  }
  return out;
}

async function save(ev) {
  ev.preventDefault();
  clearErrors(ui.form);
  ui.status.textContent = "";
  const v = values();
  ui.save.disabled = true;
  try {
    let account;
    if (current === null) {
      const body = { ...v, login: ui.login.value.trim(), password: ui.password.value };
      account = await call("POST", "/api/agents", body);
      ui.status.textContent = "Created. " + account.login
        + " chooses their own password at first sign-in.";
    } else {
      const body = changes(v);
      if (!Object.keys(body).length) {
        ui.status.textContent = "Nothing changed.";
        return;
      }
      account = await call("PATCH", "/api/agents/" + encodeURIComponent(current.agent_id), body);
      ui.status.textContent = "Saved.";
    }
    current = account;
    fill(account);
    hooks.onSaved(account);
  } catch (e) {
    showErrors(ui.form, e);
  } finally {
    ui.save.disabled = false;
  }
}

async function setActive(active) {
  clearErrors(ui.account);
  ui.accountStatus.textContent = "";
  const path = "/api/agents/" + encodeURIComponent(current.agent_id) + (active ? "/reactivate" : "/deactivate");
  try {
    current = await call("POST", path);
    fill(current);
    ui.accountStatus.textContent = active
      ? "Reactivated: they may sign in again."
      : "Deactivated: their sessions ended, their consoles closed and their work went back to the queues.";
    hooks.onSaved(current);
  } catch (e) {
    showErrors(ui.account, e);
  }
}

async function resetPassword(ev) {
  ev.preventDefault();
  clearErrors(ui.account);
  ui.accountStatus.textContent = "";
  const password = ui.resetPassword.value;
  try {
    await call("PUT", "/api/agents/" + encodeURIComponent(current.agent_id) + "/password",
      { password, must_change_password: true });
    ui.resetPassword.value = "";
    ui.accountStatus.textContent = "Password reset: " + current.login
      + " chooses their own at next sign-in; their sessions ended.";
  } catch (e) {
    showErrors(ui.account, e);
  }
}

ui.form.addEventListener("submit", save);
ui.cancel.addEventListener("click", () => {
  closeForm();
  hooks.onClosed();
});
ui.deactivate.addEventListener("click", () => setActive(false));
ui.reactivate.addEventListener("click", () => setActive(true));
ui.resetForm.addEventListener("submit", resetPassword);

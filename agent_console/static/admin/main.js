/* The admin page (admin.html, docs/admin.md "The admin page"), the entry module: sign-in
 * with the console's session (POST /api/login sets the cookie both pages use), the one-time
 * password step, then the page for supervisors and admins, one module per part:
 *
 *   layout.js, state.js          the frame and tabs; who is signed in, catalogue, teams
 *   agents.js                    the list of agents: search, filters, pages
 *   agent_form.js, agent_fields.js   an agent's form: create, edit, deactivate, password
 *   teams.js                     teams: members, supervisors, queues
 *   routing.js                   queues and routing rules as configured, check-config's verdict
 *   errors.js                    the hub's refusals beside the field they name
 *
 * All text goes in through textContent. */

import { api, ApiError } from "../shared/api.js";
import { setupLoginForm } from "../shared/login_form.js";
import { setupPasswordChange } from "../shared/password.js";
import { ui, showView, renderMe, showTab, whenShown, hideError, showError } from "./layout.js";
import { state, loadCatalogue, loadTeams, whenSessionGone } from "./state.js";
import { setAgentListHooks, fillFilters, reloadAgents, markSelected } from "./agents.js";
import { setAgentFormHooks, openCreate, openEdit, closeForm } from "./agent_form.js";
import { setTeamHooks, showTeams, reloadTeams } from "./teams.js";
import { loadRouting } from "./routing.js";

setAgentListHooks({ onSelect: openEdit, onCreate: openCreate });
setAgentFormHooks({ onSaved: () => reloadAgents(), onClosed: () => markSelected(null) });
setTeamHooks({ onChanged: () => { fillFilters(); reloadAgents(); } });
whenShown("teams", reloadTeams);
whenShown("routing", loadRouting);
whenSessionGone(() => sessionEnded("Your session has ended. Please sign in again."));

const login = setupLoginForm(document.getElementById("login-view"), {
  subtitle: "Supervisors and admins sign in to manage agents and teams.",
  onSignedIn: signedIn,
});
const askPassword = setupPasswordChange(document.getElementById("password-view"), (agent) => signedIn(agent, ""));

function isSupervisor(agent) {
  return agent.role === "supervisor" || agent.role === "admin";
}

/* Where a signed-in user goes: their own password first, then the page if it is theirs. */
async function signedIn(agent, typedPassword) {
  state.me = agent;
  renderMe(agent);
  if (agent.must_change_password) {
    showView("password");
    askPassword(typedPassword);
    return;
  }
  if (!isSupervisor(agent)) {
    showView("forbidden");
    return;
  }
  showView("loading");
  try {
    await Promise.all([loadCatalogue(), loadTeams()]);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return; // back to the sign-in form
    showError("The page could not load: " + e.message, e.errorId);
  }
  fillFilters();
  closeForm();
  showView("admin");
  showTab("agents");
  showTeams();
  await reloadAgents();
}

function sessionEnded(message) {
  state.me = null;
  showView("login");
  if (message) login.say(message);
  login.ready();
}

ui.logout.addEventListener("click", async () => {
  ui.logout.disabled = true;
  try {
    await api("POST", "/api/logout");
  } catch (e) {
    /* the session is dropped here anyway */
  }
  ui.logout.disabled = false;
  hideError();
  sessionEnded();
});

async function boot() {
  showView("loading");
  try {
    const me = await api("GET", "/api/me");
    await signedIn(me.agent, "");
    return;
  } catch (e) {
    /* not signed in, or the hub is away: the sign-in form says the rest */
  }
  sessionEnded();
}

boot();

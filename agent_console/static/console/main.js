/* Agent console (console.html), the entry module: sign-in and session, then the console of
 * the agent or supervisor, its parts one module each:
 *
 *   connection.js, protocol.js   the /ws/agent socket (docs/protocol.md) and its frames
 *   layout.js, presence.js       the page's frame, the error banner, the state menu
 *   offers.js                    offers, with their countdown
 *   conversations.js             the list of conversations and each one's view
 *   transcript.js, marks.js      messages and earlier pages; typing, read and delivery marks
 *   wrapup.js                    wrap-up with a disposition and notes
 *   customer*.js                 the customer panel: context kept live, rendering, CRM edits
 *   softphone.js, phone.js       the softphone (Twilio Voice SDK) and its wiring
 *   supervisor.js                for supervisors, the live log of hub events
 *
 * The sign-in form (../shared/login_form.js) and the password step (../shared/password.js)
 * are built into their empty sections of the page, shared with the admin page. An agent who
 * signed in with an administrator's one-time password chooses their own first: the hub serves
 * nothing else to that session until then.
 *
 * Nothing here writes customer data (names, messages, notes) to the browser's console. */

import { state } from "./state.js";
import { ui, showView, renderAgent, hideError, updateCounts, updateEmptyHint } from "./layout.js";
import { socket, setConnection, setConnectionHooks } from "./connection.js";
import { handleFrame } from "./protocol.js";
import { setPresence } from "./presence.js";
import { removeOffer } from "./offers.js";
import { removeConversation } from "./conversations.js";
import { showCustomerOf } from "./customer.js";
import "./customer_edits.js";
import { clearEvents } from "./supervisor.js";
import { softphone } from "./phone.js";
import { setupLoginForm } from "../shared/login_form.js";
import { setupPasswordChange } from "../shared/password.js";

const passwordView = document.getElementById("password-view");
const adminLink = document.getElementById("admin-link");

/* layout.js's views, and the password step beside them. */
function show(name) {
  showView(name);
  passwordView.hidden = name !== "password";
}

const login = setupLoginForm(ui.loginView, {
  subtitle: "Agents and supervisors sign in to take chats.",
  onSignedIn: signedIn,
});
const askPassword = setupPasswordChange(passwordView, (agent) => enterConsole(agent));

/* Into the console, unless the agent must first choose their own password. */
function signedIn(agent, typedPassword) {
  if (agent && agent.must_change_password) {
    show("password");
    askPassword(typedPassword);
    return;
  }
  enterConsole(agent);
}

setConnectionHooks({
  onFrame: handleFrame,
  onSessionEnded: () => {
    resetConsole();
    show("login");
    login.say("Your session has ended. Please sign in again.");
  },
});

function resetConsole() {
  socket.stop();
  softphone.stop();
  for (const id of Array.from(state.offers.keys())) removeOffer(id, null, true);
  for (const id of Array.from(state.convs.keys())) removeConversation(id, true);
  state.pending.clear();
  state.activeId = null;
  state.agent = null;
  state.customers.clear();
  state.seenChanges.clear();
  showCustomerOf(null);
  clearEvents();
  setPresence("offline");
  hideError();
  updateCounts();
}

function enterConsole(agent) {
  state.agent = agent || {};
  renderAgent();
  adminLink.hidden = !["supervisor", "admin"].includes(state.agent.role);
  login.say("");
  show("console");
  updateCounts();
  updateEmptyHint();
  socket.start();
  softphone.start(state.agent);
}

ui.logout.addEventListener("click", async () => {
  ui.logout.disabled = true;
  try {
    await fetch("/api/logout", { method: "POST" });
  } catch (e) {
    /* the session is dropped locally anyway */
  }
  ui.logout.disabled = false;
  resetConsole();
  show("login");
  login.ready();
});

async function boot() {
  show("loading");
  setPresence("offline");
  setConnection("stopped");
  try {
    const res = await fetch("/api/me", { cache: "no-store" });
    if (res.ok) {
      const body = await res.json();
      signedIn(body.agent || body, "");
      return;
    }
  } catch (e) {
    /* fall through to the login form */
  }
  show("login");
  login.ready();
}

boot();

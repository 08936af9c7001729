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

setConnectionHooks({
  onFrame: handleFrame,
  onSessionEnded: () => {
    resetConsole();
    showView("login");
    ui.loginError.textContent = "Your session has ended. Please sign in again.";
    ui.loginError.hidden = false;
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
  ui.loginError.hidden = true;
  showView("console");
  updateCounts();
  updateEmptyHint();
  socket.start();
  softphone.start(state.agent);
}

ui.loginForm.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  ui.loginError.hidden = true;
  const username = ui.loginUser.value.trim();
  const password = ui.loginPass.value;
  if (!username || !password) {
    ui.loginError.textContent = "Enter your username and password.";
    ui.loginError.hidden = false;
    return;
  }
  ui.loginSubmit.disabled = true;
  try {
    const res = await fetch("/api/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username, password }),
    });
    let body = null;
    try { body = await res.json(); } catch (e) { body = null; }
    if (res.ok && body) {
      ui.loginPass.value = "";
      enterConsole(body.agent || body);
    } else {
      ui.loginError.textContent = (body && body.message) || ("Sign-in failed (HTTP " + res.status + ").");
      ui.loginError.hidden = false;
      ui.loginPass.select();
    }
  } catch (e) {
    ui.loginError.textContent = "Cannot reach the hub. Check your connection and try again.";
    ui.loginError.hidden = false;
  } finally {
    ui.loginSubmit.disabled = false;
  }
});

ui.logout.addEventListener("click", async () => {
  ui.logout.disabled = true;
  try {
    await fetch("/api/logout", { method: "POST" });
  } catch (e) {
    /* the session is dropped locally anyway */
  }
  ui.logout.disabled = false;
  resetConsole();
  showView("login");
  ui.loginPass.value = "";
  ui.loginUser.focus();
});

async function boot() {
  showView("loading");
  setPresence("offline");
  setConnection("stopped");
  try {
    const res = await fetch("/api/me", { cache: "no-store" });
    if (res.ok) {
      const body = await res.json();
      enterConsole(body.agent || body);
      return;
    }
  } catch (e) {
    /* fall through to the login form */
  }
  showView("login");
  ui.loginUser.focus();
}

boot();

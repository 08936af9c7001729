/* The agent's presence: the state menu (available, away, offline) and the dot beside it, kept
 * as the hub says it is; going offline with work in hand asks first. */

import { state } from "./state.js";
import { ui, updateEmptyHint } from "./layout.js";
import { command } from "./connection.js";

const STATES = ["available", "away", "offline"];

export function setPresence(value) {
  if (!STATES.includes(value)) return;
  state.presence = value;
  ui.stateSelect.value = value;
  ui.presenceDot.dataset.state = value;
  ui.stateSelect.dataset.state = value;
  updateEmptyHint();
}

/* Going offline with conversations or wrap-ups in hand: the hub asks first (docs/routing.md,
 * "Going offline with work"). Confirmed, they go back to their queues, ahead of the line. */
export function askToReleaseWork(frame) {
  const ids = (frame.details && frame.details.contact_ids) || [];
  const question = "You still hold " + ids.length + " contact" + (ids.length === 1 ? "" : "s")
    + ". Put " + (ids.length === 1 ? "it" : "them") + " back in the queue and go offline?"
    + " (Cancel to transfer " + (ids.length === 1 ? "it" : "them") + " yourself first.)";
  if (window.confirm(question)) {
    const ref = command({ type: "set_state", state: "offline", release_work: true }, "state", null);
    if (ref) return;
  }
  setPresence(state.presence);
}

ui.stateSelect.addEventListener("change", () => {
  const wanted = ui.stateSelect.value;
  const ref = command({ type: "set_state", state: wanted }, "state", null);
  if (!ref) ui.stateSelect.value = state.presence;
});

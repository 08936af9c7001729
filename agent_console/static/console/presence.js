/* The agent's presence: the state menu (available, away for one of the catalogue's reasons,
 * offline) and the dot beside it, kept as the hub says it is; going offline with work in
 * hand asks first. The menu also schedules a next state, to take effect once the contacts
 * held are over (docs/states.md), shown beside it with a way to cancel it. */

import { el } from "../shared/dom.js";
import { state } from "./state.js";
import { ui, updateEmptyHint } from "./layout.js";
import { command } from "./connection.js";

const STATES = ["available", "away", "offline"];
const $ = (id) => document.getElementById(id);
const menu = {
  plainAway: ui.stateSelect.querySelector('option[value="away"]'),
  awayReasons: $("away-reasons"),
  nextStates: $("next-states"),
  next: $("next-state"),
  nextLabel: $("next-state-label"),
  nextCancel: $("next-state-cancel"),
};

function reasonLabel(code) {
  const found = state.reasons.find((r) => r.code === code);
  return found ? found.label : String(code);
}

/* The catalogue of away reasons (the snapshot's `reasons`): one menu entry each, for now and
 * for next; plain "Away" stays only for a reason outside it (one the hub set). */
export function setReasons(reasons) {
  state.reasons = Array.isArray(reasons) ? reasons.filter((r) => r && r.code) : [];
  menu.awayReasons.replaceChildren(...state.reasons.map((r) =>
    el("option", { value: "away:" + r.code, text: r.label, dataset: { reason: r.code } })));
  menu.awayReasons.hidden = state.reasons.length === 0;
  menu.nextStates.replaceChildren(
    ...state.reasons.map((r) => el("option", {
      value: "next:away:" + r.code, text: r.label, dataset: { reason: r.code },
    })),
    el("option", { value: "next:offline", text: "Offline" }));
  setPresence(state.presence, state.presenceReason);
  setNextState(state.nextState);
}

/* The presence the hub reports (`state` frame, snapshot), with its away reason. */
export function setPresence(value, reason) {
  if (!STATES.includes(value)) return;
  state.presence = value;
  state.presenceReason = value === "away" && reason ? String(reason) : null;
  const listed = state.presenceReason
    && state.reasons.some((r) => r.code === state.presenceReason);
  menu.plainAway.hidden = state.reasons.length > 0 && !(value === "away" && !listed);
  menu.plainAway.textContent = state.presenceReason && !listed
    ? "Away (" + state.presenceReason + ")" : "Away";
  ui.stateSelect.value = listed ? "away:" + state.presenceReason : value;
  ui.presenceDot.dataset.state = value;
  ui.stateSelect.dataset.state = value;
  if (state.presenceReason) ui.stateSelect.dataset.reason = state.presenceReason;
  else delete ui.stateSelect.dataset.reason;
  updateEmptyHint();
}

/* The next state waiting ({state, reason} or null), as the hub reports it. */
export function setNextState(next) {
  state.nextState = next && next.state ? { state: next.state, reason: next.reason || null } : null;
  menu.next.hidden = !state.nextState;
  if (!state.nextState) {
    delete menu.next.dataset.state;
    delete menu.next.dataset.reason;
    menu.nextLabel.textContent = "";
    return;
  }
  menu.next.dataset.state = state.nextState.state;
  if (state.nextState.reason) menu.next.dataset.reason = state.nextState.reason;
  else delete menu.next.dataset.reason;
  menu.nextLabel.textContent = state.nextState.state === "offline" ? "Offline"
    : state.nextState.reason ? reasonLabel(state.nextState.reason) : "Away";
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
  setPresence(state.presence, state.presenceReason);
}

/* A menu entry's value: "available", "offline", "away", "away:<code>", "next:offline" or
 * "next:away:<code>". */
function choice(value) {
  const next = value.startsWith("next:");
  const [wanted, reason] = (next ? value.slice(5) : value).split(":");
  return { next, state: wanted, reason: reason || null };
}

ui.stateSelect.addEventListener("change", () => {
  const chosen = choice(ui.stateSelect.value);
  const frame = { type: "set_state", state: chosen.state };
  if (chosen.reason) frame.reason = chosen.reason;
  if (chosen.next) frame.next = true;
  const ref = command(frame, chosen.next ? "next_state" : "state", null);
  // A next state leaves the presence as it is: the menu shows it again at once.
  if (!ref || chosen.next) setPresence(state.presence, state.presenceReason);
});

menu.nextCancel.addEventListener("click", () => {
  command({ type: "cancel_next_state" }, "next_state", null);
});

/* Wrap-up: once a conversation ends (either side), the agent picks a disposition and writes
 * notes for the customer's history, then finishes; the hub's `wrapup_done` removes it. The
 * dispositions are the contact's queue's (config/queues.toml), carried by the contact
 * object of the offer, the assignment and the snapshot (docs/protocol.md). */

import { el } from "../shared/dom.js";
import { state } from "./state.js";
import { command } from "./connection.js";
import { addSystemNote } from "./transcript.js";

/* The wrap-up form of a conversation, hidden until it ends; finishing sends `wrapup`. */
export function wrapupForm(contactId, contact) {
  const dispositions = Array.isArray(contact && contact.dispositions) ? contact.dispositions : [];
  const required = !contact || contact.disposition_required !== false;
  const wrapSelect = el("select", {
    testid: "wrapup-disposition", class: "input", dataset: { required: String(required) },
  },
    el("option", { value: "", text: required ? "Choose a disposition…" : "No disposition" }),
    ...dispositions.map((d) => el("option", { value: String(d), text: String(d) })));
  const wrapNotes = el("textarea", {
    testid: "wrapup-notes", class: "input", rows: "3", maxlength: "4000",
    placeholder: "Notes for the customer's history (optional)",
  });
  const wrapSubmit = el("button", { type: "submit", class: "btn btn-primary", testid: "wrapup-submit", text: "Finish wrap-up" });
  const wrapEndedBy = el("p", { class: "muted wrapup-ended-by" });
  const wrapForm = el("form", { class: "wrapup", testid: "wrapup-panel" },
    el("div", { class: "wrapup-head" },
      el("h3", { text: "Wrap-up" }), wrapEndedBy),
    el("label", { class: "field" }, el("span", { text: "Disposition" }), wrapSelect),
    el("label", { class: "field" }, el("span", { text: "Notes" }), wrapNotes),
    el("div", { class: "wrapup-actions" }, wrapSubmit));
  wrapForm.hidden = true;
  wrapForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const disposition = wrapSelect.value || null;
    const frame = { type: "wrapup", contact_id: contactId, disposition, notes: wrapNotes.value };
    if (command(frame, "wrapup", contactId)) wrapSubmit.disabled = true;
  });
  return { wrapForm, wrapSelect, wrapNotes, wrapSubmit, wrapEndedBy };
}

export function setWrapup(conv, endedBy, initial) {
  if (!conv) return;
  conv.status = "wrapup";
  conv.panel.dataset.state = "wrapup";
  clearTimeout(conv.typingIdle);
  conv.typingLine.hidden = true;
  conv.composer.hidden = true;
  conv.endBtn.hidden = true;
  conv.wrapForm.hidden = false;
  conv.wrapSubmit.disabled = false;
  conv.statusPill.textContent = "Wrap-up";
  conv.statusPill.className = "pill pill-wrapup";
  conv.tabState.textContent = "Wrap-up";
  conv.tabState.className = "pill pill-small pill-wrapup";
  const who = endedBy === "customer" ? "The customer ended the conversation."
    : endedBy === "agent" ? "You ended the conversation."
      : "The conversation has ended.";
  conv.wrapEndedBy.textContent = who;
  if (!initial) addSystemNote(conv, who);
  if (!initial && state.activeId === conv.id) conv.wrapSelect.focus();
}

export function onEnded(contactId, endedBy) {
  const conv = state.convs.get(contactId);
  if (conv && conv.status === "active") setWrapup(conv, endedBy, false);
}

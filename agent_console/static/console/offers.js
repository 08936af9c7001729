/* Offers: a card for each contact the hub offers the agent, with its customer, queue, why it
 * came (the routing rule), the customer's last words, a countdown to its deadline, and Accept,
 * Reject and Customer (show its customer in the panel). */

import { el } from "../shared/dom.js";
import { state, customerName, contactOf } from "./state.js";
import { ui, updateCounts } from "./layout.js";
import { command } from "./connection.js";
import { rememberContext, showCustomerOf, forgetUnusedCustomers } from "./customer.js";

export function addOffer(contact, deadlineMs, reason) {
  if (!contact || !contact.contact_id) return;
  const id = contact.contact_id;
  removeOffer(id, null, true);
  const now = Date.now();
  let deadlineAt = Number(deadlineMs);
  if (!isFinite(deadlineAt) || deadlineAt <= 0) deadlineAt = now + 20000;
  else if (deadlineAt < 1e12) deadlineAt = now + deadlineAt; // a duration, not an epoch time
  const total = Math.max(1000, deadlineAt - now);

  const countdown = el("span", { class: "offer-countdown", testid: "offer-countdown" });
  const bar = el("span", { class: "offer-progress-bar" });
  const accept = el("button", {
    type: "button", class: "btn btn-primary", testid: "offer-accept", text: "Accept",
    onclick: () => respond(id, "accept"),
  });
  const reject = el("button", {
    type: "button", class: "btn btn-secondary", testid: "offer-reject", text: "Reject",
    onclick: () => respond(id, "reject"),
  });
  const lastCustomer = (contact.messages || []).filter((m) => m && m.sender === "customer").pop();
  const preview = el("p", {
    class: "offer-preview", testid: "offer-preview",
    text: lastCustomer ? lastCustomer.body : "",
  });
  preview.hidden = !lastCustomer;

  const card = el("article", {
    class: "offer-card", testid: "offer-card", dataset: { contactId: id },
    "aria-label": "Offer from " + customerName(contact),
  },
    el("div", { class: "offer-head" },
      el("span", { class: "offer-title" },
        el("span", { class: "pulse", "aria-hidden": "true" }),
        el("strong", { class: "offer-customer", testid: "offer-customer", text: customerName(contact) })),
      countdown),
    el("div", { class: "offer-meta" },
      el("span", { class: "chip", testid: "offer-queue", text: contact.queue || "" }),
      contact.channel ? el("span", { class: "chip chip-muted", text: contact.channel }) : null,
      reasonText(reason) ? el("span", { class: "offer-reason muted", text: reasonText(reason) }) : null),
    preview,
    el("span", { class: "offer-progress", "aria-hidden": "true" }, bar),
    el("div", { class: "offer-actions" }, accept, reject));

  const view = el("button", {
    type: "button", class: "btn btn-ghost btn-small offer-view", testid: "offer-view",
    text: "Customer", "aria-label": "Show the customer of this offer",
    onclick: () => showCustomerOf(id),
  });
  card.querySelector(".offer-meta").append(view);

  const offer = { id, contact, deadlineAt, total, card, countdown, bar, accept, reject, view };
  state.offers.set(id, offer);
  ui.offers.append(card);
  rememberContext(contact);
  if (!state.viewId || !contactOf(state.viewId)) showCustomerOf(id);
  tickOffer(offer, now);
  updateCounts();
}

function reasonText(reason) {
  if (!reason || typeof reason !== "object") return "";
  const parts = [];
  for (const key of ["rule", "why", "kind"]) {
    if (typeof reason[key] === "string") parts.push(reason[key]);
  }
  return parts.join(" · ");
}

function respond(id, kind) {
  if (!state.offers.has(id)) return;
  const ref = command({ type: kind, contact_id: id }, kind, id);
  if (ref) setOfferBusy(id, true);
}

export function setOfferBusy(id, busy) {
  const offer = state.offers.get(id);
  if (!offer) return;
  offer.accept.disabled = busy;
  offer.reject.disabled = busy;
  offer.card.classList.toggle("is-busy", busy);
}

export function removeOffer(id, why, quiet) {
  const offer = state.offers.get(id);
  if (!offer) return;
  state.offers.delete(id);
  offer.card.remove();
  if (state.viewId === id) showCustomerOf(null);
  if (!quiet) {
    forgetUnusedCustomers();
    updateCounts();
  }
}

function tickOffer(offer, now) {
  const left = Math.max(0, offer.deadlineAt - now);
  const secs = Math.ceil(left / 1000);
  offer.countdown.textContent = left > 0 ? secs + "s" : "expiring…";
  offer.countdown.dataset.remainingMs = String(Math.round(left));
  offer.bar.style.width = (100 * left / offer.total).toFixed(1) + "%";
  offer.card.classList.toggle("is-urgent", left < 5000);
  // The hub withdraws expired offers; drop a stale card if that frame never comes.
  if (now - offer.deadlineAt > 10000) removeOffer(offer.id, "expired");
}

setInterval(() => {
  const now = Date.now();
  for (const offer of Array.from(state.offers.values())) tickOffer(offer, now);
}, 250);

/* A customer's message on a contact still offered: its card shows it. */
export function offerMessage(contactId, m) {
  const offer = state.offers.get(contactId);
  if (offer && m && m.sender === "customer") {
    const preview = offer.card.querySelector(".offer-preview");
    if (preview) { preview.textContent = m.body || ""; preview.hidden = false; }
    offer.contact.messages = (offer.contact.messages || []).concat([m]);
  }
}

/* The customer panel's rendering: who the customer of the selected contact is (name, proof of
 * identity, tier, lifecycle, language, open complaint), their profile, tags, open cases,
 * latest notes and last interactions; a status line for live changes and an error line for
 * refused edits. What it shows comes from customer.js; edits are customer_edits.js. */

import { ApiError } from "../shared/api.js";
import { el, formatTime, formatDateTime, shortId } from "../shared/dom.js";
import { state, customerName, customerIdOf, MAX_NOTES } from "./state.js";

const $ = (id) => document.getElementById(id);

export const cp = {
  panel: $("customer-panel"),
  empty: $("customer-empty"),
  body: $("customer-body"),
  name: $("customer-name"),
  merged: $("customer-merged"),
  identity: $("customer-identity"),
  tier: $("customer-tier"),
  lifecycle: $("customer-lifecycle"),
  language: $("customer-language"),
  complaint: $("customer-complaint"),
  status: $("customer-status"),
  error: $("customer-error"),
  errorText: $("customer-error-text"),
  errorDismiss: $("customer-error-dismiss"),
  value: $("customer-value"),
  orders: $("customer-orders"),
  rfm: $("customer-rfm"),
  manager: $("customer-manager"),
  identities: $("customer-identities"),
  tags: $("customer-tags"),
  tagForm: $("tag-form"),
  tagInput: $("tag-input"),
  cases: $("customer-cases"),
  caseCount: $("customer-case-count"),
  noCases: $("customer-no-cases"),
  caseOpen: $("case-open"),
  caseForm: $("case-form"),
  caseKind: $("case-kind"),
  caseSubject: $("case-subject"),
  casePriority: $("case-priority"),
  noteForm: $("note-form"),
  noteInput: $("note-input"),
  notes: $("customer-notes"),
  noNotes: $("customer-no-notes"),
  interactions: $("customer-interactions"),
  noInteractions: $("customer-no-interactions"),
};

export function announce(text) {
  cp.status.textContent = text + " · " + formatTime(Date.now());
  cp.status.dataset.kind = "change";
}

/* Show `contact`'s customer as far as it is known; true when it has not been read at all
 * (the caller reads it). */
export function paintCustomer(contact) {
  const customerId = customerIdOf(contact);
  cp.empty.hidden = !!contact;
  cp.body.hidden = !contact;
  cp.panel.dataset.contactId = contact ? contact.contact_id : "";
  cp.panel.dataset.customerId = customerId || "";
  if (!contact) return false;
  const entry = customerId ? state.customers.get(customerId) : null;
  const context = entry && entry.context;
  cp.panel.dataset.state = context ? "ready" : entry && entry.loading ? "loading" : "missing";
  cp.name.textContent = (context && context.name) || customerName(contact);
  renderIdentityProof(contact.customer || {});
  for (const form of [cp.tagForm, cp.caseForm, cp.noteForm]) {
    for (const control of form.elements) control.disabled = !context || form.dataset.busy === "1";
  }
  if (!context) {
    clearCustomerDetails();
    if (!customerId) cp.status.textContent = "No customer record for this contact.";
    else if (entry && entry.loading) {
      cp.status.textContent = "Reading the customer…";
      cp.status.dataset.kind = "loading";
    }
    return !entry && !!customerId;
  }
  if (cp.status.dataset.kind === "loading") {
    cp.status.textContent = "";
    delete cp.status.dataset.kind;
  }
  renderProfile(context);
  renderTags(context.tags || []);
  renderCases(context.open_cases || []);
  renderNotes(context.notes || []);
  renderInteractions(context.interactions || []);
  return false;
}

/* Whether the channel proved who the customer is (docs/widget.md, "Who the visitor is"):
 * a site-signed user or a Twilio-signed number is verified; what a visitor typed is a claim. */
function renderIdentityProof(customer) {
  const verified = customer.verified === true;
  const how = { site: "signed in on the site", twilio: "the number Twilio delivered" };
  cp.identity.textContent = verified ? "Verified" : "Identity claimed";
  cp.identity.dataset.verified = verified ? "true" : "false";
  cp.identity.className = "chip " + (verified ? "chip-ok" : "chip-warn");
  cp.identity.title = verified
    ? "Verified: " + (how[customer.verified_by] || customer.verified_by)
    : "Not verified: the name and email were typed by the customer; check before sharing account details";
}

function clearCustomerDetails() {
  for (const node of [cp.tier, cp.lifecycle, cp.language, cp.value, cp.orders, cp.rfm,
    cp.manager, cp.identities, cp.tags, cp.cases, cp.notes, cp.interactions]) {
    node.textContent = "";
  }
  cp.merged.hidden = true;
  cp.complaint.hidden = true;
  cp.caseCount.hidden = true;
}

function orDash(value) {
  return value === null || value === undefined || value === "" ? "—" : String(value);
}

function renderProfile(c) {
  const value = c.value || {};
  const tier = value.tier || value.tier_by_hand;
  cp.tier.textContent = tier ? "Tier: " + tier : "";
  cp.tier.dataset.tier = tier || "";
  cp.lifecycle.textContent = c.lifecycle ? c.lifecycle.replace(/_/g, " ") : "";
  cp.language.textContent = c.language || "";
  cp.complaint.hidden = !c.has_open_complaint;
  cp.merged.hidden = !c.merged_from;
  cp.merged.textContent = c.merged_from ? "Merged from another record (" + shortId(c.merged_from) + ")" : "";
  cp.value.textContent = value.value_amount != null
    ? value.value_amount + (value.value_rank ? " · rank " + value.value_rank : "") : "—";
  const orders = Number(value.order_count) || 0;
  cp.orders.textContent = orders
    ? orders + (value.last_order_at_ms ? " · last " + formatDateTime(value.last_order_at_ms) : "")
    : "None";
  const rfm = c.rfm || {};
  cp.rfm.textContent = rfm.recency == null && rfm.frequency == null && rfm.monetary == null
    ? "—" : "R " + orDash(rfm.recency) + " · F " + orDash(rfm.frequency) + " · M " + orDash(rfm.monetary);
  cp.manager.textContent = (c.account_manager && c.account_manager.display_name) || "—";
  cp.identities.textContent = "";
  for (const i of c.identities || []) {
    const flags = [i.is_primary ? null : "not primary", i.shared ? "shared" : null].filter(Boolean);
    cp.identities.append(el("li", {},
      el("span", { class: "muted", text: i.kind + " " }),
      el("span", { class: "mono", text: i.value }),
      flags.length ? el("span", { class: "chip chip-muted", text: flags.join(", ") }) : null));
  }
  if (!cp.identities.children.length) cp.identities.append(el("li", { class: "muted", text: "—" }));
}

/* A tag's remove button and a case's Resolve button act through customer_edits.js. */
function renderTags(tags) {
  cp.tags.textContent = "";
  for (const tag of tags) {
    cp.tags.append(el("li", { class: "tag", testid: "customer-tag", dataset: { tag } },
      el("span", { text: tag }),
      el("button", {
        type: "button", class: "tag-remove", testid: "tag-remove", "aria-label": "Remove tag " + tag,
        title: "Remove tag", text: "×",
      })));
  }
  if (!tags.length) cp.tags.append(el("li", { class: "muted small", text: "No tags." }));
}

function renderCases(cases) {
  cp.cases.textContent = "";
  for (const c of cases) {
    const resolve = el("button", {
      type: "button", class: "btn btn-ghost btn-small", testid: "case-resolve", text: "Resolve",
      "aria-label": "Resolve case: " + c.subject,
    });
    cp.cases.append(el("li", {
      class: "case-item case-" + c.kind, testid: "customer-case", dataset: { caseId: c.case_id, status: c.status },
    },
      el("div", { class: "case-row" },
        el("span", { class: "chip " + (c.kind === "complaint" ? "chip-danger" : "chip-muted"), text: c.kind }),
        el("strong", { class: "case-subject", text: c.subject })),
      el("div", { class: "case-row muted small" },
        el("span", { text: c.status + " · " + c.priority + " priority" +
          (c.due_at_ms ? " · due " + formatDateTime(c.due_at_ms) : "") +
          (c.created_at_ms ? " · opened " + formatDateTime(c.created_at_ms) : "") }),
        resolve)));
  }
  cp.noCases.hidden = cases.length > 0;
  cp.caseCount.hidden = cases.length === 0;
  cp.caseCount.textContent = String(cases.length);
}

function renderNotes(notes) {
  cp.notes.textContent = "";
  for (const n of notes.slice(0, MAX_NOTES)) {
    cp.notes.append(el("li", { class: "note", testid: "customer-note", dataset: { noteId: n.note_id } },
      el("p", { class: "note-body", text: n.body == null ? "" : n.body }),
      el("p", { class: "muted small",
        text: (n.author_name || (n.author_id ? "A colleague" : "System")) + " · " + formatDateTime(n.created_at_ms) })));
  }
  cp.noNotes.hidden = notes.length > 0;
}

function renderInteractions(items) {
  cp.interactions.textContent = "";
  for (const i of items.slice(0, 10)) {
    cp.interactions.append(el("li", { class: "interaction", testid: "customer-interaction", dataset: { contactId: i.contact_id } },
      el("div", { class: "case-row" },
        el("span", { class: "chip chip-muted", text: i.channel }),
        el("span", { class: "small", text: formatDateTime(i.arrived_at_ms) }),
        el("span", { class: "small muted", text: i.agent_name || "no agent" }),
        i.disposition ? el("span", { class: "chip", text: i.disposition }) : el("span", { class: "small muted", text: i.state })),
      i.summary ? el("p", { class: "interaction-summary", text: i.summary }) : null));
  }
  cp.noInteractions.hidden = items.length > 0;
}

export function showCustomerError(e, what) {
  let text;
  if (e instanceof ApiError) {
    text = e.status === 401 ? "Your session has ended. Please sign in again." : e.describe();
    cp.error.dataset.errorId = e.errorId;
  } else {
    text = "Cannot reach the hub. Check your connection and try again.";
    cp.error.dataset.errorId = "client.offline";
  }
  cp.errorText.textContent = what + ": " + text;
  cp.error.hidden = false;
}

export function hideCustomerError() {
  cp.error.hidden = true;
  cp.errorText.textContent = "";
}

cp.errorDismiss.addEventListener("click", hideCustomerError);

/* The customer panel's data (docs/crm.md): the customer of the selected contact, with its
 * context as the offer, assigned and snapshot frames bring it, kept current by
 * customer_changed frames (customer_changes.js), and re-read from the CRM API when a change
 * cannot be applied from the frame alone. Edits go through the API (customer_edits.js);
 * their answer is applied at once, and the frame that follows is recognised by its ids. */

import { api } from "../shared/api.js";
import { state, contactOf, customerIdOf, shownContacts, OPEN_STATUSES } from "./state.js";
import { cp, paintCustomer, showCustomerError, hideCustomerError } from "./customer_view.js";

export function customerEntry(customerId) {
  let entry = state.customers.get(customerId);
  if (!entry) {
    entry = { context: null, loading: false, again: false };
    state.customers.set(customerId, entry);
  }
  return entry;
}

/* Keep the context a contact object carries (the newest one wins: it was read last). */
export function rememberContext(contact) {
  const customerId = customerIdOf(contact);
  const context = contact && contact.customer && contact.customer.context;
  if (!customerId || !context || typeof context !== "object") return;
  storeContext(customerId, context);
}

/* `context` was read for `customerId`; a merged customer's context is its survivor's. */
export function storeContext(customerId, context) {
  const survivorId = context.customer_id || customerId;
  if (survivorId !== customerId) {
    moveContacts(customerId, survivorId);
    state.customers.delete(customerId);
  }
  const entry = customerEntry(survivorId);
  if (entry.loading) entry.again = true; // a read in flight may be older than this
  entry.context = context;
  renderCustomerIf(survivorId);
}

export function moveContacts(fromId, toId) {
  for (const contact of shownContacts()) {
    if (customerIdOf(contact) === fromId) contact.customer.customer_id = toId;
  }
}

export function forgetUnusedCustomers() {
  const used = new Set(shownContacts().map(customerIdOf));
  for (const customerId of Array.from(state.customers.keys())) {
    if (!used.has(customerId)) state.customers.delete(customerId);
  }
}

/* Read the customer afresh from the API. A change arriving meanwhile makes the answer
 * possibly stale: it is then read once more. */
export async function refreshCustomer(customerId) {
  const entry = customerEntry(customerId);
  if (entry.loading) {
    entry.again = true;
    return;
  }
  entry.loading = true;
  renderCustomerIf(customerId);
  try {
    do {
      entry.again = false;
      const context = await api("GET", "/api/customers/" + encodeURIComponent(customerId) + "/context");
      if (!entry.again && context && typeof context === "object") {
        entry.loading = false;
        storeContext(customerId, context);
      }
    } while (entry.again);
  } catch (e) {
    showCustomerError(e, "Could not read the customer");
  } finally {
    entry.loading = false;
    renderCustomerIf(customerId);
  }
}

export function updateComplaintFlag(context) {
  context.has_open_complaint = (context.open_cases || []).some(
    (c) => c.kind === "complaint" && OPEN_STATUSES.includes(c.status));
}

/* ---- the customer on view */

export function showCustomerOf(contactId) {
  if (!contactId || !contactOf(contactId)) {
    if (state.activeId && state.convs.has(state.activeId)) contactId = state.activeId;
    else contactId = state.offers.size ? state.offers.keys().next().value : null;
  }
  if (state.viewId !== contactId) {
    cp.status.textContent = "";
    hideCustomerError();
  }
  state.viewId = contactId;
  for (const offer of state.offers.values()) {
    const on = offer.id === contactId;
    offer.card.classList.toggle("is-viewed", on);
    offer.view.setAttribute("aria-pressed", on ? "true" : "false");
  }
  renderCustomer();
}

export function viewedCustomerId() {
  return customerIdOf(contactOf(state.viewId));
}

export function renderCustomerIf(customerId) {
  if (viewedCustomerId() === customerId) renderCustomer();
}

/* The panel as the customer on view now is; a customer not read yet is read. */
export function renderCustomer() {
  const contact = contactOf(state.viewId);
  if (paintCustomer(contact)) refreshCustomer(customerIdOf(contact));
}

/* What the agent console knows: the agent, their presence, the offers and conversations on
 * screen, the commands awaiting an answer, and the customers shown; with the lookups every
 * part of the console shares. Only the modules of the console change it. */

export const state = {
  agent: null,
  presence: "offline",
  presenceReason: null, // the away reason code, when away for one
  reasons: [], // the catalogue of away reasons: [{code, label, productive}]
  nextState: null, // {state, reason} waiting for the contacts in hand to be over
  offers: new Map(), // contact_id -> offer view
  convs: new Map(), // contact_id -> conversation view
  activeId: null,
  pending: new Map(), // ref -> {kind, contactId}
  connected: false,
  customers: new Map(), // customer_id -> {context, loading, again}
  viewId: null, // the contact whose customer the customer panel shows
  seenChanges: new Set(), // event ids of customer_changed frames applied (at least once)
};

export function customerName(contact) {
  return (contact && contact.customer && contact.customer.name) || "Customer";
}

export function contactOf(contactId) {
  if (!contactId) return null;
  const conv = state.convs.get(contactId);
  if (conv) return conv.contact;
  const offer = state.offers.get(contactId);
  return offer ? offer.contact : null;
}

/* A customer's context holds their latest notes, this many, and their cases still open. */
export const MAX_NOTES = 5;
export const OPEN_STATUSES = ["open", "pending"];

export function customerIdOf(contact) {
  return (contact && contact.customer && contact.customer.customer_id) || null;
}

export function shownContacts() {
  return [...Array.from(state.offers.values(), (o) => o.contact),
    ...Array.from(state.convs.values(), (c) => c.contact)];
}

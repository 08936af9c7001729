/* Live changes of the customers on screen: customer_changed frames (docs/protocol.md), each
 * applied once (by its event id), from the fresh `context` a frame may carry, else from its
 * data, else by reading the customer afresh; a merge moves the contacts shown to the
 * survivor, an unmerge gives back the merged customer's own. */

import { api } from "../shared/api.js";
import { state, customerIdOf, shownContacts, MAX_NOTES, OPEN_STATUSES } from "./state.js";
import { announce, showCustomerError } from "./customer_view.js";
import {
  customerEntry, storeContext, moveContacts, refreshCustomer, renderCustomerIf, updateComplaintFlag,
} from "./customer.js";

const MAX_SEEN_CHANGES = 500;

export function onCustomerChanged(frame) {
  if (!frame || typeof frame.customer_id !== "string") return;
  if (frame.event_id) {
    if (state.seenChanges.has(frame.event_id)) return;
    state.seenChanges.add(frame.event_id);
    if (state.seenChanges.size > MAX_SEEN_CHANGES) {
      state.seenChanges.delete(state.seenChanges.values().next().value);
    }
  }
  const data = frame.data && typeof frame.data === "object" ? frame.data : {};
  const customerId = frame.customer_id;
  const used = new Set(shownContacts().map(customerIdOf));
  const mergedId = typeof data.merged_id === "string" ? data.merged_id : null;
  if (!used.has(customerId) && !(mergedId && used.has(mergedId))) return; // not shown here

  if (frame.kind === "CustomersMerged" && mergedId) {
    moveContacts(mergedId, customerId);
    state.customers.delete(mergedId);
  }
  if (frame.kind === "CustomersUnmerged" && mergedId) {
    splitAfterUnmerge(customerId, mergedId);
    return;
  }
  const entry = customerEntry(customerId);
  if (entry.loading) entry.again = true;
  let complete = false;
  if (frame.context && typeof frame.context === "object") {
    storeContext(customerId, frame.context);
    complete = true;
  } else if (entry.context) {
    complete = applyChange(entry.context, frame, data);
  }
  if (frame.agent_id !== (state.agent && state.agent.agent_id)) {
    announce(changeText(frame.kind) + " by " + (frame.agent_id ? "a colleague" : "the hub"));
  }
  renderCustomerIf(customerId);
  if (!complete) refreshCustomer(customerId);
}

/* Apply a change to `context` from the frame's data; false when the data is not enough
 * (the caller then reads the customer afresh). */
function applyChange(context, frame, data) {
  switch (frame.kind) {
    case "CustomerNoteAdded": {
      const notes = (context.notes || []).filter((n) => n.note_id !== data.note_id);
      const mine = state.agent && frame.agent_id === state.agent.agent_id;
      notes.unshift({
        note_id: data.note_id, body: data.body, author_id: frame.agent_id,
        author_name: mine ? state.agent.display_name || state.agent.username : null,
        created_at_ms: frame.at_ms,
      });
      context.notes = notes.sort((a, b) => (b.created_at_ms || 0) - (a.created_at_ms || 0)).slice(0, MAX_NOTES);
      return mine || frame.agent_id == null; // a colleague's name comes with a fresh read
    }
    case "CustomerNoteDeleted": {
      const before = (context.notes || []).length;
      context.notes = (context.notes || []).filter((n) => n.note_id !== data.note_id);
      // With a note gone, an older one may belong among the latest five: read afresh.
      return before < MAX_NOTES || context.notes.length === before;
    }
    case "CustomerTagsChanged":
      if (!Array.isArray(data.tags)) return false;
      context.tags = data.tags.slice().sort();
      return true;
    case "CaseOpened": {
      const cases = (context.open_cases || []).filter((c) => c.case_id !== data.case_id);
      cases.unshift({
        case_id: data.case_id, kind: data.kind, subject: data.subject, status: "open",
        priority: data.priority, owner_id: null, due_at_ms: null, created_at_ms: frame.at_ms,
      });
      context.open_cases = cases;
      updateComplaintFlag(context);
      return true;
    }
    case "CaseUpdated": {
      const cases = context.open_cases || [];
      const known = cases.find((c) => c.case_id === data.case_id);
      if (!OPEN_STATUSES.includes(data.status)) {
        context.open_cases = cases.filter((c) => c.case_id !== data.case_id);
      } else if (known) {
        Object.assign(known, {
          status: data.status, priority: data.priority, owner_id: data.owner_id,
          due_at_ms: data.due_at_ms,
        });
      } else {
        return false; // reopened: its subject is not in the frame
      }
      updateComplaintFlag(context);
      return true;
    }
    default:
      return false; // profile, identities, account manager, merges: read afresh
  }
}

/* After an unmerge, each contact shown as the survivor's may be the merged customer's
 * again: it is, when it is among that customer's interactions. */
async function splitAfterUnmerge(survivorId, mergedId) {
  try {
    const merged = await api("GET", "/api/customers/" + encodeURIComponent(mergedId) + "/context");
    const theirs = new Set((merged.interactions || []).map((i) => i.contact_id));
    let moved = false;
    for (const contact of shownContacts()) {
      if (customerIdOf(contact) === survivorId && theirs.has(contact.contact_id)) {
        contact.customer.customer_id = mergedId;
        moved = true;
      }
    }
    if (moved) storeContext(mergedId, merged);
  } catch (e) {
    showCustomerError(e, "Could not read the customer");
  }
  refreshCustomer(survivorId);
  announce("The customer record was split");
}

function changeText(kind) {
  return {
    CustomerNoteAdded: "Note added",
    CustomerNoteDeleted: "Note deleted",
    CustomerTagsChanged: "Tags changed",
    CaseOpened: "Case opened",
    CaseUpdated: "Case updated",
    CustomerUpdated: "Profile updated",
    CustomersMerged: "Customer records merged",
  }[kind] || "Customer updated";
}

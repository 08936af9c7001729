/* The /ws/agent protocol's frames (docs/protocol.md), each handed to the part of the console
 * it is about; the answers (ack, error) to the agent's commands; and the snapshot that opens
 * every connection, which rebuilds offers and conversations and keeps what the agent was
 * typing. */

import { state } from "./state.js";
import { showError, renderAgent, updateCounts } from "./layout.js";
import { socket } from "./connection.js";
import { setPresence, setReasons, setNextState, askToReleaseWork } from "./presence.js";
import { addOffer, removeOffer, setOfferBusy } from "./offers.js";
import { onAssigned, addConversation, onMessage, removeConversation, activate } from "./conversations.js";
import { onCustomerTyping, onCustomerPresence, onCustomerRead, onMessageStatus } from "./marks.js";
import { setWrapup, onEnded } from "./wrapup.js";
import { forgetUnusedCustomers } from "./customer.js";
import { onCustomerChanged } from "./customer_changes.js";
import { appendEvent } from "./supervisor.js";
import { softphone } from "./phone.js";

export function handleFrame(frame) {
  switch (frame.type) {
    case "snapshot": return applySnapshot(frame);
    case "state": return setPresence(frame.state, frame.reason);
    case "next_state": return setNextState(frame);
    case "offer": return addOffer(frame.contact, frame.deadline_ms, frame.reason);
    case "offer_withdrawn": return removeOffer(frame.contact_id, frame.why);
    case "assigned": return onAssigned(frame.contact);
    case "message": return onMessage(frame.contact_id, frame.message);
    case "conversation_ended": return onEnded(frame.contact_id, frame.ended_by);
    case "wrapup_done": return removeConversation(frame.contact_id);
    case "event": return appendEvent(frame.event);
    case "customer_changed": return onCustomerChanged(frame);
    case "typing": return onCustomerTyping(frame);
    case "customer_presence": return onCustomerPresence(frame);
    case "read": return onCustomerRead(frame);
    case "message_status": return onMessageStatus(frame);
    case "ack": return onAck(frame.ref);
    case "error": return onError(frame);
    case "pong": return undefined;
    default:
      console.debug("unhandled frame type", String(frame.type));
      return undefined;
  }
}

function onAck(ref) {
  const p = state.pending.get(ref);
  state.pending.delete(ref);
  if (!p) return;
  if (p.kind === "reject") removeOffer(p.contactId, "rejected");
}

function onError(frame) {
  const p = frame.ref ? state.pending.get(frame.ref) : null;
  if (frame.ref) state.pending.delete(frame.ref);
  if (!p && frame.error_id === "chat.rate_limited") return; // a typing or read mark, dropped
  if (p && p.kind === "state" && frame.error_id === "agent.holds_work") {
    askToReleaseWork(frame);
    return;
  }
  showError(frame.message || frame.error_id, frame.error_id);
  if (!p) return;
  if (p.kind === "state") setPresence(state.presence, state.presenceReason);
  if (p.kind === "accept" || p.kind === "reject") {
    if (frame.error_id === "offer.gone") removeOffer(p.contactId, "gone");
    else setOfferBusy(p.contactId, false);
  }
  const conv = state.convs.get(p.contactId);
  if (!conv) return;
  if (p.kind === "end") conv.endBtn.disabled = false;
  if (p.kind === "wrapup") conv.wrapSubmit.disabled = false;
  if (p.kind === "end" || p.kind === "send") {
    if (frame.error_id === "conversation.closed" && conv.status === "active") setWrapup(conv, null);
  }
}

/* ------------------------------------------------------------------ snapshot */

function contactKind(contact) {
  const s = String(contact.state || "").toLowerCase();
  if (s === "offered") return "offer";
  if (/closed|abandon|queued|waiting/.test(s)) return "skip";
  if (/wrap|ended/.test(s)) return "wrapup";
  return "active";
}

function applySnapshot(snap) {
  const agent = snap.agent || {};
  state.agent = Object.assign({}, state.agent || {}, agent);
  renderAgent();
  setReasons(snap.reasons);
  if (agent.state) setPresence(agent.state, agent.reason);
  setNextState(agent.next_state || null);

  // Keep what the agent was typing across the rebuild.
  const drafts = new Map();
  for (const [id, conv] of state.convs) {
    drafts.set(id, {
      text: conv.input.value,
      disposition: conv.wrapSelect.value,
      notes: conv.wrapNotes.value,
    });
  }
  const previousActive = state.activeId;

  for (const id of Array.from(state.offers.keys())) removeOffer(id, null, true);
  for (const id of Array.from(state.convs.keys())) removeConversation(id, true);
  state.pending.clear();

  for (const contact of snap.contacts || []) {
    if (!contact || !contact.contact_id) continue;
    const kind = contactKind(contact);
    if (kind === "offer") addOffer(contact, contact.deadline_ms);
    else if (kind !== "skip") {
      const conv = addConversation(contact, false);
      if (kind === "wrapup") setWrapup(conv, contact.ended_by || null, true);
      const draft = drafts.get(contact.contact_id);
      if (draft) {
        conv.input.value = draft.text;
        conv.wrapSelect.value = draft.disposition;
        conv.wrapNotes.value = draft.notes;
      }
    }
  }

  if (previousActive && state.convs.has(previousActive)) activate(previousActive);
  else if (state.convs.size) activate(state.convs.keys().next().value);
  else activate(null);
  // What changed about a customer while disconnected is in the snapshot's contexts.
  forgetUnusedCustomers();

  // Re-send messages not yet acknowledged (same client_msg_id: stored once).
  for (const [ref, frame] of Array.from(socket.outbox)) {
    const conv = state.convs.get(frame.contact_id);
    if (!conv || conv.status !== "active") socket.settle(ref);
  }
  socket.markHealthy();
  socket.flushOutbox();
  updateCounts();
  for (const [id, conv] of state.convs) if (conv.status === "active") softphone.contactAssigned(id);
}

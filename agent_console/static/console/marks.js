/* The small signs around a conversation's messages (docs/protocol.md): the agent's and the
 * customer's typing, whether the customer's chat page is still open, read marks both ways, and
 * how far each reply got on its channel (queued, sent, delivered, failed...). */

import { el } from "../shared/dom.js";
import { state } from "./state.js";
import { socket } from "./connection.js";

const TYPING_REFRESH_MS = 3000; // "typing" again while still typing
const TYPING_IDLE_MS = 4000; // no key for this long: "stopped typing"
const TYPING_SHOWN_MS = 8000; // the customer's "typing…" goes away by itself after this

export function sendTyping(conv, active) {
  conv.typingSentAt = active ? Date.now() : 0;
  socket.send({ type: "typing", contact_id: conv.id, active });
}

export function agentTyping(conv) {
  clearTimeout(conv.typingIdle);
  if (conv.status !== "active") return;
  if (!conv.input.value) {
    if (conv.typingSentAt) sendTyping(conv, false);
    return;
  }
  if (!conv.typingSentAt || Date.now() - conv.typingSentAt > TYPING_REFRESH_MS) sendTyping(conv, true);
  conv.typingIdle = setTimeout(() => { if (conv.typingSentAt) sendTyping(conv, false); }, TYPING_IDLE_MS);
}

export function showCustomerTyping(conv, active) {
  clearTimeout(conv.typingTimer);
  conv.typingLine.hidden = !active || conv.status !== "active";
  if (conv.typingLine.hidden) return;
  conv.typingLine.textContent = conv.name + " is typing…";
  conv.typingTimer = setTimeout(() => { conv.typingLine.hidden = true; }, TYPING_SHOWN_MS);
}

/* Whether the customer's chat page is still open (web chats only; docs/protocol.md). */
export function onCustomerPresence(frame) {
  const conv = state.convs.get(frame.contact_id);
  if (!conv) return;
  const present = frame.present === true;
  conv.presenceChip.hidden = present;
  conv.presenceChip.dataset.present = present ? "true" : "false";
  if (!present) showCustomerTyping(conv, false);
}

export function onCustomerTyping(frame) {
  const conv = state.convs.get(frame.contact_id);
  if (conv && frame.sender === "customer") showCustomerTyping(conv, frame.active === true);
}

/* Our messages up to the customer's read mark show as read. */
export function showCustomerRead(conv) {
  const upTo = conv.transcript.querySelector('.message[data-message-id="' + CSS.escape(conv.customerRead) + '"]');
  if (!upTo) return;
  for (const node of conv.transcript.querySelectorAll(".message")) {
    if (node.dataset.sender === "agent" && !node.dataset.read) {
      node.dataset.read = "true";
      node.querySelector(".message-meta").append(" · Read");
    }
    if (node === upTo) break;
  }
}

export function onCustomerRead(frame) {
  const conv = state.convs.get(frame.contact_id);
  if (!conv || frame.reader !== "customer" || !frame.message_id) return;
  conv.customerRead = frame.message_id;
  showCustomerRead(conv);
}

/* Delivery statuses, ranked as channels/twilio_messaging_adapter.py STATUS_RANK ranks them:
 * a message's mark only moves forward, whatever order frames come in. */
export const DELIVERY = {
  accepted: [1, "Accepted", ""], scheduled: [1, "Scheduled", ""], queued: [2, "Queued", ""],
  sending: [3, "Sending", ""], sent: [4, "Sent", "✓"], delivered: [5, "Delivered", "✓✓"],
  undelivered: [5, "Not delivered", "⚠"], failed: [5, "Failed", "⚠"], canceled: [5, "Canceled", "⚠"],
  partially_delivered: [5, "Partly delivered", "✓"], read: [6, "Read", "✓✓"],
};
const MAX_EARLY_STATUSES = 50;

/* A channel's news of one of our messages (an SMS queued, sent, delivered, failed...). */
export function onMessageStatus(frame) {
  const conv = state.convs.get(frame.contact_id);
  if (!conv || !frame.message_id || !DELIVERY[frame.status]) return;
  const node = conv.transcript.querySelector('.message[data-message-id="' + CSS.escape(frame.message_id) + '"]');
  if (node) showDelivery(node, frame.status, frame.error_code);
  else if (conv.earlyStatus.size < MAX_EARLY_STATUSES) {
    const known = conv.earlyStatus.get(frame.message_id);
    if (!known || DELIVERY[known.status][0] < DELIVERY[frame.status][0]) conv.earlyStatus.set(frame.message_id, frame);
  }
}

export function showDelivery(node, status, errorCode) {
  const mark = node.querySelector(".delivery-mark");
  const known = DELIVERY[node.dataset.delivery];
  if (!mark || (known && known[0] >= DELIVERY[status][0])) return;
  const [, label, icon] = DELIVERY[status];
  const problem = icon === "⚠";
  node.dataset.delivery = status;
  node.classList.toggle("is-undelivered", problem);
  mark.className = "delivery-mark" + (problem ? " is-problem" : "");
  mark.textContent = "";
  if (icon) mark.append(el("span", { "aria-hidden": "true", text: icon + " " }));
  mark.append(label + (errorCode ? " · error " + errorCode : ""));
  mark.hidden = false;
  node.title = errorCode ? label + " (Twilio error " + errorCode + ")" : label;
}

/* Tell the customer how far we have read: the last of their messages, once it is on screen. */
export function markRead(conv) {
  if (state.activeId !== conv.id || document.visibilityState !== "visible" || !socket.isOpen) return;
  const nodes = conv.transcript.querySelectorAll('.message[data-sender="customer"]');
  const last = nodes.length ? nodes[nodes.length - 1].dataset.messageId : null;
  if (!last || last === conv.readSent) return;
  conv.readSent = last;
  socket.send({ type: "read", contact_id: conv.id, message_id: last });
}

document.addEventListener("visibilitychange", () => {
  const conv = state.activeId && state.convs.get(state.activeId);
  if (conv) markRead(conv);
});

/* The agent's conversations: a tab for each in the list (customer, last words, unread count,
 * state) and its view (header, transcript, composer, wrap-up), several at once, one shown.
 * Replies go with a client_msg_id and are re-sent after a reconnection until acknowledged. */

import { randomId } from "../shared/socket.js";
import { el } from "../shared/dom.js";
import { state, customerName, contactOf } from "./state.js";
import { ui, showError, updateCounts } from "./layout.js";
import { socket, command } from "./connection.js";
import { removeOffer, offerMessage } from "./offers.js";
import { rememberContext, showCustomerOf, forgetUnusedCustomers } from "./customer.js";
import { addMessage, setupEarlier } from "./transcript.js";
import { agentTyping, sendTyping, markRead } from "./marks.js";
import { wrapupForm } from "./wrapup.js";
import { softphone } from "./phone.js";

export function onAssigned(contact) {
  if (!contact || !contact.contact_id) return;
  removeOffer(contact.contact_id, null);
  const existing = state.convs.get(contact.contact_id);
  rememberContext(contact);
  if (existing) {
    existing.contact.customer = contact.customer || existing.contact.customer;
    for (const m of contact.messages || []) addMessage(existing, m);
    activate(existing.id);
    return;
  }
  const conv = addConversation(contact, true);
  activate(conv.id);
  conv.input.focus();
  softphone.contactAssigned(conv.id);
}

export function addConversation(contact, fresh) {
  const id = contact.contact_id;
  const name = customerName(contact);

  const transcript = el("div", {
    class: "transcript", testid: "transcript", role: "log", "aria-live": "polite",
    "aria-label": "Conversation with " + name,
  });
  const input = el("textarea", {
    class: "composer-input", testid: "message-input", rows: "2", maxlength: "4000",
    placeholder: "Type a reply… (Enter to send, Shift+Enter for a new line)",
    "aria-label": "Reply to " + name,
  });
  const sendBtn = el("button", { type: "submit", class: "btn btn-primary", testid: "message-send", text: "Send" });
  const composer = el("form", { class: "composer" }, input, sendBtn);
  const endBtn = el("button", {
    type: "button", class: "btn btn-danger-ghost", testid: "end-conversation", text: "End conversation",
  });
  const statusPill = el("span", { class: "pill pill-active", testid: "conversation-status", text: "Active" });
  const { wrapForm, wrapSelect, wrapNotes, wrapSubmit, wrapEndedBy } = wrapupForm(id, contact);
  const typingLine = el("div", {
    class: "muted small typing-line", testid: "customer-typing", "aria-live": "polite",
  });
  typingLine.hidden = true;
  const presenceChip = el("span", {
    class: "chip chip-warn", testid: "customer-presence", dataset: { present: "true" },
    text: "Customer left the chat page",
    title: "Their page closed or lost its connection; they may come back",
  });
  presenceChip.hidden = true;

  const panel = el("article", {
    class: "conversation", testid: "conversation", dataset: { contactId: id, state: "active" },
  },
    el("header", { class: "conversation-head" },
      el("div", {},
        el("h2", { class: "conversation-title", testid: "conversation-customer", text: name }),
        el("div", { class: "conversation-meta muted" },
          el("span", { class: "chip", text: contact.queue || "" }),
          contact.channel ? el("span", { class: "chip chip-muted", text: contact.channel }) : null,
          el("span", { class: "mono small", title: "Contact id", text: id }),
          presenceChip)),
      el("div", { class: "conversation-tools" }, statusPill, endBtn)),
    transcript,
    typingLine,
    composer,
    wrapForm);
  panel.hidden = true;

  const preview = el("span", { class: "conv-preview muted" });
  const badge = el("span", { class: "badge", testid: "unread-count" });
  badge.hidden = true;
  const tabState = el("span", { class: "pill pill-small pill-active", text: "Active" });
  const tab = el("li", {},
    el("button", {
      type: "button", class: "conv-tab", testid: "conversation-tab", dataset: { contactId: id },
      onclick: () => activate(id),
    },
      el("span", { class: "conv-tab-row" },
        el("strong", { class: "conv-name", text: name }), badge),
      el("span", { class: "conv-tab-row" }, preview, tabState)));

  const conv = {
    id, contact, name, status: "active", seen: new Set(), unread: 0,
    more: contact.more_messages === true, loadingEarlier: false, earlierBtn: null, earlierAnchor: null,
    panel, transcript, input, sendBtn, composer, endBtn, statusPill,
    wrapForm, wrapSelect, wrapNotes, wrapSubmit, wrapEndedBy,
    tab, preview, badge, tabState,
    presenceChip,
    typingLine, typingTimer: null, typingSentAt: 0, typingIdle: null, customerRead: null, readSent: null,
    earlyStatus: new Map(), // message_id -> a status frame that came before its message
  };
  state.convs.set(id, conv);
  ui.convArea.append(panel);
  ui.convList.append(tab);

  composer.addEventListener("submit", (ev) => { ev.preventDefault(); sendMessage(conv); });
  input.addEventListener("input", () => agentTyping(conv));
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      sendMessage(conv);
    }
  });
  endBtn.addEventListener("click", () => {
    if (conv.status !== "active") return;
    if (command({ type: "end", contact_id: id }, "end", id)) endBtn.disabled = true;
  });

  for (const m of contact.messages || []) addMessage(conv, m, true);
  setupEarlier(conv);
  rememberContext(contact);
  if (!fresh) conv.unread = 0;
  updateCounts();
  return conv;
}

export function onMessage(contactId, m) {
  const conv = state.convs.get(contactId);
  if (conv) {
    addMessage(conv, m, false);
    return;
  }
  offerMessage(contactId, m);
}

function sendMessage(conv) {
  const text = conv.input.value;
  if (!text.trim() || conv.status !== "active") return;
  if (conv.typingSentAt) sendTyping(conv, false);
  const frame = { type: "send", contact_id: conv.id, text, client_msg_id: randomId("m") };
  const ref = socket.send(frame, { retry: true });
  state.pending.set(ref, { kind: "send", contactId: conv.id });
  if (!socket.isOpen) {
    showError("Not connected: your message will be sent when the connection is back.", "client.offline");
  }
  conv.input.value = "";
  conv.input.focus();
}

export function removeConversation(id, quiet) {
  const conv = state.convs.get(id);
  if (!conv) return;
  state.convs.delete(id);
  conv.panel.remove();
  conv.tab.remove();
  if (state.activeId === id) {
    state.activeId = null;
    if (!quiet) {
      const next = state.convs.keys().next();
      activate(next.done ? null : next.value);
    }
  }
  if (state.viewId === id) showCustomerOf(null);
  if (!quiet) {
    forgetUnusedCustomers();
    updateCounts();
  }
}

export function activate(id) {
  state.activeId = id && state.convs.has(id) ? id : null;
  for (const [cid, conv] of state.convs) {
    const on = cid === state.activeId;
    conv.panel.hidden = !on;
    const tabBtn = conv.tab.firstChild;
    tabBtn.classList.toggle("is-active", on);
    tabBtn.setAttribute("aria-current", on ? "true" : "false");
    if (on) {
      conv.unread = 0;
      conv.badge.hidden = true;
      conv.transcript.scrollTop = conv.transcript.scrollHeight;
      markRead(conv);
    }
  }
  if (state.activeId) showCustomerOf(state.activeId);
  else if (!state.viewId || !contactOf(state.viewId)) showCustomerOf(null);
  updateCounts();
}

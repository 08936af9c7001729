/* The customer chat page's view (chat.html): its elements, what the visitor and the
 * conversation are (kept in localStorage across reloads), the status line, the start form and
 * the transcript, and the connection line. main.js drives it. */

import { el, formatTime, keepScrolledToBottom } from "../shared/dom.js";

export const VISITOR_KEY = "cc_chat_visitor_id";
export const NAME_KEY = "cc_chat_name";
export const AGENT_KEY = "cc_chat_agent"; // {contact_id, name} of the agent who joined, for reloads

const $ = (id) => document.getElementById(id);
export const ui = {
  status: $("chat-status"),
  connection: $("chat-connection"),
  error: $("chat-error"),
  errorText: $("chat-error-text"),
  errorDismiss: $("chat-error-dismiss"),
  startView: $("start-view"),
  startForm: $("start-form"),
  name: $("chat-name"),
  first: $("chat-first-message"),
  startError: $("start-error"),
  startBtn: $("chat-start"),
  chatView: $("chat-view"),
  transcript: $("chat-transcript"),
  ended: $("ended-view"),
  newChat: $("chat-new"),
  composer: $("chat-composer"),
  input: $("chat-input"),
  send: $("chat-send"),
  leave: $("chat-leave"),
};

export const store = {
  get(key) {
    try { return window.localStorage.getItem(key); } catch (e) { return null; }
  },
  set(key, value) {
    try { window.localStorage.setItem(key, value); } catch (e) { /* private mode */ }
  },
};

export const state = {
  visitorId: store.get(VISITOR_KEY),
  name: store.get(NAME_KEY) || "",
  contactId: null,
  status: "idle", // idle | connecting | waiting | connected | ended
  agentName: null,
  seen: new Set(),
  pendingFirst: null, // {text, client_msg_id, ref}
  leaveRef: null,
  welcomed: false,
};

/* ------------------------------------------------------------------ ui helpers */

export function showError(message) {
  ui.errorText.textContent = message || "Something went wrong.";
  ui.error.hidden = false;
}
ui.errorDismiss.addEventListener("click", () => { ui.error.hidden = true; });

export function setStatus(kind, text) {
  state.status = kind;
  ui.status.dataset.state = kind;
  ui.status.textContent = text;
  const open = kind === "waiting" || kind === "connected" || kind === "connecting";
  ui.composer.hidden = !open;
  ui.leave.hidden = !open;
  ui.ended.hidden = kind !== "ended";
  document.body.dataset.chatState = kind;
}

export function showStart() {
  ui.startView.hidden = false;
  ui.chatView.hidden = true;
  ui.name.value = state.name || ui.name.value;
  setStatus("idle", "We usually answer within a few minutes.");
  (ui.name.value ? ui.first : ui.name).focus();
}

export function showChat() {
  ui.startView.hidden = true;
  ui.chatView.hidden = false;
}

export function clearTranscript() {
  ui.transcript.textContent = "";
  state.seen.clear();
}

export function addMessage(m, force) {
  if (!m || !m.message_id || state.seen.has(m.message_id)) return;
  state.seen.add(m.message_id);
  const sender = m.sender === "agent" ? "agent" : "customer";
  const who = sender === "customer" ? "You" : (state.agentName || "Agent");
  const bubble = el("div", {
    class: "message message-" + (sender === "customer" ? "self" : "other"), testid: "message",
    dataset: { sender, messageId: m.message_id },
  },
    el("div", { class: "message-body", text: m.body == null ? "" : m.body }),
    el("div", { class: "message-meta" }, who, m.at_ms ? " · " + formatTime(m.at_ms) : ""));
  keepScrolledToBottom(ui.transcript, () => ui.transcript.append(bubble), force || sender === "customer");
}

export function addNote(text) {
  keepScrolledToBottom(ui.transcript, () => {
    ui.transcript.append(el("div", { class: "system-note", testid: "system-note", text }));
  }, true);
}

export function setConnection(kind, detail) {
  if (kind === "connected" || kind === "stopped") {
    ui.connection.hidden = true;
    ui.connection.textContent = "";
  } else {
    ui.connection.hidden = false;
    ui.connection.textContent = kind === "connecting" ? "Connecting…"
      : "Connection lost, retrying" + (detail && detail.delayMs ? " in " + Math.round(detail.delayMs / 1000) + "s" : "") + "…";
  }
  ui.connection.dataset.state = kind;
  ui.send.disabled = kind !== "connected";
}

export function setOpenStatus(status) {
  if (status === "connected") {
    setStatus("connected", state.agentName ? "You are chatting with " + state.agentName : "An agent is with you");
  } else {
    setStatus("waiting", "Waiting for an agent…");
  }
}

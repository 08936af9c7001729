/* Customer web chat (chat.html), the entry module: speaks the /ws/chat protocol of
 * docs/protocol.md. The visitor id from `welcome` is kept in localStorage so that a reload
 * (or a reconnect) returns to the open conversation. The page's view is view.js. */

import { HubSocket, randomId } from "../shared/socket.js";
import {
  VISITOR_KEY, NAME_KEY, AGENT_KEY, ui, store, state, showError, setStatus, showStart, showChat,
  clearTranscript, addMessage, addNote, setConnection, setOpenStatus,
} from "./view.js";

function setEnded(endedBy) {
  if (state.status === "ended") return;
  if (endedBy === "customer") addNote("You left the chat.");
  else if (endedBy === "agent") addNote("The agent ended the conversation.");
  setStatus("ended", "Conversation ended");
  state.pendingFirst = null;
  for (const ref of Array.from(socket.outbox.keys())) socket.settle(ref);
}

/* ------------------------------------------------------------------ socket */

const socket = new HubSocket({
  path: "/ws/chat",
  onStatus: setConnection,
  onOpen: (s) => {
    state.welcomed = false;
    const hello = { type: "hello", name: state.name || "Visitor" };
    if (state.visitorId) hello.visitor_id = state.visitorId;
    s.send(hello);
  },
  onFrame: handleFrame,
});

function handleFrame(frame) {
  switch (frame.type) {
    case "welcome": return onWelcome(frame);
    case "queued":
      state.contactId = frame.contact_id || state.contactId;
      state.pendingFirst = null;
      showChat();
      if (state.status !== "connected") setStatus("waiting", "Waiting for an agent…");
      return undefined;
    case "agent_joined":
      if (frame.contact_id && state.contactId && frame.contact_id !== state.contactId) return undefined;
      state.agentName = frame.agent_name || "An agent";
      if (frame.contact_id) state.contactId = frame.contact_id;
      store.set(AGENT_KEY, JSON.stringify({ contact_id: state.contactId, name: state.agentName }));
      setStatus("connected", state.agentName + " joined the chat");
      addNote(state.agentName + " joined the chat");
      return undefined;
    case "message":
      if (frame.contact_id && state.contactId && frame.contact_id !== state.contactId) return undefined;
      if (frame.contact_id && !state.contactId) state.contactId = frame.contact_id;
      if (state.pendingFirst) {
        const echo = frame.client_msg_id || (frame.message && frame.message.client_msg_id);
        if (echo && echo === state.pendingFirst.client_msg_id) state.pendingFirst = null;
      }
      addMessage(frame.message);
      return undefined;
    case "ended":
      if (frame.contact_id && state.contactId && frame.contact_id !== state.contactId) return undefined;
      setEnded(frame.ended_by);
      return undefined;
    case "ack":
      if (frame.ref && frame.ref === state.leaveRef) {
        state.leaveRef = null;
        setEnded("customer");
      }
      if (state.pendingFirst && frame.ref === state.pendingFirst.ref) state.pendingFirst = null;
      return undefined;
    case "error":
      if (frame.error_id === "chat.hello_required") { socket.restart(); return undefined; }
      if (frame.error_id === "conversation.closed") { setEnded(null); return undefined; }
      if (frame.ref && frame.ref === state.leaveRef) state.leaveRef = null;
      showError(frame.message || frame.error_id);
      return undefined;
    default:
      return undefined;
  }
}

function onWelcome(frame) {
  state.welcomed = true;
  if (frame.visitor_id) {
    state.visitorId = frame.visitor_id;
    store.set(VISITOR_KEY, frame.visitor_id);
  }
  socket.markHealthy();
  const status = frame.status || (frame.contact_id ? "waiting" : "new");
  const messages = Array.isArray(frame.messages) ? frame.messages : [];
  const open = status === "waiting" || status === "connected";
  if (frame.agent_name) state.agentName = frame.agent_name;

  if (state.pendingFirst) {
    // The visitor just pressed "Start chat" (or we reconnected before the hub took it).
    if (open && frame.contact_id) {
      adoptConversation(frame.contact_id, messages);
      for (const m of messages) {
        if (m && m.client_msg_id && m.client_msg_id === state.pendingFirst.client_msg_id) {
          state.pendingFirst = null;
        }
      }
      setOpenStatus(status);
    }
    if (state.pendingFirst) sendFirst();
    socket.flushOutbox();
    return;
  }

  if (open) {
    adoptConversation(frame.contact_id, messages);
    showChat();
    setOpenStatus(status);
    socket.flushOutbox();
  } else if (status === "ended" && (messages.length || state.contactId)) {
    adoptConversation(frame.contact_id || state.contactId, messages);
    showChat();
    setEnded(null);
  } else if (state.contactId && state.status !== "ended") {
    // Our conversation closed while we were away.
    showChat();
    setEnded(null);
  } else if (state.status !== "ended") {
    socket.stop();
    showStart();
  }
}

function adoptConversation(contactId, messages) {
  if (contactId && state.contactId && contactId !== state.contactId) clearTranscript();
  if (contactId) state.contactId = contactId;
  if (!state.agentName && contactId) {
    try {
      const saved = JSON.parse(store.get(AGENT_KEY) || "null");
      if (saved && saved.contact_id === contactId && saved.name) state.agentName = saved.name;
    } catch (e) { /* ignore a damaged entry */ }
  }
  for (const m of messages) addMessage(m, true);
}

function sendFirst() {
  const p = state.pendingFirst;
  if (!p) return;
  const frame = { type: "message", text: p.text, client_msg_id: p.client_msg_id };
  if (p.ref) frame.ref = p.ref;
  p.ref = socket.send(frame);
}

/* ------------------------------------------------------------------ actions */

ui.startForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const name = ui.name.value.trim();
  const text = ui.first.value;
  ui.startError.hidden = true;
  if (!name || !text.trim()) {
    ui.startError.textContent = !name ? "Please tell us your name." : "Please type a message.";
    ui.startError.hidden = false;
    return;
  }
  state.name = name.slice(0, 100);
  store.set(NAME_KEY, state.name);
  state.pendingFirst = { text, client_msg_id: randomId("c"), ref: null };
  state.contactId = null;
  state.agentName = null;
  state.leaveRef = null;
  clearTranscript();
  ui.first.value = "";
  showChat();
  setStatus("connecting", "Connecting…");
  socket.restart();
  ui.input.focus();
});

function sendMessage() {
  const text = ui.input.value;
  if (!text.trim()) return;
  if (state.status !== "waiting" && state.status !== "connected") return;
  socket.send({ type: "message", text, client_msg_id: randomId("c") }, { retry: true });
  if (!socket.isOpen) showError("You are offline: your message will be sent when the connection is back.");
  ui.input.value = "";
  autoGrow();
  ui.input.focus();
}

ui.composer.addEventListener("submit", (ev) => { ev.preventDefault(); sendMessage(); });
ui.input.addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    sendMessage();
  }
});

function autoGrow() {
  ui.input.style.height = "auto";
  ui.input.style.height = Math.min(ui.input.scrollHeight, 160) + "px";
}
ui.input.addEventListener("input", autoGrow);

ui.leave.addEventListener("click", () => {
  const ref = socket.send({ type: "leave" });
  if (ref === null) {
    showError("Not connected: try again in a moment.");
    return;
  }
  state.leaveRef = ref;
  ui.leave.disabled = true;
  setTimeout(() => { ui.leave.disabled = false; }, 3000);
});

ui.newChat.addEventListener("click", (ev) => {
  ev.preventDefault();
  socket.stop();
  state.contactId = null;
  state.agentName = null;
  clearTranscript();
  ui.error.hidden = true;
  showStart();
});

/* ------------------------------------------------------------------ boot */

if (state.visitorId && state.name) {
  // A returning visitor: find out whether a conversation is still open.
  ui.name.value = state.name;
  ui.startView.hidden = true;
  ui.chatView.hidden = true;
  setStatus("connecting", "Reconnecting to your conversation…");
  ui.composer.hidden = true;
  ui.leave.hidden = true;
  socket.start();
} else {
  if (state.name) ui.name.value = state.name;
  showStart();
}

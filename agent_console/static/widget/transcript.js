/* The conversation on screen: one bubble per message, shown once however many times the hub
 * sends it (by message_id; our own pending copy, by client_msg_id, becomes the stored one),
 * in time order, with the sender and time under it; notes between them; the unread count. */

import { clock, el } from "./dom.js";

export function installTranscript(w) {
  const { state, ui } = w;

  function note(text) {
    appendToLog(el("div", { class: "note", testid: "widget-note", text }));
  }

  function appendToLog(node, before) {
    const atBottom = ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 40;
    ui.log.insertBefore(node, before || null);
    if (atBottom || node.classList.contains("msg-self")) ui.log.scrollTop = ui.log.scrollHeight;
  }

  function bubbleFor(sender, body) {
    const meta = el("div", { class: "msg-meta" });
    const node = el("div", {
      class: "msg " + (sender === "customer" ? "msg-self" : "msg-other"), testid: "widget-message",
      "data-sender": sender,
    }, el("div", { class: "msg-body", text: body }), meta);
    node.meta = meta;
    return node;
  }

  function setMeta(node, text) {
    node.meta.textContent = text;
  }

  /* A stored message (from welcome or a `message` frame): shown once, whatever the number of
   * times the hub sends it; our own pending copy becomes it. */
  function addMessage(m, initial) {
    if (!m || !m.message_id || state.nodes.has(m.message_id)) return;
    const mine = m.client_msg_id && state.nodes.get(m.client_msg_id);
    let node;
    if (mine && m.sender === "customer") {
      node = mine;
      state.nodes.delete(m.client_msg_id);
      w.settleOutbox(m.client_msg_id);
    } else {
      node = bubbleFor(m.sender, m.body == null ? "" : String(m.body));
      let before = null;
      for (const id of state.order) { // keep time order if a message comes late
        const other = state.nodes.get(id);
        if (other && Number(other.dataset.at) > m.at_ms) { before = other; break; }
      }
      if (!before) before = ui.log.querySelector('[data-state="pending"], [data-state="failed"]');
      appendToLog(node, before);
    }
    node.dataset.messageId = m.message_id;
    node.dataset.at = String(m.at_ms || 0);
    node.dataset.state = "stored";
    state.nodes.set(m.message_id, node);
    state.order.push(m.message_id);
    const who = m.sender === "customer" ? "You" : m.sender === "agent" ? (state.agentName || "Agent") : "";
    setMeta(node, [who, clock(m.at_ms)].filter(Boolean).join(" · "));
    if (m.sender === "agent") {
      w.hideAgentTyping();
      if (!initial && (!state.open || document.visibilityState !== "visible")) {
        state.unread += 1;
        ui.badge.textContent = String(state.unread);
        ui.badge.hidden = false;
      }
      w.markRead();
    }
    w.showAgentRead();
  }

  function clearLog() {
    ui.log.textContent = "";
    state.order = [];
    state.nodes.clear();
    state.readSent = null;
    state.agentRead = null;
    ui.queue.textContent = "";
  }

  Object.assign(w, { note, appendToLog, bubbleFor, setMeta, addMessage, clearLog });
}

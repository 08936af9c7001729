/* The customer's messages on their way. Each gets a client_msg_id and stays in
 * `state.outbox` until the hub confirms it (its `ack`, its echo, or the `welcome` after a
 * reconnect listing it); until then it is sent again, under the same id, whenever the
 * connection is ready: the hub stores a retried id once. A rate limit delays it; any other
 * refusal marks it "Not sent". */

import { randomId } from "./state.js";

export function installOutbox(w) {
  const { state, ui } = w;

  function queueMessage(text) {
    const clientId = randomId("w");
    const node = w.bubbleFor("customer", text);
    node.dataset.state = "pending";
    node.dataset.clientId = clientId;
    w.setMeta(node, "Sending…");
    state.nodes.set(clientId, node);
    w.appendToLog(node);
    state.outbox.set(clientId, { text, ref: null, retryAt: 0 });
    flushOutbox();
  }

  /* Send what the hub has not confirmed, in order, under the same client_msg_id: a message
   * it already stored is stored once, and comes back with its message_id. */
  function flushOutbox() {
    if (!w.socket.ready) return;
    const now = Date.now();
    for (const [clientId, item] of state.outbox) {
      if (item.retryAt > now) continue;
      item.ref = randomId("r");
      state.pendingRefs.set(item.ref, { kind: "message", clientId });
      w.socket.send({ type: "message", text: item.text, client_msg_id: clientId, ref: item.ref });
    }
  }

  function settleOutbox(clientId) {
    const item = state.outbox.get(clientId);
    if (item && item.ref) state.pendingRefs.delete(item.ref);
    state.outbox.delete(clientId);
  }

  function messageRefused(clientId, frame) {
    const node = state.nodes.get(clientId);
    const item = state.outbox.get(clientId);
    if (frame.error_id === "chat.rate_limited" && item) {
      const waitS = (frame.details && frame.details.retry_after_s) || 5;
      item.retryAt = Date.now() + waitS * 1000;
      if (node) w.setMeta(node, "Too many messages: sending again in " + waitS + " s");
      setTimeout(flushOutbox, waitS * 1000 + 50);
      return;
    }
    settleOutbox(clientId);
    if (node) {
      node.dataset.state = "failed";
      w.setMeta(node, "Not sent: " + (frame.message || frame.error_id));
    }
    if (frame.error_id === "conversation.closed") w.conversationEnded(null);
  }

  function submitMessage() {
    const text = ui.input.value;
    if (!text.trim()) return;
    if (text.length > state.config.max_message_chars) {
      w.showError("A message may have at most " + state.config.max_message_chars + " characters.");
      return;
    }
    w.stopTyping();
    ui.input.value = "";
    w.onInput();
    queueMessage(text);
    if (!w.socket.ready) w.note("You are offline: your message will be sent when the connection is back.");
  }

  ui.composer.addEventListener("submit", (ev) => { ev.preventDefault(); submitMessage(); });
  ui.input.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      submitMessage();
    }
  });

  Object.assign(w, { queueMessage, flushOutbox, settleOutbox, messageRefused });
}

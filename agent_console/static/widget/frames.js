/* The hub's frames and what they change (docs/protocol.md, docs/widget.md): the hello we
 * send, the welcome (the open conversation back, with its messages and read mark), the queue
 * and the agent, messages, typing and read marks, the end; the answers (ack, error) to what
 * we sent, by `ref`; and request(), which sends a frame once the connection is ready. */

import { randomId } from "./state.js";

export function installFrames(w) {
  const { state, store, profile } = w;

  function hello() {
    const frame = { type: "hello", name: profile.name || "Visitor" };
    if (state.visitorId) frame.visitor_id = state.visitorId;
    if (profile.email) frame.email = profile.email;
    if (profile.topic) frame.topic = profile.topic;
    if (w.signedUser.id && w.signedUser.hash) {
      frame.user_id = w.signedUser.id;
      frame.user_hash = w.signedUser.hash;
    }
    return frame;
  }

  function handleFrame(frame) {
    const mine = !frame.contact_id || !state.contactId || frame.contact_id === state.contactId;
    switch (frame.type) {
      case "welcome": return onWelcome(frame);
      case "queued":
        followContact(frame.contact_id);
        if (state.phase !== "connected") w.savePhase("waiting");
        w.render();
        return undefined;
      case "position":
        if (!mine) return undefined;
        w.ui.queue.textContent = positionText(frame.position, frame.estimated_wait_s);
        w.render();
        return undefined;
      case "agent_joined":
        if (!mine) return undefined;
        state.agentName = frame.agent_name || "An agent";
        store.set("agent", state.agentName);
        w.savePhase("connected");
        w.note(state.agentName + " joined the chat");
        w.render();
        return undefined;
      case "transferring":
        if (!mine) return undefined;
        w.savePhase("waiting");
        w.note("You are being transferred to another agent…");
        w.render();
        return undefined;
      case "message":
        if (!mine) return undefined;
        if (frame.contact_id && !state.contactId) followContact(frame.contact_id);
        w.addMessage(frame.message);
        return undefined;
      case "typing":
        if (mine && frame.sender === "agent") w.showAgentTyping(frame.active === true);
        return undefined;
      case "read":
        if (mine && frame.reader === "agent") {
          state.agentRead = frame.message_id;
          w.showAgentRead();
        }
        return undefined;
      case "ended":
        if (mine) conversationEnded(frame.ended_by);
        return undefined;
      case "ack": return onAnswer(frame, null);
      case "error": return onAnswer(frame, frame);
      default: return undefined;
    }
  }

  function positionText(position, waitS) {
    const where = position === 1 ? "You are next in line" : "You are number " + position + " in line";
    if (typeof waitS !== "number") return where + ".";
    const minutes = Math.max(1, Math.round(waitS / 60));
    return where + " · about " + minutes + " min";
  }

  function followContact(contactId) {
    if (!contactId) return;
    if (state.contactId && state.contactId !== contactId) { w.clearLog(); state.rated = false; store.set("rated", false); }
    state.contactId = contactId;
    store.set("contact", contactId);
  }

  function onWelcome(frame) {
    if (frame.visitor_id) {
      state.visitorId = frame.visitor_id;
      store.set("visitor", frame.visitor_id);
    }
    w.socket.attempt = 0;
    w.socket.ready = true;
    w.setConnection("connected");
    const status = frame.status || "new";
    if (status === "waiting" || status === "connected") {
      followContact(frame.contact_id);
      if (frame.agent_name) { state.agentName = frame.agent_name; store.set("agent", frame.agent_name); }
      for (const m of frame.messages || []) w.addMessage(m, true);
      if (frame.agent_read_message_id) { state.agentRead = frame.agent_read_message_id; w.showAgentRead(); }
      w.savePhase(status);
    } else if (state.phase === "waiting" || state.phase === "connected") {
      if (state.outbox.size && !state.order.length) {
        // The first message was never stored: it opens the conversation now.
      } else {
        conversationEnded(null); // it ended while we were away
      }
    }
    w.render();
    w.flushOutbox();
    w.markRead();
    const todo = state.afterWelcome.splice(0);
    for (const fn of todo) fn();
  }

  function conversationEnded(endedBy) {
    if (state.phase === "ended") return;
    if (endedBy === "agent") w.note("The agent ended the conversation.");
    else if (endedBy === "customer") w.note("You left the chat.");
    for (const clientId of Array.from(state.outbox.keys())) {
      w.messageRefused(clientId, { error_id: "conversation.closed", message: "the conversation is over" });
    }
    w.savePhase("ended");
    w.render();
    // Nothing more to hear: a rating or a transcript request connects again for itself.
    if (!state.pendingRefs.size) w.socket.stop();
  }

  function onAnswer(frame, error) {
    const waiting = frame.ref ? state.pendingRefs.get(frame.ref) : null;
    if (frame.ref) state.pendingRefs.delete(frame.ref);
    if (error && error.error_id === "chat.rate_limited" && error.details && error.details.limit === "connections") {
      w.socket.notBefore = Date.now() + (error.details.retry_after_s || 30) * 1000;
      w.showError("Too many connections from your network; retrying shortly.");
      return;
    }
    if (!waiting) {
      if (error && error.error_id === "chat.hello_required") { w.socket.drop(); return; }
      if (error && error.error_id === "chat.unknown_topic") { // the site's topics changed
        profile.topic = null;
        store.set("profile", profile);
        w.socket.drop();
        return;
      }
      if (error && error.error_id !== "chat.rate_limited") w.showError(error.message || error.error_id);
      return;
    }
    if (waiting.kind === "message") {
      if (error) w.messageRefused(waiting.clientId, error);
      else {
        // Stored: the echo with its message_id follows; until then, "sent".
        const node = state.nodes.get(waiting.clientId);
        if (node && node.dataset.state === "pending") w.setMeta(node, "Sent");
        w.settleOutbox(waiting.clientId);
      }
      return;
    }
    if (waiting.kind === "leave") {
      if (!error) conversationEnded("customer");
      else w.showError(error.message || error.error_id);
      return;
    }
    if (waiting.done) waiting.done(error);
    if (state.phase === "ended" && !state.pendingRefs.size && !state.afterWelcome.length) w.socket.stop();
  }

  /* Send a frame once the connection is ready; `done(error)` gets its answer. */
  function request(frame, done) {
    const go = () => {
      const ref = randomId("r");
      state.pendingRefs.set(ref, { kind: frame.type, done });
      if (!w.socket.send(Object.assign({}, frame, { ref }))) {
        state.pendingRefs.delete(ref);
        done({ error_id: "client.offline", message: "Not connected; try again in a moment." });
      }
    };
    if (w.socket.ready) go();
    else {
      state.afterWelcome.push(go);
      w.socket.start();
    }
  }

  Object.assign(w, { hello, handleFrame, conversationEnded, request });
}

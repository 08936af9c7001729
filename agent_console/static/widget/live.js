/* Typing and read marks, both ways (docs/widget.md, "What the customer sees"): the customer's
 * typing, sent while they type and again every few seconds, "stopped" after a pause; the
 * agent's "is typing…", gone with their message or by itself; how far the customer has read,
 * sent when an agent message is on screen in a visible tab; our messages the agent has read. */

const TYPING_REFRESH_MS = 3000; // send "typing" again while still typing
const TYPING_IDLE_MS = 4000; // no key for this long: "stopped typing"
const TYPING_SHOWN_MS = 8000; // the agent's dot goes away by itself after this

export function installLive(w) {
  const { state, ui } = w;

  function sendTyping(active) {
    if (!w.socket.ready || (state.phase !== "waiting" && state.phase !== "connected")) return;
    state.typingActive = active;
    state.typingSentAt = active ? Date.now() : 0;
    w.socket.send({ type: "typing", active });
  }

  function onInput() {
    ui.input.style.height = "auto";
    ui.input.style.height = Math.min(ui.input.scrollHeight, 120) + "px";
    clearTimeout(state.typingTimer);
    if (!ui.input.value) {
      if (state.typingActive) sendTyping(false);
      return;
    }
    if (!state.typingActive || Date.now() - state.typingSentAt > TYPING_REFRESH_MS) sendTyping(true);
    state.typingTimer = setTimeout(() => { if (state.typingActive) sendTyping(false); }, TYPING_IDLE_MS);
  }

  /* A message goes: the customer is no longer typing. */
  function stopTyping() {
    clearTimeout(state.typingTimer);
    if (state.typingActive) sendTyping(false);
  }

  function showAgentTyping(active) {
    clearTimeout(state.agentTypingTimer);
    if (!active) { hideAgentTyping(); return; }
    ui.typing.textContent = (state.agentName || "The agent") + " is typing…";
    ui.typing.hidden = false;
    state.agentTypingTimer = setTimeout(hideAgentTyping, TYPING_SHOWN_MS);
  }

  function hideAgentTyping() {
    clearTimeout(state.agentTypingTimer);
    ui.typing.hidden = true;
  }

  /* Tell the hub how far the customer has read: the last agent message on screen. */
  function markRead() {
    if (!state.open || document.visibilityState !== "visible" || !w.socket.ready) return;
    let last = null;
    for (const id of state.order) {
      const node = state.nodes.get(id);
      if (node && node.dataset.sender === "agent") last = id;
    }
    if (!last || last === state.readSent) return;
    state.readSent = last;
    w.socket.send({ type: "read", message_id: last });
  }

  /* Our own messages up to the agent's read mark show as read. */
  function showAgentRead() {
    const upTo = state.order.indexOf(state.agentRead);
    if (upTo < 0) return;
    state.order.forEach((id, i) => {
      const node = state.nodes.get(id);
      if (!node || node.dataset.sender !== "customer" || i > upTo || node.dataset.read) return;
      node.dataset.read = "true";
      node.meta.append(" · Read");
    });
  }

  ui.input.addEventListener("input", onInput);

  Object.assign(w, { onInput, stopTyping, showAgentTyping, hideAgentTyping, markRead, showAgentRead });
}

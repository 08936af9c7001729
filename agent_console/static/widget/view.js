/* What the panel shows: the header's status for each phase (idle, waiting, connected,
 * ended), the error banner, the connection line, and the panel opening and closing from the
 * bubble (the count of unread replies on it is reset here). */

export function installView(w) {
  const { state, store, ui } = w;

  function showError(text) {
    ui.errorText.textContent = text || "Something went wrong.";
    ui.error.hidden = false;
  }

  function setStatus(text) {
    ui.status.textContent = text;
  }

  function render() {
    const phase = state.phase;
    const chatting = phase === "waiting" || phase === "connected";
    ui.prechat.hidden = phase !== "idle";
    ui.chat.hidden = phase === "idle";
    ui.composer.hidden = !chatting;
    ui.leave.hidden = !chatting;
    ui.end.hidden = phase !== "ended";
    ui.queue.hidden = phase !== "waiting" || !ui.queue.textContent;
    if (phase !== "connected") w.hideAgentTyping();
    if (phase === "idle") setStatus("We usually answer within a few minutes.");
    else if (phase === "waiting") setStatus("Waiting for an agent…");
    else if (phase === "connected") setStatus(state.agentName ? "You are chatting with " + state.agentName : "An agent is with you");
    else setStatus("Conversation ended");
    if (phase === "ended") w.renderEnd();
    w.root.dataset.phase = phase;
  }

  function openPanel() {
    state.open = true;
    store.set("open", true);
    ui.panel.hidden = false;
    ui.bubble.setAttribute("aria-expanded", "true");
    state.unread = 0;
    ui.badge.hidden = true;
    render();
    if (state.phase === "idle") (w.profile.name ? ui.first : ui.name).focus();
    else if (!ui.composer.hidden) ui.input.focus();
    ui.log.scrollTop = ui.log.scrollHeight;
    w.markRead();
  }

  function closePanel() {
    state.open = false;
    store.set("open", false);
    ui.panel.hidden = true;
    ui.bubble.setAttribute("aria-expanded", "false");
    ui.bubble.focus();
  }

  /* The line under the header while the socket is not there (not before a first chat). */
  function setConnection(kind, delayMs) {
    if (kind === "connected" || kind === "stopped" || (kind === "connecting" && state.phase === "idle")) {
      ui.conn.hidden = true;
      return;
    }
    ui.conn.hidden = false;
    ui.conn.dataset.state = kind;
    ui.conn.textContent = kind === "connecting" ? "Connecting…"
      : "Connection lost; reconnecting" + (delayMs ? " in " + Math.max(1, Math.round(delayMs / 1000)) + " s" : "") + "…";
  }

  ui.bubble.addEventListener("click", () => (state.open ? closePanel() : openPanel()));
  ui.close.addEventListener("click", closePanel);
  ui.panel.addEventListener("keydown", (ev) => { if (ev.key === "Escape") closePanel(); });

  Object.assign(w, { showError, setStatus, render, openPanel, closePanel, setConnection });
}

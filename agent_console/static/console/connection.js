/* The console's connection to the hub: the /ws/agent websocket (docs/protocol.md), its status
 * in the top bar, and commands sent with a ref whose answer (ack or error) the protocol module
 * matches. Frames go to the handler main.js sets; a refused reconnection with the session gone
 * goes to its `onSessionEnded`. */

import { HubSocket } from "../shared/socket.js";
import { state } from "./state.js";
import { ui, showError } from "./layout.js";

const hooks = {
  onFrame: () => undefined,
  onSessionEnded: () => undefined,
};

/* main.js: `onFrame(frame)` for every frame, `onSessionEnded()` when the session is gone. */
export function setConnectionHooks({ onFrame, onSessionEnded }) {
  hooks.onFrame = onFrame;
  hooks.onSessionEnded = onSessionEnded;
}

export function setConnection(kind, detail) {
  const labels = {
    connecting: "Connecting…",
    connected: "Connected",
    reconnecting: "Reconnecting" + (detail && detail.delayMs ? " in " + Math.round(detail.delayMs / 1000) + "s…" : "…"),
    stopped: "Disconnected",
  };
  state.connected = kind === "connected";
  ui.connection.textContent = labels[kind] || kind;
  ui.connection.dataset.state = kind;
  ui.stateSelect.disabled = !state.connected;
  ui.consoleView.classList.toggle("is-offline", !state.connected);
}

export const socket = new HubSocket({
  path: "/ws/agent",
  onFrame: (frame) => hooks.onFrame(frame),
  onStatus: setConnection,
  beforeReconnect: async () => {
    // A refused upgrade looks like any other close: ask whether the session is still there.
    try {
      const res = await fetch("/api/me", { cache: "no-store" });
      if (res.status === 401) {
        hooks.onSessionEnded();
        return false;
      }
    } catch (e) {
      /* hub unreachable: keep trying */
    }
    return true;
  },
});

/* Send a command and remember what it was for (`kind`, `contactId`) until its answer comes;
 * returns its ref, or null (and says so) when not connected. */
export function command(frame, kind, contactId, opts) {
  const ref = socket.send(frame, opts);
  if (ref === null) {
    showError("Not connected to the hub. Please wait for the connection to come back.", "client.offline");
    return null;
  }
  state.pending.set(ref, { kind, contactId });
  return ref;
}

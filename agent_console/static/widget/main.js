/* The web chat widget (docs/widget.md), loaded by the classic script ../widget.js, which
 * reads its own tag and calls start() with the hub's address and the signed-in user, if any.
 *
 * It gives a chat bubble in a shadow root (the page's CSS does not reach in, ours does not leak
 * out), a pre-chat form, and the chat over the hub's /ws/chat protocol (docs/protocol.md):
 * typing and read marks both ways, the queue position, history on reload (the visitor id is
 * kept in this site's localStorage), reconnection with backoff that re-sends what the hub has
 * not confirmed under the same client_msg_id (stored once by the hub; shown once here, by
 * message_id), then a rating and the transcript by email at the end.
 *
 * One module per concern, each adding its functions to the widget `w`: state.js (what is
 * known and kept in localStorage), ui.js and dom.js (the elements), view.js (what the panel
 * shows), transcript.js (the messages), outbox.js (sending and re-sending), live.js (typing
 * and read marks), socket.js (the connection), frames.js (the protocol), prechat.js (the
 * form), end.js (rating and transcript). They call one another through `w` when they run, never
 * while they load: no module needs another's state to load, and no import goes in a circle.
 *
 * Self-contained: no dependency, no build step, nothing global (the loader defines
 * `window.ccChatWidget`). Whatever a person wrote only ever goes through textContent. */

import { installEnd } from "./end.js";
import { installFrames } from "./frames.js";
import { installLive } from "./live.js";
import { installOutbox } from "./outbox.js";
import { installPrechat } from "./prechat.js";
import { createSocket } from "./socket.js";
import { installState } from "./state.js";
import { installTranscript } from "./transcript.js";
import { buildUi } from "./ui.js";
import { installView } from "./view.js";

/* Build the widget for the hub at `hubBase` and put it on the page once its body is there;
 * returns what window.ccChatWidget calls. */
export function start({ hubBase, userId, userHash }) {
  const hubUrl = new URL(hubBase);
  const wsUrl = (hubUrl.protocol === "https:" ? "wss://" : "ws://") + hubUrl.host
    + hubUrl.pathname.replace(/\/+$/, "") + "/ws/chat";

  const w = { hubBase };
  installState(w, { userId, userHash });
  buildUi(w);
  installView(w);
  installTranscript(w);
  installOutbox(w);
  installLive(w);
  installFrames(w);
  installPrechat(w);
  installEnd(w);
  const { state, store, profile, ui } = w;

  w.socket = createSocket(wsUrl, {
    hello: () => w.hello(),
    onFrame: (frame) => w.handleFrame(frame),
    onConnection: (kind, delayMs) => w.setConnection(kind, delayMs),
    onLost: () => {
      state.typingActive = false;
      w.hideAgentTyping();
    },
  });

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") {
      w.markRead();
      w.socket.wake();
    }
  });
  window.addEventListener("online", () => w.socket.wake());

  async function loadConfig() {
    try {
      const res = await fetch(hubBase + "/widget/config.json", { credentials: "omit", cache: "no-cache" });
      if (res.ok) Object.assign(state.config, await res.json());
    } catch (e) { /* the defaults will do */ }
    ui.title.textContent = state.config.title;
    ui.panel.setAttribute("aria-label", state.config.title);
    ui.bubble.setAttribute("aria-label", state.config.title);
    w.fillForm();
    w.render();
  }

  function boot() {
    document.body.append(w.host);
    state.agentName = store.get("agent");
    if (!state.contactId && state.phase !== "idle") w.savePhase("idle");
    w.fillForm();
    w.render();
    if (state.open) w.openPanel();
    // A conversation going on: back to it (its history comes with the welcome).
    if (state.phase === "waiting" || state.phase === "connected") w.socket.start();
    loadConfig();
  }

  /* The page signed its user in (or out, with null): the next hello carries the proof. */
  function identify(user) {
    const given = user || {};
    w.signedUser.id = typeof given.user_id === "string" ? given.user_id : null;
    w.signedUser.hash = typeof given.user_hash === "string" ? given.user_hash : null;
    if (typeof given.name === "string" && given.name) profile.name = given.name.slice(0, 100);
    if (typeof given.email === "string") profile.email = given.email || null;
    store.set("profile", profile);
    w.fillForm();
    if (w.socket.ws) w.socket.drop(); // reconnects at once with the new hello
  }

  if (document.body) boot();
  else document.addEventListener("DOMContentLoaded", boot);
  return {
    open: () => w.openPanel(),
    close: () => w.closePanel(),
    identify: (user) => identify(user),
  };
}

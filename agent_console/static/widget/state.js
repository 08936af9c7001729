/* What the widget knows, and what it keeps in this site's localStorage (keys starting
 * "cc-widget:" and the hub's URL): the visitor id the hub gave, the pre-chat form's profile,
 * the conversation followed, its phase, the agent's name, whether it was rated, whether the
 * panel is open. Messages not yet confirmed by the hub wait in `state.outbox`, in memory. */

export function installState(w, { userId, userHash }) {
  const KEY = "cc-widget:" + w.hubBase + ":";
  const store = {
    get(name) {
      try { return JSON.parse(window.localStorage.getItem(KEY + name) || "null"); } catch (e) { return null; }
    },
    set(name, value) {
      try {
        if (value === null || value === undefined) window.localStorage.removeItem(KEY + name);
        else window.localStorage.setItem(KEY + name, JSON.stringify(value));
      } catch (e) { /* storage off (private mode): the widget works, without memory */ }
    },
  };

  w.store = store;
  w.profile = store.get("profile") || {}; // {name, email, topic}
  /* The site's signed-in user, proved by its signature (docs/widget.md, "Who the visitor is"):
   * from the script tag's data-user-id and data-user-hash, or ccChatWidget.identify(). Never
   * kept in storage: the page gives it again on every load, and forgets it at sign-out. */
  w.signedUser = {
    id: userId || null,
    hash: userHash || null,
  };
  w.state = {
    visitorId: store.get("visitor"),
    contactId: store.get("contact"), // the conversation followed, or the last one until rated
    phase: store.get("phase") || "idle", // idle | waiting | connected | ended
    rated: !!store.get("rated"),
    agentName: null,
    open: !!store.get("open"),
    welcomed: false,
    order: [], // message ids, in the order shown
    nodes: new Map(), // message_id or client_msg_id -> element
    outbox: new Map(), // client_msg_id -> {text, ref, retryAt}; kept until the hub confirms
    unread: 0,
    readSent: null,
    agentRead: null,
    typingSentAt: 0,
    typingActive: false,
    typingTimer: null,
    agentTypingTimer: null,
    pendingRefs: new Map(), // ref -> what it answers
    afterWelcome: [], // actions waiting for the connection to be ready
    config: { title: "Chat with us", topics: [], max_message_chars: 4000, transcripts: false },
  };

  w.savePhase = (phase) => {
    w.state.phase = phase;
    store.set("phase", phase);
  };
}

export function randomId(prefix) {
  const bytes = new Uint8Array(16);
  window.crypto.getRandomValues(bytes);
  return prefix + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

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
 * Self-contained: no dependency, no build step, nothing global (the loader defines
 * `window.ccChatWidget`). Whatever a person wrote only ever goes through textContent. */
export function start({ hubBase, userId, userHash }) {
  const hubUrl = new URL(hubBase);
  const WS_URL = (hubUrl.protocol === "https:" ? "wss://" : "ws://") + hubUrl.host
    + hubUrl.pathname.replace(/\/+$/, "") + "/ws/chat";

  const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000, 30000];
  const PING_EVERY_MS = 20000;
  const DEAD_AFTER_MS = 50000;
  const TYPING_REFRESH_MS = 3000; // send "typing" again while still typing
  const TYPING_IDLE_MS = 4000; // no key for this long: "stopped typing"
  const TYPING_SHOWN_MS = 8000; // the agent's dot goes away by itself after this
  const KEY = "cc-widget:" + hubBase + ":";

  /* ------------------------------------------------------------------ storage */

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

  function randomId(prefix) {
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return prefix + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "text") node.textContent = String(value);
      else if (key === "class") node.className = value;
      else if (key === "testid") node.setAttribute("data-testid", value);
      else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
      else if (value === true) node.setAttribute(key, "");
      else node.setAttribute(key, String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function clock(ms) {
    if (typeof ms !== "number") return "";
    return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  /* ------------------------------------------------------------------ state */

  const profile = store.get("profile") || {}; // {name, email, topic}
  /* The site's signed-in user, proved by its signature (docs/widget.md, "Who the visitor is"):
   * from the script tag's data-user-id and data-user-hash, or ccChatWidget.identify(). Never
   * kept in storage: the page gives it again on every load, and forgets it at sign-out. */
  const signedUser = {
    id: userId || null,
    hash: userHash || null,
  };
  const state = {
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

  function savePhase(phase) {
    state.phase = phase;
    store.set("phase", phase);
  }

  /* ------------------------------------------------------------------ DOM */

  const host = el("div", { id: "cc-chat-widget" });
  host.style.cssText = "all: initial; position: fixed; z-index: 2147483000; bottom: 0; right: 0;";
  const shadow = host.attachShadow({ mode: "open" });
  const sheet = el("link", { rel: "stylesheet", href: hubBase + "/static/widget.css" });
  const root = el("div", { class: "root" });
  root.style.display = "none"; // until the style sheet is in
  const reveal = () => { root.style.display = ""; };
  sheet.addEventListener("load", reveal);
  sheet.addEventListener("error", reveal);
  shadow.append(sheet, root);

  const ui = {};
  ui.title = el("p", { class: "title", testid: "widget-title", text: state.config.title });
  ui.status = el("p", { class: "status", testid: "widget-status", role: "status", "aria-live": "polite" });
  ui.leave = el("button", { type: "button", class: "text-btn", testid: "widget-leave", text: "End chat", hidden: true });
  ui.close = el("button", { type: "button", class: "icon-btn", testid: "widget-close", "aria-label": "Minimise the chat", text: "–" });
  ui.errorText = el("span");
  ui.error = el("div", { class: "banner", role: "alert", testid: "widget-error", hidden: true },
    ui.errorText,
    el("button", { type: "button", "aria-label": "Dismiss", text: "×", onclick: () => { ui.error.hidden = true; } }));
  ui.conn = el("div", { class: "conn", testid: "widget-connection", hidden: true });

  // the pre-chat form
  ui.name = el("input", { name: "name", maxlength: "100", autocomplete: "name", required: true, testid: "widget-name" });
  ui.email = el("input", { name: "email", type: "email", maxlength: "254", autocomplete: "email", testid: "widget-email" });
  ui.topic = el("select", { name: "topic", testid: "widget-topic" });
  ui.topicField = el("label", { class: "field" }, "Topic", ui.topic);
  ui.first = el("textarea", { name: "message", rows: "3", maxlength: "4000", required: true, testid: "widget-first-message" });
  ui.formError = el("p", { class: "form-error", role: "alert", hidden: true });
  ui.start = el("button", { type: "submit", class: "primary", testid: "widget-start", text: "Start chat" });
  ui.prechat = el("form", { class: "prechat", testid: "widget-prechat", novalidate: true },
    el("h2", { text: "Hello! How can we help?" }),
    el("label", { class: "field" }, "Your name", ui.name),
    el("label", { class: "field" }, el("span", {}, "Email ", el("span", { class: "hint", text: "(optional, for the transcript)" })), ui.email),
    ui.topicField,
    el("label", { class: "field" }, "Your message", ui.first),
    ui.formError, ui.start);

  // the conversation
  ui.queue = el("div", { class: "queue", testid: "widget-queue", role: "status", hidden: true });
  ui.log = el("div", { class: "log", testid: "widget-transcript", role: "log", "aria-live": "polite" });
  ui.typing = el("div", { class: "typing", testid: "widget-typing", hidden: true });
  ui.input = el("textarea", { rows: "1", maxlength: "4000", placeholder: "Type a message…", "aria-label": "Message", testid: "widget-input" });
  ui.send = el("button", { type: "submit", class: "primary", testid: "widget-send", text: "Send" });
  ui.composer = el("form", { class: "composer" }, ui.input, ui.send);

  // the end: rating and transcript
  ui.stars = [1, 2, 3, 4, 5].map((n) => el("button", {
    type: "button", class: "star", testid: "widget-rating-" + n, "aria-pressed": "false",
    "aria-label": n + " out of 5", text: String(n), onclick: () => pickRating(n),
  }));
  ui.comment = el("textarea", { rows: "2", maxlength: "1000", testid: "widget-comment", placeholder: "Anything to add? (optional)" });
  ui.wantTranscript = el("input", { type: "checkbox", testid: "widget-transcript-opt" });
  ui.transcriptEmail = el("input", { type: "email", maxlength: "254", testid: "widget-transcript-email", placeholder: "you@example.com", "aria-label": "Email address for the transcript" });
  ui.transcriptBox = el("div", { class: "field" },
    el("label", { class: "check" }, ui.wantTranscript, "Email me the transcript"), ui.transcriptEmail);
  ui.csatError = el("p", { class: "form-error", role: "alert", hidden: true });
  ui.csatSubmit = el("button", { type: "submit", class: "primary", testid: "widget-csat-submit", text: "Send" });
  ui.csat = el("form", { class: "csat", testid: "widget-csat", novalidate: true },
    el("fieldset", { class: "stars" }, el("legend", { text: "How did we do?" }), ...ui.stars),
    el("label", { class: "field" }, "Comment", ui.comment),
    ui.transcriptBox, ui.csatError, ui.csatSubmit);
  ui.thanks = el("p", { class: "thanks", testid: "widget-thanks", hidden: true, text: "Thank you for your feedback!" });
  ui.doneNote = el("p", { class: "done-note", testid: "widget-done-note", hidden: true });
  ui.newChat = el("button", { type: "button", class: "secondary", testid: "widget-new", text: "Start a new chat" });
  ui.end = el("div", { class: "end", testid: "widget-end", hidden: true },
    el("h3", { text: "This conversation has ended" }), ui.csat, ui.thanks, ui.doneNote, ui.newChat);

  ui.chat = el("div", { class: "chat", hidden: true }, ui.queue, ui.log, ui.typing, ui.composer, ui.end);
  ui.panel = el("section", { class: "panel", role: "dialog", "aria-label": state.config.title, testid: "widget-panel", hidden: true },
    el("header", { class: "head" },
      el("div", { class: "head-text" }, ui.title, ui.status), ui.leave, ui.close),
    ui.error, ui.conn,
    el("div", { class: "body" }, ui.prechat, ui.chat));
  ui.badge = el("span", { class: "badge", testid: "widget-unread", hidden: true });
  ui.bubble = el("button", { type: "button", class: "bubble", testid: "widget-bubble", "aria-label": state.config.title, "aria-expanded": "false" },
    svgBubble(), ui.badge);
  root.append(ui.panel, ui.bubble);

  function svgBubble() {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z");
    svg.append(path);
    return svg;
  }

  /* ------------------------------------------------------------------ views */

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
    if (phase !== "connected") hideAgentTyping();
    if (phase === "idle") setStatus("We usually answer within a few minutes.");
    else if (phase === "waiting") setStatus("Waiting for an agent…");
    else if (phase === "connected") setStatus(state.agentName ? "You are chatting with " + state.agentName : "An agent is with you");
    else setStatus("Conversation ended");
    if (phase === "ended") renderEnd();
    root.dataset.phase = phase;
  }

  function renderEnd() {
    ui.csat.hidden = state.rated;
    ui.thanks.hidden = !state.rated;
    ui.transcriptBox.hidden = !state.config.transcripts;
    if (!ui.transcriptEmail.value) ui.transcriptEmail.value = profile.email || "";
  }

  function openPanel() {
    state.open = true;
    store.set("open", true);
    ui.panel.hidden = false;
    ui.bubble.setAttribute("aria-expanded", "true");
    state.unread = 0;
    ui.badge.hidden = true;
    render();
    if (state.phase === "idle") (profile.name ? ui.first : ui.name).focus();
    else if (!ui.composer.hidden) ui.input.focus();
    ui.log.scrollTop = ui.log.scrollHeight;
    markRead();
  }

  function closePanel() {
    state.open = false;
    store.set("open", false);
    ui.panel.hidden = true;
    ui.bubble.setAttribute("aria-expanded", "false");
    ui.bubble.focus();
  }

  ui.bubble.addEventListener("click", () => (state.open ? closePanel() : openPanel()));
  ui.close.addEventListener("click", closePanel);
  ui.panel.addEventListener("keydown", (ev) => { if (ev.key === "Escape") closePanel(); });

  /* ------------------------------------------------------------------ messages */

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
      settleOutbox(m.client_msg_id);
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
      hideAgentTyping();
      if (!initial && (!state.open || document.visibilityState !== "visible")) {
        state.unread += 1;
        ui.badge.textContent = String(state.unread);
        ui.badge.hidden = false;
      }
      markRead();
    }
    showAgentRead();
  }

  function clearLog() {
    ui.log.textContent = "";
    state.order = [];
    state.nodes.clear();
    state.readSent = null;
    state.agentRead = null;
    ui.queue.textContent = "";
  }

  /* ------------------------------------------------------------------ sending */

  function queueMessage(text) {
    const clientId = randomId("w");
    const node = bubbleFor("customer", text);
    node.dataset.state = "pending";
    node.dataset.clientId = clientId;
    setMeta(node, "Sending…");
    state.nodes.set(clientId, node);
    appendToLog(node);
    state.outbox.set(clientId, { text, ref: null, retryAt: 0 });
    flushOutbox();
  }

  /* Send what the hub has not confirmed, in order, under the same client_msg_id: a message
   * it already stored is stored once, and comes back with its message_id. */
  function flushOutbox() {
    if (!socket.ready) return;
    const now = Date.now();
    for (const [clientId, item] of state.outbox) {
      if (item.retryAt > now) continue;
      item.ref = randomId("r");
      state.pendingRefs.set(item.ref, { kind: "message", clientId });
      socket.send({ type: "message", text: item.text, client_msg_id: clientId, ref: item.ref });
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
      if (node) setMeta(node, "Too many messages: sending again in " + waitS + " s");
      setTimeout(flushOutbox, waitS * 1000 + 50);
      return;
    }
    settleOutbox(clientId);
    if (node) {
      node.dataset.state = "failed";
      setMeta(node, "Not sent: " + (frame.message || frame.error_id));
    }
    if (frame.error_id === "conversation.closed") conversationEnded(null);
  }

  function sendTyping(active) {
    if (!socket.ready || (state.phase !== "waiting" && state.phase !== "connected")) return;
    state.typingActive = active;
    state.typingSentAt = active ? Date.now() : 0;
    socket.send({ type: "typing", active });
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

  function submitMessage() {
    const text = ui.input.value;
    if (!text.trim()) return;
    if (text.length > state.config.max_message_chars) {
      showError("A message may have at most " + state.config.max_message_chars + " characters.");
      return;
    }
    clearTimeout(state.typingTimer);
    if (state.typingActive) sendTyping(false);
    ui.input.value = "";
    onInput();
    queueMessage(text);
    if (!socket.ready) note("You are offline: your message will be sent when the connection is back.");
  }

  ui.composer.addEventListener("submit", (ev) => { ev.preventDefault(); submitMessage(); });
  ui.input.addEventListener("input", onInput);
  ui.input.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      submitMessage();
    }
  });

  /* ------------------------------------------------------------------ typing and reading */

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
    if (!state.open || document.visibilityState !== "visible" || !socket.ready) return;
    let last = null;
    for (const id of state.order) {
      const node = state.nodes.get(id);
      if (node && node.dataset.sender === "agent") last = id;
    }
    if (!last || last === state.readSent) return;
    state.readSent = last;
    socket.send({ type: "read", message_id: last });
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

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") {
      markRead();
      socket.wake();
    }
  });

  /* ------------------------------------------------------------------ the socket */

  const socket = {
    ws: null,
    running: false,
    ready: false, // welcomed: frames may go
    expectedSeq: 1,
    attempt: 0,
    timer: null,
    pingTimer: null,
    lastFrameAt: 0,
    notBefore: 0, // a rate limit asked us to wait

    start() {
      if (this.running) return;
      this.running = true;
      this.attempt = 0;
      this.connect();
    },

    stop() {
      this.running = false;
      this.ready = false;
      clearTimeout(this.timer);
      clearInterval(this.pingTimer);
      const ws = this.ws;
      this.ws = null;
      if (ws) {
        ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
        try { ws.close(1000, "bye"); } catch (e) { /* closed already */ }
      }
      setConnection("stopped");
    },

    wake() {
      if (this.running && !this.ws) this.connect();
    },

    send(frame) {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
      this.ws.send(JSON.stringify(frame));
      return true;
    },

    connect() {
      clearTimeout(this.timer);
      if (!this.running || this.ws) return;
      const wait = this.notBefore - Date.now();
      if (wait > 0) { this.timer = setTimeout(() => this.connect(), wait); return; }
      this.expectedSeq = 1;
      this.ready = false;
      setConnection(this.attempt ? "reconnecting" : "connecting");
      let ws;
      try {
        ws = new WebSocket(WS_URL);
      } catch (e) {
        this.retry();
        return;
      }
      this.ws = ws;
      ws.onopen = () => {
        this.lastFrameAt = Date.now();
        clearInterval(this.pingTimer);
        this.pingTimer = setInterval(() => this.heartbeat(), PING_EVERY_MS);
        const hello = { type: "hello", name: profile.name || "Visitor" };
        if (state.visitorId) hello.visitor_id = state.visitorId;
        if (profile.email) hello.email = profile.email;
        if (profile.topic) hello.topic = profile.topic;
        if (signedUser.id && signedUser.hash) {
          hello.user_id = signedUser.id;
          hello.user_hash = signedUser.hash;
        }
        ws.send(JSON.stringify(hello));
      };
      ws.onmessage = (ev) => this.receive(ws, ev);
      ws.onerror = () => { /* onclose follows */ };
      ws.onclose = () => {
        if (this.ws !== ws) return;
        this.lost();
      };
    },

    lost() {
      this.ws = null;
      this.ready = false;
      clearInterval(this.pingTimer);
      state.typingActive = false;
      hideAgentTyping();
      this.retry();
    },

    retry() {
      if (!this.running) return;
      const base = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
      this.attempt += 1;
      const delay = Math.max(base * (0.8 + Math.random() * 0.4), this.notBefore - Date.now());
      setConnection("reconnecting", delay);
      this.timer = setTimeout(() => this.connect(), delay);
    },

    drop() {
      const ws = this.ws;
      if (!ws) return;
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try { ws.close(4000, "reconnect"); } catch (e) { /* ignore */ }
      this.lost();
    },

    heartbeat() {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
      if (Date.now() - this.lastFrameAt > DEAD_AFTER_MS) { this.drop(); return; }
      this.send({ type: "ping" });
    },

    receive(ws, ev) {
      if (this.ws !== ws) return;
      this.lastFrameAt = Date.now();
      let frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      if (!frame || typeof frame !== "object") return;
      if (typeof frame.seq === "number") {
        if (frame.seq !== this.expectedSeq) { // a frame was missed: the next welcome has all
          this.attempt = 0;
          this.drop();
          return;
        }
        this.expectedSeq = frame.seq + 1;
      }
      try {
        handleFrame(frame);
      } catch (e) {
        console.error("chat widget: error handling a frame of type", String(frame.type), e);
      }
    },
  };

  window.addEventListener("online", () => socket.wake());

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

  /* ------------------------------------------------------------------ frames */

  function handleFrame(frame) {
    const mine = !frame.contact_id || !state.contactId || frame.contact_id === state.contactId;
    switch (frame.type) {
      case "welcome": return onWelcome(frame);
      case "queued":
        followContact(frame.contact_id);
        if (state.phase !== "connected") savePhase("waiting");
        render();
        return undefined;
      case "position":
        if (!mine) return undefined;
        ui.queue.textContent = positionText(frame.position, frame.estimated_wait_s);
        render();
        return undefined;
      case "agent_joined":
        if (!mine) return undefined;
        state.agentName = frame.agent_name || "An agent";
        store.set("agent", state.agentName);
        savePhase("connected");
        note(state.agentName + " joined the chat");
        render();
        return undefined;
      case "transferring":
        if (!mine) return undefined;
        savePhase("waiting");
        note("You are being transferred to another agent…");
        render();
        return undefined;
      case "message":
        if (!mine) return undefined;
        if (frame.contact_id && !state.contactId) followContact(frame.contact_id);
        addMessage(frame.message);
        return undefined;
      case "typing":
        if (mine && frame.sender === "agent") showAgentTyping(frame.active === true);
        return undefined;
      case "read":
        if (mine && frame.reader === "agent") {
          state.agentRead = frame.message_id;
          showAgentRead();
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
    if (state.contactId && state.contactId !== contactId) { clearLog(); state.rated = false; store.set("rated", false); }
    state.contactId = contactId;
    store.set("contact", contactId);
  }

  function onWelcome(frame) {
    if (frame.visitor_id) {
      state.visitorId = frame.visitor_id;
      store.set("visitor", frame.visitor_id);
    }
    socket.attempt = 0;
    socket.ready = true;
    setConnection("connected");
    const status = frame.status || "new";
    if (status === "waiting" || status === "connected") {
      followContact(frame.contact_id);
      if (frame.agent_name) { state.agentName = frame.agent_name; store.set("agent", frame.agent_name); }
      for (const m of frame.messages || []) addMessage(m, true);
      if (frame.agent_read_message_id) { state.agentRead = frame.agent_read_message_id; showAgentRead(); }
      savePhase(status);
    } else if (state.phase === "waiting" || state.phase === "connected") {
      if (state.outbox.size && !state.order.length) {
        // The first message was never stored: it opens the conversation now.
      } else {
        conversationEnded(null); // it ended while we were away
      }
    }
    render();
    flushOutbox();
    markRead();
    const todo = state.afterWelcome.splice(0);
    for (const fn of todo) fn();
  }

  function conversationEnded(endedBy) {
    if (state.phase === "ended") return;
    if (endedBy === "agent") note("The agent ended the conversation.");
    else if (endedBy === "customer") note("You left the chat.");
    for (const clientId of Array.from(state.outbox.keys())) {
      messageRefused(clientId, { error_id: "conversation.closed", message: "the conversation is over" });
    }
    savePhase("ended");
    render();
    // Nothing more to hear: a rating or a transcript request connects again for itself.
    if (!state.pendingRefs.size) socket.stop();
  }

  function onAnswer(frame, error) {
    const waiting = frame.ref ? state.pendingRefs.get(frame.ref) : null;
    if (frame.ref) state.pendingRefs.delete(frame.ref);
    if (error && error.error_id === "chat.rate_limited" && error.details && error.details.limit === "connections") {
      socket.notBefore = Date.now() + (error.details.retry_after_s || 30) * 1000;
      showError("Too many connections from your network; retrying shortly.");
      return;
    }
    if (!waiting) {
      if (error && error.error_id === "chat.hello_required") { socket.drop(); return; }
      if (error && error.error_id === "chat.unknown_topic") { // the site's topics changed
        profile.topic = null;
        store.set("profile", profile);
        socket.drop();
        return;
      }
      if (error && error.error_id !== "chat.rate_limited") showError(error.message || error.error_id);
      return;
    }
    if (waiting.kind === "message") {
      if (error) messageRefused(waiting.clientId, error);
      else {
        // Stored: the echo with its message_id follows; until then, "sent".
        const node = state.nodes.get(waiting.clientId);
        if (node && node.dataset.state === "pending") setMeta(node, "Sent");
        settleOutbox(waiting.clientId);
      }
      return;
    }
    if (waiting.kind === "leave") {
      if (!error) conversationEnded("customer");
      else showError(error.message || error.error_id);
      return;
    }
    if (waiting.done) waiting.done(error);
    if (state.phase === "ended" && !state.pendingRefs.size && !state.afterWelcome.length) socket.stop();
  }

  /* Send a frame once the connection is ready; `done(error)` gets its answer. */
  function request(frame, done) {
    const go = () => {
      const ref = randomId("r");
      state.pendingRefs.set(ref, { kind: frame.type, done });
      if (!socket.send(Object.assign({}, frame, { ref }))) {
        state.pendingRefs.delete(ref);
        done({ error_id: "client.offline", message: "Not connected; try again in a moment." });
      }
    };
    if (socket.ready) go();
    else {
      state.afterWelcome.push(go);
      socket.start();
    }
  }

  /* ------------------------------------------------------------------ pre-chat form */

  function fillForm() {
    ui.name.value = profile.name || "";
    ui.email.value = profile.email || "";
    ui.topic.textContent = "";
    const topics = state.config.topics || [];
    ui.topicField.hidden = !topics.length;
    for (const t of topics) ui.topic.append(el("option", { value: t.id, text: t.label }));
    if (profile.topic && topics.some((t) => t.id === profile.topic)) ui.topic.value = profile.topic;
    const max = String(state.config.max_message_chars || 4000);
    ui.first.setAttribute("maxlength", max);
    ui.input.setAttribute("maxlength", max);
  }

  ui.prechat.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const name = ui.name.value.trim();
    const email = ui.email.value.trim();
    const text = ui.first.value;
    let problem = null;
    if (!name) problem = "Please tell us your name.";
    else if (email && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) problem = "This email address does not look right.";
    else if (!text.trim()) problem = "Please type your message.";
    ui.formError.textContent = problem || "";
    ui.formError.hidden = !problem;
    if (problem) return;
    profile.name = name.slice(0, 100);
    profile.email = email || null;
    profile.topic = ui.topicField.hidden ? null : ui.topic.value || null;
    store.set("profile", profile);
    state.contactId = null;
    store.set("contact", null);
    state.rated = false;
    store.set("rated", false);
    state.agentName = null;
    clearLog();
    ui.first.value = "";
    ui.doneNote.hidden = true;
    savePhase("waiting");
    render();
    setStatus("Connecting…");
    queueMessage(text);
    socket.stop(); // a fresh hello carries the form's name, email and topic
    socket.start();
    ui.input.focus();
  });

  ui.leave.addEventListener("click", () => {
    const ref = randomId("r");
    state.pendingRefs.set(ref, { kind: "leave" });
    if (!socket.send({ type: "leave", ref })) {
      state.pendingRefs.delete(ref);
      showError("Not connected; try again in a moment.");
    }
  });

  ui.newChat.addEventListener("click", () => {
    socket.stop();
    state.contactId = null;
    store.set("contact", null);
    clearLog();
    savePhase("idle");
    fillForm();
    render();
    (profile.name ? ui.first : ui.name).focus();
  });

  /* ------------------------------------------------------------------ rating and transcript */

  let rating = 0;
  function pickRating(n) {
    rating = n;
    ui.stars.forEach((b, i) => b.setAttribute("aria-pressed", String(i + 1 === n)));
  }

  ui.csat.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const contactId = state.contactId;
    const wantsTranscript = state.config.transcripts && ui.wantTranscript.checked;
    const address = ui.transcriptEmail.value.trim();
    let problem = null;
    if (!rating && !wantsTranscript) problem = "Choose a rating from 1 to 5.";
    else if (wantsTranscript && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(address)) problem = "Give the email address to send the transcript to.";
    ui.csatError.textContent = problem || "";
    ui.csatError.hidden = !problem;
    if (problem || !contactId) return;
    ui.csatSubmit.disabled = true;
    let pending = (rating ? 1 : 0) + (wantsTranscript ? 1 : 0);
    const notes = [];
    const finish = () => {
      pending -= 1;
      if (pending > 0) return;
      ui.csatSubmit.disabled = false;
      if (notes.length) { ui.doneNote.textContent = notes.join(" "); ui.doneNote.hidden = false; }
      render();
    };
    if (rating) {
      request({ type: "csat", contact_id: contactId, rating, comment: ui.comment.value }, (error) => {
        if (!error || error.error_id === "csat.already_given") {
          state.rated = true;
          store.set("rated", true);
        } else {
          notes.push("Your rating was not sent: " + (error.message || error.error_id) + ".");
        }
        finish();
      });
    }
    if (wantsTranscript) {
      let zone;
      try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { zone = undefined; }
      const frame = { type: "transcript_request", contact_id: contactId, email: address };
      if (zone) frame.time_zone = zone;
      request(frame, (error) => {
        notes.push(error ? "The transcript was not sent: " + (error.message || error.error_id) + "."
          : "The transcript is on its way to " + address + ".");
        if (!error) { ui.wantTranscript.checked = false; ui.transcriptBox.hidden = true; }
        finish();
      });
    }
  });

  /* ------------------------------------------------------------------ boot */

  async function loadConfig() {
    try {
      const res = await fetch(hubBase + "/widget/config.json", { credentials: "omit", cache: "no-cache" });
      if (res.ok) Object.assign(state.config, await res.json());
    } catch (e) { /* the defaults will do */ }
    ui.title.textContent = state.config.title;
    ui.panel.setAttribute("aria-label", state.config.title);
    ui.bubble.setAttribute("aria-label", state.config.title);
    fillForm();
    render();
  }

  function boot() {
    document.body.append(host);
    state.agentName = store.get("agent");
    if (!state.contactId && state.phase !== "idle") savePhase("idle");
    fillForm();
    render();
    if (state.open) openPanel();
    // A conversation going on: back to it (its history comes with the welcome).
    if (state.phase === "waiting" || state.phase === "connected") socket.start();
    loadConfig();
  }

  /* The page signed its user in (or out, with null): the next hello carries the proof. */
  function identify(user) {
    const given = user || {};
    signedUser.id = typeof given.user_id === "string" ? given.user_id : null;
    signedUser.hash = typeof given.user_hash === "string" ? given.user_hash : null;
    if (typeof given.name === "string" && given.name) profile.name = given.name.slice(0, 100);
    if (typeof given.email === "string") profile.email = given.email || null;
    store.set("profile", profile);
    fillForm();
    if (socket.ws) socket.drop(); // reconnects at once with the new hello
  }

  if (document.body) boot();
  else document.addEventListener("DOMContentLoaded", boot);
  return {
    open: () => openPanel(),
    close: () => closePanel(),
    identify: (user) => identify(user),
  };
}

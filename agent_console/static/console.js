/* Agent console: login, presence, offers, several conversations at once, wrap-up, and (for
 * supervisors) a live log of hub events. Speaks the /ws/agent protocol of docs/protocol.md. */
"use strict";

(function () {
  const { HubSocket, randomId, el, formatTime, keepScrolledToBottom } = window.CC;

  const DISPOSITIONS = ["resolved", "follow-up", "no-answer", "spam"];
  const STATES = ["available", "away", "offline"];
  const MAX_EVENTS = 500;
  const BASE_TITLE = document.title;

  const $ = (id) => document.getElementById(id);
  const ui = {
    sessionBar: $("session-bar"),
    connection: $("connection-status"),
    stateSelect: $("state-select"),
    presenceDot: $("presence-dot"),
    agentName: $("agent-name"),
    agentRole: $("agent-role"),
    logout: $("logout"),
    errorBanner: $("error-banner"),
    errorText: $("error-text"),
    errorDismiss: $("error-dismiss"),
    loginView: $("login-view"),
    loginForm: $("login-form"),
    loginUser: $("login-username"),
    loginPass: $("login-password"),
    loginError: $("login-error"),
    loginSubmit: $("login-submit"),
    loadingView: $("loading-view"),
    consoleView: $("console-view"),
    offers: $("offers"),
    offerCount: $("offer-count"),
    noOffers: $("no-offers"),
    convList: $("conversation-list"),
    convCount: $("conversation-count"),
    noConvs: $("no-conversations"),
    convArea: $("conversation-area"),
    convEmpty: $("conversation-empty"),
    supervisorPanel: $("supervisor-panel"),
    eventLog: $("event-log"),
    eventAutoscroll: $("event-autoscroll"),
    eventClear: $("event-clear"),
  };

  const state = {
    agent: null,
    presence: "offline",
    offers: new Map(), // contact_id -> offer view
    convs: new Map(), // contact_id -> conversation view
    activeId: null,
    pending: new Map(), // ref -> {kind, contactId}
    connected: false,
  };

  /* ------------------------------------------------------------------ errors */

  function showError(message, errorId) {
    ui.errorText.textContent = message || "Something went wrong.";
    if (errorId) ui.errorBanner.dataset.errorId = errorId;
    else delete ui.errorBanner.dataset.errorId;
    ui.errorBanner.hidden = false;
  }

  function hideError() {
    ui.errorBanner.hidden = true;
    ui.errorText.textContent = "";
  }

  ui.errorDismiss.addEventListener("click", hideError);

  /* ------------------------------------------------------------------ views */

  function showView(name) {
    ui.loadingView.hidden = name !== "loading";
    ui.loginView.hidden = name !== "login";
    ui.consoleView.hidden = name !== "console";
    ui.sessionBar.hidden = name !== "console";
    document.body.dataset.view = name;
  }

  function setConnection(kind, detail) {
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

  function renderAgent() {
    const agent = state.agent || {};
    ui.agentName.textContent = agent.display_name || agent.username || "";
    ui.agentRole.textContent = agent.role || "";
    ui.agentRole.hidden = !agent.role;
    const supervisor = agent.role === "supervisor";
    ui.supervisorPanel.hidden = !supervisor;
    ui.consoleView.classList.toggle("with-supervisor", supervisor);
  }

  function setPresence(value) {
    if (!STATES.includes(value)) return;
    state.presence = value;
    ui.stateSelect.value = value;
    ui.presenceDot.dataset.state = value;
    ui.stateSelect.dataset.state = value;
    updateEmptyHint();
  }

  function updateTitle() {
    const n = state.offers.size;
    document.title = n ? "(" + n + ") " + BASE_TITLE : BASE_TITLE;
  }

  function updateCounts() {
    ui.noOffers.hidden = state.offers.size > 0;
    ui.offerCount.hidden = state.offers.size === 0;
    ui.offerCount.textContent = String(state.offers.size);
    ui.noConvs.hidden = state.convs.size > 0;
    ui.convCount.hidden = state.convs.size === 0;
    ui.convCount.textContent = String(state.convs.size);
    ui.convEmpty.hidden = state.activeId !== null && state.convs.has(state.activeId);
    updateTitle();
  }

  function updateEmptyHint() {
    const hint = ui.convEmpty.querySelector(".muted");
    if (!hint) return;
    hint.textContent = "";
    if (state.presence === "available") {
      hint.append("You are available: offers will appear on the left.");
    } else {
      hint.append("Set yourself ", el("strong", { text: "Available" }), " to receive offers.");
    }
  }

  /* ------------------------------------------------------------------ socket */

  const socket = new HubSocket({
    path: "/ws/agent",
    onFrame: handleFrame,
    onStatus: setConnection,
    beforeReconnect: async () => {
      // A refused upgrade looks like any other close: ask whether the session is still there.
      try {
        const res = await fetch("/api/me", { cache: "no-store" });
        if (res.status === 401) {
          resetConsole();
          showView("login");
          ui.loginError.textContent = "Your session has ended. Please sign in again.";
          ui.loginError.hidden = false;
          return false;
        }
      } catch (e) {
        /* hub unreachable: keep trying */
      }
      return true;
    },
  });

  function command(frame, kind, contactId, opts) {
    const ref = socket.send(frame, opts);
    if (ref === null) {
      showError("Not connected to the hub. Please wait for the connection to come back.", "client.offline");
      return null;
    }
    state.pending.set(ref, { kind, contactId });
    return ref;
  }

  function handleFrame(frame) {
    switch (frame.type) {
      case "snapshot": return applySnapshot(frame);
      case "state": return setPresence(frame.state);
      case "offer": return addOffer(frame.contact, frame.deadline_ms, frame.reason);
      case "offer_withdrawn": return removeOffer(frame.contact_id, frame.why);
      case "assigned": return onAssigned(frame.contact);
      case "message": return onMessage(frame.contact_id, frame.message);
      case "conversation_ended": return onEnded(frame.contact_id, frame.ended_by);
      case "wrapup_done": return removeConversation(frame.contact_id);
      case "event": return appendEvent(frame.event);
      case "ack": return onAck(frame.ref);
      case "error": return onError(frame);
      case "pong": return undefined;
      default:
        console.debug("unhandled frame", frame);
        return undefined;
    }
  }

  function onAck(ref) {
    const p = state.pending.get(ref);
    state.pending.delete(ref);
    if (!p) return;
    if (p.kind === "reject") removeOffer(p.contactId, "rejected");
  }

  function onError(frame) {
    const p = frame.ref ? state.pending.get(frame.ref) : null;
    if (frame.ref) state.pending.delete(frame.ref);
    showError(frame.message || frame.error_id, frame.error_id);
    if (!p) return;
    if (p.kind === "state") setPresence(state.presence);
    if (p.kind === "accept" || p.kind === "reject") {
      if (frame.error_id === "offer.gone") removeOffer(p.contactId, "gone");
      else setOfferBusy(p.contactId, false);
    }
    const conv = state.convs.get(p.contactId);
    if (!conv) return;
    if (p.kind === "end") conv.endBtn.disabled = false;
    if (p.kind === "wrapup") conv.wrapSubmit.disabled = false;
    if (p.kind === "end" || p.kind === "send") {
      if (frame.error_id === "conversation.closed" && conv.status === "active") setWrapup(conv, null);
    }
  }

  /* ------------------------------------------------------------------ snapshot */

  function contactKind(contact) {
    const s = String(contact.state || "").toLowerCase();
    if (s === "offered") return "offer";
    if (/closed|abandon|queued|waiting/.test(s)) return "skip";
    if (/wrap|ended/.test(s)) return "wrapup";
    return "active";
  }

  function applySnapshot(snap) {
    const agent = snap.agent || {};
    state.agent = Object.assign({}, state.agent || {}, agent);
    renderAgent();
    if (agent.state) setPresence(agent.state);

    // Keep what the agent was typing across the rebuild.
    const drafts = new Map();
    for (const [id, conv] of state.convs) {
      drafts.set(id, {
        text: conv.input.value,
        disposition: conv.wrapSelect.value,
        notes: conv.wrapNotes.value,
      });
    }
    const previousActive = state.activeId;

    for (const id of Array.from(state.offers.keys())) removeOffer(id, null, true);
    for (const id of Array.from(state.convs.keys())) removeConversation(id, true);
    state.pending.clear();

    for (const contact of snap.contacts || []) {
      if (!contact || !contact.contact_id) continue;
      const kind = contactKind(contact);
      if (kind === "offer") addOffer(contact, contact.deadline_ms);
      else if (kind !== "skip") {
        const conv = addConversation(contact, false);
        if (kind === "wrapup") setWrapup(conv, contact.ended_by || null, true);
        const draft = drafts.get(contact.contact_id);
        if (draft) {
          conv.input.value = draft.text;
          conv.wrapSelect.value = draft.disposition;
          conv.wrapNotes.value = draft.notes;
        }
      }
    }

    if (previousActive && state.convs.has(previousActive)) activate(previousActive);
    else if (state.convs.size) activate(state.convs.keys().next().value);
    else activate(null);

    // Re-send messages not yet acknowledged (same client_msg_id: stored once).
    for (const [ref, frame] of Array.from(socket.outbox)) {
      const conv = state.convs.get(frame.contact_id);
      if (!conv || conv.status !== "active") socket.settle(ref);
    }
    socket.markHealthy();
    socket.flushOutbox();
    updateCounts();
  }

  /* ------------------------------------------------------------------ offers */

  function customerName(contact) {
    return (contact && contact.customer && contact.customer.name) || "Customer";
  }

  function addOffer(contact, deadlineMs, reason) {
    if (!contact || !contact.contact_id) return;
    const id = contact.contact_id;
    removeOffer(id, null, true);
    const now = Date.now();
    let deadlineAt = Number(deadlineMs);
    if (!isFinite(deadlineAt) || deadlineAt <= 0) deadlineAt = now + 20000;
    else if (deadlineAt < 1e12) deadlineAt = now + deadlineAt; // a duration, not an epoch time
    const total = Math.max(1000, deadlineAt - now);

    const countdown = el("span", { class: "offer-countdown", testid: "offer-countdown" });
    const bar = el("span", { class: "offer-progress-bar" });
    const accept = el("button", {
      type: "button", class: "btn btn-primary", testid: "offer-accept", text: "Accept",
      onclick: () => respond(id, "accept"),
    });
    const reject = el("button", {
      type: "button", class: "btn btn-secondary", testid: "offer-reject", text: "Reject",
      onclick: () => respond(id, "reject"),
    });
    const lastCustomer = (contact.messages || []).filter((m) => m && m.sender === "customer").pop();
    const preview = el("p", {
      class: "offer-preview", testid: "offer-preview",
      text: lastCustomer ? lastCustomer.body : "",
    });
    preview.hidden = !lastCustomer;

    const card = el("article", {
      class: "offer-card", testid: "offer-card", dataset: { contactId: id },
      "aria-label": "Offer from " + customerName(contact),
    },
      el("div", { class: "offer-head" },
        el("span", { class: "offer-title" },
          el("span", { class: "pulse", "aria-hidden": "true" }),
          el("strong", { class: "offer-customer", testid: "offer-customer", text: customerName(contact) })),
        countdown),
      el("div", { class: "offer-meta" },
        el("span", { class: "chip", testid: "offer-queue", text: contact.queue || "" }),
        contact.channel ? el("span", { class: "chip chip-muted", text: contact.channel }) : null,
        reasonText(reason) ? el("span", { class: "offer-reason muted", text: reasonText(reason) }) : null),
      preview,
      el("span", { class: "offer-progress", "aria-hidden": "true" }, bar),
      el("div", { class: "offer-actions" }, accept, reject));

    const offer = { id, contact, deadlineAt, total, card, countdown, bar, accept, reject };
    state.offers.set(id, offer);
    ui.offers.append(card);
    tickOffer(offer, now);
    updateCounts();
  }

  function reasonText(reason) {
    if (!reason || typeof reason !== "object") return "";
    const parts = [];
    for (const key of ["rule", "why", "kind"]) {
      if (typeof reason[key] === "string") parts.push(reason[key]);
    }
    return parts.join(" · ");
  }

  function respond(id, kind) {
    if (!state.offers.has(id)) return;
    const ref = command({ type: kind, contact_id: id }, kind, id);
    if (ref) setOfferBusy(id, true);
  }

  function setOfferBusy(id, busy) {
    const offer = state.offers.get(id);
    if (!offer) return;
    offer.accept.disabled = busy;
    offer.reject.disabled = busy;
    offer.card.classList.toggle("is-busy", busy);
  }

  function removeOffer(id, why, quiet) {
    const offer = state.offers.get(id);
    if (!offer) return;
    state.offers.delete(id);
    offer.card.remove();
    if (!quiet) updateCounts();
  }

  function tickOffer(offer, now) {
    const left = Math.max(0, offer.deadlineAt - now);
    const secs = Math.ceil(left / 1000);
    offer.countdown.textContent = left > 0 ? secs + "s" : "expiring…";
    offer.countdown.dataset.remainingMs = String(Math.round(left));
    offer.bar.style.width = (100 * left / offer.total).toFixed(1) + "%";
    offer.card.classList.toggle("is-urgent", left < 5000);
    // The hub withdraws expired offers; drop a stale card if that frame never comes.
    if (now - offer.deadlineAt > 10000) removeOffer(offer.id, "expired");
  }

  setInterval(() => {
    const now = Date.now();
    for (const offer of Array.from(state.offers.values())) tickOffer(offer, now);
  }, 250);

  /* ------------------------------------------------------------------ conversations */

  function onAssigned(contact) {
    if (!contact || !contact.contact_id) return;
    removeOffer(contact.contact_id, null);
    const existing = state.convs.get(contact.contact_id);
    if (existing) {
      for (const m of contact.messages || []) addMessage(existing, m);
      activate(existing.id);
      return;
    }
    const conv = addConversation(contact, true);
    activate(conv.id);
    conv.input.focus();
  }

  function addConversation(contact, fresh) {
    const id = contact.contact_id;
    const name = customerName(contact);

    const transcript = el("div", {
      class: "transcript", testid: "transcript", role: "log", "aria-live": "polite",
      "aria-label": "Conversation with " + name,
    });
    const input = el("textarea", {
      class: "composer-input", testid: "message-input", rows: "2", maxlength: "4000",
      placeholder: "Type a reply… (Enter to send, Shift+Enter for a new line)",
      "aria-label": "Reply to " + name,
    });
    const sendBtn = el("button", { type: "submit", class: "btn btn-primary", testid: "message-send", text: "Send" });
    const composer = el("form", { class: "composer" }, input, sendBtn);
    const endBtn = el("button", {
      type: "button", class: "btn btn-danger-ghost", testid: "end-conversation", text: "End conversation",
    });
    const statusPill = el("span", { class: "pill pill-active", testid: "conversation-status", text: "Active" });

    const wrapSelect = el("select", { testid: "wrapup-disposition", class: "input" },
      el("option", { value: "", text: "Choose a disposition…" }),
      ...DISPOSITIONS.map((d) => el("option", { value: d, text: d })));
    const wrapNotes = el("textarea", {
      testid: "wrapup-notes", class: "input", rows: "3", maxlength: "4000",
      placeholder: "Notes for the customer's history (optional)",
    });
    const wrapSubmit = el("button", { type: "submit", class: "btn btn-primary", testid: "wrapup-submit", text: "Finish wrap-up" });
    const wrapEndedBy = el("p", { class: "muted wrapup-ended-by" });
    const wrapForm = el("form", { class: "wrapup", testid: "wrapup-panel" },
      el("div", { class: "wrapup-head" },
        el("h3", { text: "Wrap-up" }), wrapEndedBy),
      el("label", { class: "field" }, el("span", { text: "Disposition" }), wrapSelect),
      el("label", { class: "field" }, el("span", { text: "Notes" }), wrapNotes),
      el("div", { class: "wrapup-actions" }, wrapSubmit));
    wrapForm.hidden = true;

    const panel = el("article", {
      class: "conversation", testid: "conversation", dataset: { contactId: id, state: "active" },
    },
      el("header", { class: "conversation-head" },
        el("div", {},
          el("h2", { class: "conversation-title", testid: "conversation-customer", text: name }),
          el("div", { class: "conversation-meta muted" },
            el("span", { class: "chip", text: contact.queue || "" }),
            contact.channel ? el("span", { class: "chip chip-muted", text: contact.channel }) : null,
            el("span", { class: "mono small", title: "Contact id", text: id }))),
        el("div", { class: "conversation-tools" }, statusPill, endBtn)),
      transcript,
      composer,
      wrapForm);
    panel.hidden = true;

    const preview = el("span", { class: "conv-preview muted" });
    const badge = el("span", { class: "badge", testid: "unread-count" });
    badge.hidden = true;
    const tabState = el("span", { class: "pill pill-small pill-active", text: "Active" });
    const tab = el("li", {},
      el("button", {
        type: "button", class: "conv-tab", testid: "conversation-tab", dataset: { contactId: id },
        onclick: () => activate(id),
      },
        el("span", { class: "conv-tab-row" },
          el("strong", { class: "conv-name", text: name }), badge),
        el("span", { class: "conv-tab-row" }, preview, tabState)));

    const conv = {
      id, contact, name, status: "active", seen: new Set(), unread: 0,
      panel, transcript, input, sendBtn, composer, endBtn, statusPill,
      wrapForm, wrapSelect, wrapNotes, wrapSubmit, wrapEndedBy,
      tab, preview, badge, tabState,
    };
    state.convs.set(id, conv);
    ui.convArea.append(panel);
    ui.convList.append(tab);

    composer.addEventListener("submit", (ev) => { ev.preventDefault(); sendMessage(conv); });
    input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        sendMessage(conv);
      }
    });
    endBtn.addEventListener("click", () => {
      if (conv.status !== "active") return;
      if (command({ type: "end", contact_id: id }, "end", id)) endBtn.disabled = true;
    });
    wrapForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const disposition = wrapSelect.value || null;
      const frame = { type: "wrapup", contact_id: id, disposition, notes: wrapNotes.value };
      if (command(frame, "wrapup", id)) wrapSubmit.disabled = true;
    });

    for (const m of contact.messages || []) addMessage(conv, m, true);
    if (!fresh) conv.unread = 0;
    updateCounts();
    return conv;
  }

  function addMessage(conv, m, initial) {
    if (!m || !m.message_id || conv.seen.has(m.message_id)) return;
    conv.seen.add(m.message_id);
    const sender = m.sender === "agent" ? "agent" : "customer";
    const bubble = el("div", {
      class: "message message-" + sender, testid: "message",
      dataset: { sender, messageId: m.message_id },
    },
      el("div", { class: "message-body", text: m.body == null ? "" : m.body }),
      el("div", { class: "message-meta" },
        sender === "agent" ? "You" : conv.name,
        m.at_ms ? " · " + formatTime(m.at_ms) : ""));
    if (typeof m.at_ms === "number") bubble.dataset.at = String(m.at_ms);

    keepScrolledToBottom(conv.transcript, () => {
      // Keep the transcript in time order even if a message arrives late.
      let before = null;
      if (typeof m.at_ms === "number") {
        for (const node of conv.transcript.querySelectorAll(".message")) {
          if (Number(node.dataset.at) > m.at_ms) { before = node; break; }
        }
      }
      conv.transcript.insertBefore(bubble, before);
    }, sender === "agent" && !initial);

    conv.preview.textContent = (sender === "agent" ? "You: " : "") + (m.body || "");
    if (!initial && sender === "customer" && state.activeId !== conv.id) {
      conv.unread += 1;
      conv.badge.textContent = String(conv.unread);
      conv.badge.hidden = false;
    }
  }

  function addSystemNote(conv, text) {
    keepScrolledToBottom(conv.transcript, () => {
      conv.transcript.append(el("div", { class: "system-note", testid: "system-note", text }));
    });
  }

  function onMessage(contactId, m) {
    const conv = state.convs.get(contactId);
    if (conv) {
      addMessage(conv, m, false);
      return;
    }
    const offer = state.offers.get(contactId);
    if (offer && m && m.sender === "customer") {
      const preview = offer.card.querySelector(".offer-preview");
      if (preview) { preview.textContent = m.body || ""; preview.hidden = false; }
      offer.contact.messages = (offer.contact.messages || []).concat([m]);
    }
  }

  function sendMessage(conv) {
    const text = conv.input.value;
    if (!text.trim() || conv.status !== "active") return;
    const frame = { type: "send", contact_id: conv.id, text, client_msg_id: randomId("m") };
    const ref = socket.send(frame, { retry: true });
    state.pending.set(ref, { kind: "send", contactId: conv.id });
    if (!socket.isOpen) {
      showError("Not connected: your message will be sent when the connection is back.", "client.offline");
    }
    conv.input.value = "";
    conv.input.focus();
  }

  function setWrapup(conv, endedBy, initial) {
    if (!conv) return;
    conv.status = "wrapup";
    conv.panel.dataset.state = "wrapup";
    conv.composer.hidden = true;
    conv.endBtn.hidden = true;
    conv.wrapForm.hidden = false;
    conv.wrapSubmit.disabled = false;
    conv.statusPill.textContent = "Wrap-up";
    conv.statusPill.className = "pill pill-wrapup";
    conv.tabState.textContent = "Wrap-up";
    conv.tabState.className = "pill pill-small pill-wrapup";
    const who = endedBy === "customer" ? "The customer ended the conversation."
      : endedBy === "agent" ? "You ended the conversation."
        : "The conversation has ended.";
    conv.wrapEndedBy.textContent = who;
    if (!initial) addSystemNote(conv, who);
    if (!initial && state.activeId === conv.id) conv.wrapSelect.focus();
  }

  function onEnded(contactId, endedBy) {
    const conv = state.convs.get(contactId);
    if (conv && conv.status === "active") setWrapup(conv, endedBy, false);
  }

  function removeConversation(id, quiet) {
    const conv = state.convs.get(id);
    if (!conv) return;
    state.convs.delete(id);
    conv.panel.remove();
    conv.tab.remove();
    if (state.activeId === id) {
      state.activeId = null;
      if (!quiet) {
        const next = state.convs.keys().next();
        activate(next.done ? null : next.value);
      }
    }
    if (!quiet) updateCounts();
  }

  function activate(id) {
    state.activeId = id && state.convs.has(id) ? id : null;
    for (const [cid, conv] of state.convs) {
      const on = cid === state.activeId;
      conv.panel.hidden = !on;
      const tabBtn = conv.tab.firstChild;
      tabBtn.classList.toggle("is-active", on);
      tabBtn.setAttribute("aria-current", on ? "true" : "false");
      if (on) {
        conv.unread = 0;
        conv.badge.hidden = true;
        conv.transcript.scrollTop = conv.transcript.scrollHeight;
      }
    }
    updateCounts();
  }

  /* ------------------------------------------------------------------ supervisor log */

  const EVENT_FIELDS = ["queue", "state", "ended_by", "sender", "disposition", "channel", "why"];

  function shortId(value) {
    const s = String(value);
    return s.length > 10 ? s.slice(0, 8) + "…" : s;
  }

  function appendEvent(event) {
    if (!event || typeof event !== "object") return;
    if (!state.agent || state.agent.role !== "supervisor") return;
    const type = String(event.type || "event");
    const parts = [];
    if (event.contact_id) parts.push(el("span", { class: "ev-field", title: String(event.contact_id) }, "contact ", el("code", { text: shortId(event.contact_id) })));
    if (event.agent_id) parts.push(el("span", { class: "ev-field", title: String(event.agent_id) }, "agent ", el("code", { text: shortId(event.agent_id) })));
    for (const key of EVENT_FIELDS) {
      const v = event[key];
      if (typeof v === "string" || typeof v === "number") {
        parts.push(el("span", { class: "ev-field" }, key + " ", el("code", { text: String(v) })));
      }
    }
    // Never message bodies or notes: only ids and small, structured fields.
    const item = el("li", { class: "event", testid: "event-entry", dataset: { type } },
      el("span", { class: "ev-time mono", text: formatTime(Number(event.at_ms) || Date.now()) }),
      el("span", { class: "ev-type", text: type }),
      el("span", { class: "ev-fields" }, ...parts));
    keepScrolledToBottom(ui.eventLog, () => {
      ui.eventLog.append(item);
      while (ui.eventLog.children.length > MAX_EVENTS) ui.eventLog.firstChild.remove();
    }, ui.eventAutoscroll.checked);
  }

  ui.eventClear.addEventListener("click", () => { ui.eventLog.textContent = ""; });

  /* ------------------------------------------------------------------ presence */

  ui.stateSelect.addEventListener("change", () => {
    const wanted = ui.stateSelect.value;
    const ref = command({ type: "set_state", state: wanted }, "state", null);
    if (!ref) ui.stateSelect.value = state.presence;
  });

  /* ------------------------------------------------------------------ login / logout */

  function resetConsole() {
    socket.stop();
    for (const id of Array.from(state.offers.keys())) removeOffer(id, null, true);
    for (const id of Array.from(state.convs.keys())) removeConversation(id, true);
    state.pending.clear();
    state.activeId = null;
    state.agent = null;
    ui.eventLog.textContent = "";
    setPresence("offline");
    hideError();
    updateCounts();
  }

  function enterConsole(agent) {
    state.agent = agent || {};
    renderAgent();
    ui.loginError.hidden = true;
    showView("console");
    updateCounts();
    updateEmptyHint();
    socket.start();
  }

  ui.loginForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    ui.loginError.hidden = true;
    const username = ui.loginUser.value.trim();
    const password = ui.loginPass.value;
    if (!username || !password) {
      ui.loginError.textContent = "Enter your username and password.";
      ui.loginError.hidden = false;
      return;
    }
    ui.loginSubmit.disabled = true;
    try {
      const res = await fetch("/api/login", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ username, password }),
      });
      let body = null;
      try { body = await res.json(); } catch (e) { body = null; }
      if (res.ok && body) {
        ui.loginPass.value = "";
        enterConsole(body.agent || body);
      } else {
        ui.loginError.textContent = (body && body.message) || ("Sign-in failed (HTTP " + res.status + ").");
        ui.loginError.hidden = false;
        ui.loginPass.select();
      }
    } catch (e) {
      ui.loginError.textContent = "Cannot reach the hub. Check your connection and try again.";
      ui.loginError.hidden = false;
    } finally {
      ui.loginSubmit.disabled = false;
    }
  });

  ui.logout.addEventListener("click", async () => {
    ui.logout.disabled = true;
    try {
      await fetch("/api/logout", { method: "POST" });
    } catch (e) {
      /* the session is dropped locally anyway */
    }
    ui.logout.disabled = false;
    resetConsole();
    showView("login");
    ui.loginPass.value = "";
    ui.loginUser.focus();
  });

  async function boot() {
    showView("loading");
    setPresence("offline");
    setConnection("stopped");
    try {
      const res = await fetch("/api/me", { cache: "no-store" });
      if (res.ok) {
        const body = await res.json();
        enterConsole(body.agent || body);
        return;
      }
    } catch (e) {
      /* fall through to the login form */
    }
    showView("login");
    ui.loginUser.focus();
  }

  boot();
})();

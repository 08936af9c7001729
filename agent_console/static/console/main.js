/* Agent console: login, presence, offers, several conversations at once, wrap-up, the
 * customer panel (who the customer is, their history, cases, notes and tags, kept live from
 * `customer_changed` frames and edited through the CRM API), the softphone (softphone.js,
 * wired in here), and (for supervisors) a live log of hub events. Speaks the /ws/agent
 * protocol of docs/protocol.md.
 *
 * Nothing here writes customer data (names, messages, notes) to the browser's console. */
"use strict";

(function () {
  const { HubSocket, ApiError, api, randomId, el, formatTime, formatDateTime, keepScrolledToBottom } = window.CC;

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
    customers: new Map(), // customer_id -> {context, loading, again}
    viewId: null, // the contact whose customer the customer panel shows
    seenChanges: new Set(), // event ids of customer_changed frames applied (at least once)
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

  /* ------------------------------------------------------------------ softphone */

  /* A call bridged for a contact the agent holds (or is accepting) is answered by itself. */
  function holdsContact(contactId) {
    if (!contactId) return false;
    const conv = state.convs.get(contactId);
    if (conv && conv.status === "active") return true;
    for (const p of state.pending.values()) {
      if (p.kind === "accept" && p.contactId === contactId) return true;
    }
    return false;
  }

  const softphone = new window.CC.Softphone({
    root: $("softphone"),
    isAccepted: holdsContact,
    describe: (contactId) => {
      const contact = contactOf(contactId);
      return contact ? customerName(contact) : null;
    },
  });

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
      case "customer_changed": return onCustomerChanged(frame);
      case "typing": return onCustomerTyping(frame);
      case "customer_presence": return onCustomerPresence(frame);
      case "read": return onCustomerRead(frame);
      case "message_status": return onMessageStatus(frame);
      case "ack": return onAck(frame.ref);
      case "error": return onError(frame);
      case "pong": return undefined;
      default:
        console.debug("unhandled frame type", String(frame.type));
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
    if (!p && frame.error_id === "chat.rate_limited") return; // a typing or read mark, dropped
    if (p && p.kind === "state" && frame.error_id === "agent.holds_work") {
      askToReleaseWork(frame);
      return;
    }
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
    // What changed about a customer while disconnected is in the snapshot's contexts.
    forgetUnusedCustomers();

    // Re-send messages not yet acknowledged (same client_msg_id: stored once).
    for (const [ref, frame] of Array.from(socket.outbox)) {
      const conv = state.convs.get(frame.contact_id);
      if (!conv || conv.status !== "active") socket.settle(ref);
    }
    socket.markHealthy();
    socket.flushOutbox();
    updateCounts();
    for (const [id, conv] of state.convs) if (conv.status === "active") softphone.contactAssigned(id);
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

    const view = el("button", {
      type: "button", class: "btn btn-ghost btn-small offer-view", testid: "offer-view",
      text: "Customer", "aria-label": "Show the customer of this offer",
      onclick: () => showCustomerOf(id),
    });
    card.querySelector(".offer-meta").append(view);

    const offer = { id, contact, deadlineAt, total, card, countdown, bar, accept, reject, view };
    state.offers.set(id, offer);
    ui.offers.append(card);
    rememberContext(contact);
    if (!state.viewId || !contactOf(state.viewId)) showCustomerOf(id);
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
    if (state.viewId === id) showCustomerOf(null);
    if (!quiet) {
      forgetUnusedCustomers();
      updateCounts();
    }
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
    rememberContext(contact);
    if (existing) {
      existing.contact.customer = contact.customer || existing.contact.customer;
      for (const m of contact.messages || []) addMessage(existing, m);
      activate(existing.id);
      return;
    }
    const conv = addConversation(contact, true);
    activate(conv.id);
    conv.input.focus();
    softphone.contactAssigned(conv.id);
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
    const typingLine = el("div", {
      class: "muted small typing-line", testid: "customer-typing", "aria-live": "polite",
    });
    typingLine.hidden = true;
    const presenceChip = el("span", {
      class: "chip chip-warn", testid: "customer-presence", dataset: { present: "true" },
      text: "Customer left the chat page",
      title: "Their page closed or lost its connection; they may come back",
    });
    presenceChip.hidden = true;

    const panel = el("article", {
      class: "conversation", testid: "conversation", dataset: { contactId: id, state: "active" },
    },
      el("header", { class: "conversation-head" },
        el("div", {},
          el("h2", { class: "conversation-title", testid: "conversation-customer", text: name }),
          el("div", { class: "conversation-meta muted" },
            el("span", { class: "chip", text: contact.queue || "" }),
            contact.channel ? el("span", { class: "chip chip-muted", text: contact.channel }) : null,
            el("span", { class: "mono small", title: "Contact id", text: id }),
            presenceChip)),
        el("div", { class: "conversation-tools" }, statusPill, endBtn)),
      transcript,
      typingLine,
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
      more: contact.more_messages === true, loadingEarlier: false, earlierBtn: null, earlierAnchor: null,
      panel, transcript, input, sendBtn, composer, endBtn, statusPill,
      wrapForm, wrapSelect, wrapNotes, wrapSubmit, wrapEndedBy,
      tab, preview, badge, tabState,
      presenceChip,
      typingLine, typingTimer: null, typingSentAt: 0, typingIdle: null, customerRead: null, readSent: null,
      earlyStatus: new Map(), // message_id -> a status frame that came before its message
    };
    state.convs.set(id, conv);
    ui.convArea.append(panel);
    ui.convList.append(tab);

    composer.addEventListener("submit", (ev) => { ev.preventDefault(); sendMessage(conv); });
    input.addEventListener("input", () => agentTyping(conv));
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
    setupEarlier(conv);
    rememberContext(contact);
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
        m.at_ms ? " · " + formatTime(m.at_ms) : "",
        sender === "agent" ? el("span", { class: "delivery-mark", testid: "delivery-mark", hidden: true }) : null));
    if (typeof m.at_ms === "number") bubble.dataset.at = String(m.at_ms);

    keepScrolledToBottom(conv.transcript, () => {
      // Keep the transcript in time order even if a message arrives late.
      // A page of earlier messages goes, in its order, above the oldest shown.
      let before = initial === "earlier" ? conv.earlierAnchor : null;
      if (!before && typeof m.at_ms === "number") {
        for (const node of conv.transcript.querySelectorAll(".message")) {
          if (Number(node.dataset.at) > m.at_ms) { before = node; break; }
        }
      }
      conv.transcript.insertBefore(bubble, before);
      // A snapshot (a reload, a reconnection) brings how far each reply got.
      if (DELIVERY[m.delivery_status]) showDelivery(bubble, m.delivery_status, m.delivery_error);
    }, sender === "agent" && !initial);

    const early = conv.earlyStatus.get(m.message_id);
    if (early) {
      conv.earlyStatus.delete(m.message_id);
      showDelivery(bubble, early.status, early.error_code);
    }
    if (initial === "earlier") { // an older page: nothing new has happened
      if (sender === "agent" && conv.customerRead) showCustomerRead(conv);
      return;
    }
    if (sender === "customer") showCustomerTyping(conv, false);
    else if (conv.customerRead) showCustomerRead(conv);
    if (sender === "customer") markRead(conv);

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

  /* Long transcripts come a page at a time (docs/protocol.md, "Long transcripts"): the
   * snapshot, offer or assignment brings the latest; earlier pages are read from the API when
   * the agent scrolls to the top or clicks "Earlier messages". */
  const EARLIER_PAGE = 50;

  function setupEarlier(conv) {
    const button = el("button", {
      type: "button", class: "btn btn-ghost btn-small earlier-messages", testid: "earlier-messages",
      text: "Earlier messages",
    });
    button.addEventListener("click", () => loadEarlier(conv));
    conv.earlierBtn = button;
    conv.transcript.prepend(button);
    button.hidden = !conv.more;
    conv.transcript.addEventListener("scroll", () => {
      if (conv.transcript.scrollTop < 40) loadEarlier(conv);
    });
  }

  async function loadEarlier(conv) {
    if (!conv.more || conv.loadingEarlier || !state.convs.has(conv.id)) return;
    const oldest = conv.transcript.querySelector(".message");
    if (!oldest) return;
    conv.loadingEarlier = true;
    conv.earlierBtn.disabled = true;
    conv.earlierBtn.textContent = "Loading earlier messages…";
    try {
      const page = await api("GET", "/api/contacts/" + encodeURIComponent(conv.id) +
        "/messages?limit=" + EARLIER_PAGE + "&before=" + encodeURIComponent(oldest.dataset.messageId));
      // Keep what the agent is looking at in place while the page goes in above it.
      const box = conv.transcript;
      const fromBottom = box.scrollHeight - box.scrollTop;
      conv.earlierAnchor = oldest;
      for (const m of page.messages || []) addMessage(conv, m, "earlier");
      conv.earlierAnchor = null;
      box.scrollTop = box.scrollHeight - fromBottom;
      conv.more = page.more === true;
    } catch (e) {
      showError("Could not load earlier messages: " + (e instanceof ApiError ? e.describe() : e.message),
        e instanceof ApiError ? e.errorId : null);
    } finally {
      conv.loadingEarlier = false;
      conv.earlierBtn.disabled = false;
      conv.earlierBtn.textContent = "Earlier messages";
      conv.earlierBtn.hidden = !conv.more;
    }
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
    if (conv.typingSentAt) sendTyping(conv, false);
    const frame = { type: "send", contact_id: conv.id, text, client_msg_id: randomId("m") };
    const ref = socket.send(frame, { retry: true });
    state.pending.set(ref, { kind: "send", contactId: conv.id });
    if (!socket.isOpen) {
      showError("Not connected: your message will be sent when the connection is back.", "client.offline");
    }
    conv.input.value = "";
    conv.input.focus();
  }

  /* ------------------------------------------------------------------ typing and read marks */

  const TYPING_REFRESH_MS = 3000; // "typing" again while still typing
  const TYPING_IDLE_MS = 4000; // no key for this long: "stopped typing"
  const TYPING_SHOWN_MS = 8000; // the customer's "typing…" goes away by itself after this

  function sendTyping(conv, active) {
    conv.typingSentAt = active ? Date.now() : 0;
    socket.send({ type: "typing", contact_id: conv.id, active });
  }

  function agentTyping(conv) {
    clearTimeout(conv.typingIdle);
    if (conv.status !== "active") return;
    if (!conv.input.value) {
      if (conv.typingSentAt) sendTyping(conv, false);
      return;
    }
    if (!conv.typingSentAt || Date.now() - conv.typingSentAt > TYPING_REFRESH_MS) sendTyping(conv, true);
    conv.typingIdle = setTimeout(() => { if (conv.typingSentAt) sendTyping(conv, false); }, TYPING_IDLE_MS);
  }

  function showCustomerTyping(conv, active) {
    clearTimeout(conv.typingTimer);
    conv.typingLine.hidden = !active || conv.status !== "active";
    if (conv.typingLine.hidden) return;
    conv.typingLine.textContent = conv.name + " is typing…";
    conv.typingTimer = setTimeout(() => { conv.typingLine.hidden = true; }, TYPING_SHOWN_MS);
  }

  /* Whether the customer's chat page is still open (web chats only; docs/protocol.md). */
  function onCustomerPresence(frame) {
    const conv = state.convs.get(frame.contact_id);
    if (!conv) return;
    const present = frame.present === true;
    conv.presenceChip.hidden = present;
    conv.presenceChip.dataset.present = present ? "true" : "false";
    if (!present) showCustomerTyping(conv, false);
  }

  function onCustomerTyping(frame) {
    const conv = state.convs.get(frame.contact_id);
    if (conv && frame.sender === "customer") showCustomerTyping(conv, frame.active === true);
  }

  /* Our messages up to the customer's read mark show as read. */
  function showCustomerRead(conv) {
    const upTo = conv.transcript.querySelector('.message[data-message-id="' + CSS.escape(conv.customerRead) + '"]');
    if (!upTo) return;
    for (const node of conv.transcript.querySelectorAll(".message")) {
      if (node.dataset.sender === "agent" && !node.dataset.read) {
        node.dataset.read = "true";
        node.querySelector(".message-meta").append(" · Read");
      }
      if (node === upTo) break;
    }
  }

  function onCustomerRead(frame) {
    const conv = state.convs.get(frame.contact_id);
    if (!conv || frame.reader !== "customer" || !frame.message_id) return;
    conv.customerRead = frame.message_id;
    showCustomerRead(conv);
  }

  /* Delivery statuses, ranked as channels/twilio_messaging_adapter.py STATUS_RANK ranks them:
   * a message's mark only moves forward, whatever order frames come in. */
  const DELIVERY = {
    accepted: [1, "Accepted", ""], scheduled: [1, "Scheduled", ""], queued: [2, "Queued", ""],
    sending: [3, "Sending", ""], sent: [4, "Sent", "✓"], delivered: [5, "Delivered", "✓✓"],
    undelivered: [5, "Not delivered", "⚠"], failed: [5, "Failed", "⚠"], canceled: [5, "Canceled", "⚠"],
    partially_delivered: [5, "Partly delivered", "✓"], read: [6, "Read", "✓✓"],
  };
  const MAX_EARLY_STATUSES = 50;

  /* A channel's news of one of our messages (an SMS queued, sent, delivered, failed...). */
  function onMessageStatus(frame) {
    const conv = state.convs.get(frame.contact_id);
    if (!conv || !frame.message_id || !DELIVERY[frame.status]) return;
    const node = conv.transcript.querySelector('.message[data-message-id="' + CSS.escape(frame.message_id) + '"]');
    if (node) showDelivery(node, frame.status, frame.error_code);
    else if (conv.earlyStatus.size < MAX_EARLY_STATUSES) {
      const known = conv.earlyStatus.get(frame.message_id);
      if (!known || DELIVERY[known.status][0] < DELIVERY[frame.status][0]) conv.earlyStatus.set(frame.message_id, frame);
    }
  }

  function showDelivery(node, status, errorCode) {
    const mark = node.querySelector(".delivery-mark");
    const known = DELIVERY[node.dataset.delivery];
    if (!mark || (known && known[0] >= DELIVERY[status][0])) return;
    const [, label, icon] = DELIVERY[status];
    const problem = icon === "⚠";
    node.dataset.delivery = status;
    node.classList.toggle("is-undelivered", problem);
    mark.className = "delivery-mark" + (problem ? " is-problem" : "");
    mark.textContent = "";
    if (icon) mark.append(el("span", { "aria-hidden": "true", text: icon + " " }));
    mark.append(label + (errorCode ? " · error " + errorCode : ""));
    mark.hidden = false;
    node.title = errorCode ? label + " (Twilio error " + errorCode + ")" : label;
  }

  /* Tell the customer how far we have read: the last of their messages, once it is on screen. */
  function markRead(conv) {
    if (state.activeId !== conv.id || document.visibilityState !== "visible" || !socket.isOpen) return;
    const nodes = conv.transcript.querySelectorAll('.message[data-sender="customer"]');
    const last = nodes.length ? nodes[nodes.length - 1].dataset.messageId : null;
    if (!last || last === conv.readSent) return;
    conv.readSent = last;
    socket.send({ type: "read", contact_id: conv.id, message_id: last });
  }

  document.addEventListener("visibilitychange", () => {
    const conv = state.activeId && state.convs.get(state.activeId);
    if (conv) markRead(conv);
  });

  function setWrapup(conv, endedBy, initial) {
    if (!conv) return;
    conv.status = "wrapup";
    conv.panel.dataset.state = "wrapup";
    clearTimeout(conv.typingIdle);
    conv.typingLine.hidden = true;
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
    if (state.viewId === id) showCustomerOf(null);
    if (!quiet) {
      forgetUnusedCustomers();
      updateCounts();
    }
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
        markRead(conv);
      }
    }
    if (state.activeId) showCustomerOf(state.activeId);
    else if (!state.viewId || !contactOf(state.viewId)) showCustomerOf(null);
    updateCounts();
  }

  /* ------------------------------------------------------------------ customer panel */

  /* The customer of the selected contact: its context (docs/crm.md) as the offer, assigned
   * and snapshot frames bring it, kept current by customer_changed frames (applied from their
   * data, or replaced by the fresh `context` a frame may carry), and re-read from the CRM API
   * when a change cannot be applied from the frame alone. Edits go through the API; their
   * answer is applied at once, and the frame that follows is recognised by its ids. */

  const MAX_NOTES = 5;
  const MAX_SEEN_CHANGES = 500;
  const OPEN_STATUSES = ["open", "pending"];

  const cp = {
    panel: $("customer-panel"),
    empty: $("customer-empty"),
    body: $("customer-body"),
    name: $("customer-name"),
    merged: $("customer-merged"),
    identity: $("customer-identity"),
    tier: $("customer-tier"),
    lifecycle: $("customer-lifecycle"),
    language: $("customer-language"),
    complaint: $("customer-complaint"),
    status: $("customer-status"),
    error: $("customer-error"),
    errorText: $("customer-error-text"),
    errorDismiss: $("customer-error-dismiss"),
    value: $("customer-value"),
    orders: $("customer-orders"),
    rfm: $("customer-rfm"),
    manager: $("customer-manager"),
    identities: $("customer-identities"),
    tags: $("customer-tags"),
    tagForm: $("tag-form"),
    tagInput: $("tag-input"),
    cases: $("customer-cases"),
    caseCount: $("customer-case-count"),
    noCases: $("customer-no-cases"),
    caseOpen: $("case-open"),
    caseForm: $("case-form"),
    caseKind: $("case-kind"),
    caseSubject: $("case-subject"),
    casePriority: $("case-priority"),
    noteForm: $("note-form"),
    noteInput: $("note-input"),
    notes: $("customer-notes"),
    noNotes: $("customer-no-notes"),
    interactions: $("customer-interactions"),
    noInteractions: $("customer-no-interactions"),
  };

  function contactOf(contactId) {
    if (!contactId) return null;
    const conv = state.convs.get(contactId);
    if (conv) return conv.contact;
    const offer = state.offers.get(contactId);
    return offer ? offer.contact : null;
  }

  function customerIdOf(contact) {
    return (contact && contact.customer && contact.customer.customer_id) || null;
  }

  function shownContacts() {
    return [...Array.from(state.offers.values(), (o) => o.contact),
      ...Array.from(state.convs.values(), (c) => c.contact)];
  }

  function customerEntry(customerId) {
    let entry = state.customers.get(customerId);
    if (!entry) {
      entry = { context: null, loading: false, again: false };
      state.customers.set(customerId, entry);
    }
    return entry;
  }

  /* Keep the context a contact object carries (the newest one wins: it was read last). */
  function rememberContext(contact) {
    const customerId = customerIdOf(contact);
    const context = contact && contact.customer && contact.customer.context;
    if (!customerId || !context || typeof context !== "object") return;
    storeContext(customerId, context);
  }

  /* `context` was read for `customerId`; a merged customer's context is its survivor's. */
  function storeContext(customerId, context) {
    const survivorId = context.customer_id || customerId;
    if (survivorId !== customerId) {
      moveContacts(customerId, survivorId);
      state.customers.delete(customerId);
    }
    const entry = customerEntry(survivorId);
    if (entry.loading) entry.again = true; // a read in flight may be older than this
    entry.context = context;
    renderCustomerIf(survivorId);
  }

  function moveContacts(fromId, toId) {
    for (const contact of shownContacts()) {
      if (customerIdOf(contact) === fromId) contact.customer.customer_id = toId;
    }
  }

  function forgetUnusedCustomers() {
    const used = new Set(shownContacts().map(customerIdOf));
    for (const customerId of Array.from(state.customers.keys())) {
      if (!used.has(customerId)) state.customers.delete(customerId);
    }
  }

  /* Read the customer afresh from the API. A change arriving meanwhile makes the answer
   * possibly stale: it is then read once more. */
  async function refreshCustomer(customerId) {
    const entry = customerEntry(customerId);
    if (entry.loading) {
      entry.again = true;
      return;
    }
    entry.loading = true;
    renderCustomerIf(customerId);
    try {
      do {
        entry.again = false;
        const context = await api("GET", "/api/customers/" + encodeURIComponent(customerId) + "/context");
        if (!entry.again && context && typeof context === "object") {
          entry.loading = false;
          storeContext(customerId, context);
        }
      } while (entry.again);
    } catch (e) {
      showCustomerError(e, "Could not read the customer");
    } finally {
      entry.loading = false;
      renderCustomerIf(customerId);
    }
  }

  /* ---- live changes */

  function onCustomerChanged(frame) {
    if (!frame || typeof frame.customer_id !== "string") return;
    if (frame.event_id) {
      if (state.seenChanges.has(frame.event_id)) return;
      state.seenChanges.add(frame.event_id);
      if (state.seenChanges.size > MAX_SEEN_CHANGES) {
        state.seenChanges.delete(state.seenChanges.values().next().value);
      }
    }
    const data = frame.data && typeof frame.data === "object" ? frame.data : {};
    const customerId = frame.customer_id;
    const used = new Set(shownContacts().map(customerIdOf));
    const mergedId = typeof data.merged_id === "string" ? data.merged_id : null;
    if (!used.has(customerId) && !(mergedId && used.has(mergedId))) return; // not shown here

    if (frame.kind === "CustomersMerged" && mergedId) {
      moveContacts(mergedId, customerId);
      state.customers.delete(mergedId);
    }
    if (frame.kind === "CustomersUnmerged" && mergedId) {
      splitAfterUnmerge(customerId, mergedId);
      return;
    }
    const entry = customerEntry(customerId);
    if (entry.loading) entry.again = true;
    let complete = false;
    if (frame.context && typeof frame.context === "object") {
      storeContext(customerId, frame.context);
      complete = true;
    } else if (entry.context) {
      complete = applyChange(entry.context, frame, data);
    }
    if (frame.agent_id !== (state.agent && state.agent.agent_id)) {
      announce(changeText(frame.kind) + " by " + (frame.agent_id ? "a colleague" : "the hub"));
    }
    renderCustomerIf(customerId);
    if (!complete) refreshCustomer(customerId);
  }

  /* Apply a change to `context` from the frame's data; false when the data is not enough
   * (the caller then reads the customer afresh). */
  function applyChange(context, frame, data) {
    switch (frame.kind) {
      case "CustomerNoteAdded": {
        const notes = (context.notes || []).filter((n) => n.note_id !== data.note_id);
        const mine = state.agent && frame.agent_id === state.agent.agent_id;
        notes.unshift({
          note_id: data.note_id, body: data.body, author_id: frame.agent_id,
          author_name: mine ? state.agent.display_name || state.agent.username : null,
          created_at_ms: frame.at_ms,
        });
        context.notes = notes.sort((a, b) => (b.created_at_ms || 0) - (a.created_at_ms || 0)).slice(0, MAX_NOTES);
        return mine || frame.agent_id == null; // a colleague's name comes with a fresh read
      }
      case "CustomerNoteDeleted": {
        const before = (context.notes || []).length;
        context.notes = (context.notes || []).filter((n) => n.note_id !== data.note_id);
        // With a note gone, an older one may belong among the latest five: read afresh.
        return before < MAX_NOTES || context.notes.length === before;
      }
      case "CustomerTagsChanged":
        if (!Array.isArray(data.tags)) return false;
        context.tags = data.tags.slice().sort();
        return true;
      case "CaseOpened": {
        const cases = (context.open_cases || []).filter((c) => c.case_id !== data.case_id);
        cases.unshift({
          case_id: data.case_id, kind: data.kind, subject: data.subject, status: "open",
          priority: data.priority, owner_id: null, due_at_ms: null, created_at_ms: frame.at_ms,
        });
        context.open_cases = cases;
        updateComplaintFlag(context);
        return true;
      }
      case "CaseUpdated": {
        const cases = context.open_cases || [];
        const known = cases.find((c) => c.case_id === data.case_id);
        if (!OPEN_STATUSES.includes(data.status)) {
          context.open_cases = cases.filter((c) => c.case_id !== data.case_id);
        } else if (known) {
          Object.assign(known, {
            status: data.status, priority: data.priority, owner_id: data.owner_id,
            due_at_ms: data.due_at_ms,
          });
        } else {
          return false; // reopened: its subject is not in the frame
        }
        updateComplaintFlag(context);
        return true;
      }
      default:
        return false; // profile, identities, account manager, merges: read afresh
    }
  }

  function updateComplaintFlag(context) {
    context.has_open_complaint = (context.open_cases || []).some(
      (c) => c.kind === "complaint" && OPEN_STATUSES.includes(c.status));
  }

  /* After an unmerge, each contact shown as the survivor's may be the merged customer's
   * again: it is, when it is among that customer's interactions. */
  async function splitAfterUnmerge(survivorId, mergedId) {
    try {
      const merged = await api("GET", "/api/customers/" + encodeURIComponent(mergedId) + "/context");
      const theirs = new Set((merged.interactions || []).map((i) => i.contact_id));
      let moved = false;
      for (const contact of shownContacts()) {
        if (customerIdOf(contact) === survivorId && theirs.has(contact.contact_id)) {
          contact.customer.customer_id = mergedId;
          moved = true;
        }
      }
      if (moved) storeContext(mergedId, merged);
    } catch (e) {
      showCustomerError(e, "Could not read the customer");
    }
    refreshCustomer(survivorId);
    announce("The customer record was split");
  }

  function changeText(kind) {
    return {
      CustomerNoteAdded: "Note added",
      CustomerNoteDeleted: "Note deleted",
      CustomerTagsChanged: "Tags changed",
      CaseOpened: "Case opened",
      CaseUpdated: "Case updated",
      CustomerUpdated: "Profile updated",
      CustomersMerged: "Customer records merged",
    }[kind] || "Customer updated";
  }

  function announce(text) {
    cp.status.textContent = text + " · " + formatTime(Date.now());
    cp.status.dataset.kind = "change";
  }

  /* ---- rendering */

  function showCustomerOf(contactId) {
    if (!contactId || !contactOf(contactId)) {
      if (state.activeId && state.convs.has(state.activeId)) contactId = state.activeId;
      else contactId = state.offers.size ? state.offers.keys().next().value : null;
    }
    if (state.viewId !== contactId) {
      cp.status.textContent = "";
      hideCustomerError();
    }
    state.viewId = contactId;
    for (const offer of state.offers.values()) {
      const on = offer.id === contactId;
      offer.card.classList.toggle("is-viewed", on);
      offer.view.setAttribute("aria-pressed", on ? "true" : "false");
    }
    renderCustomer();
  }

  function viewedCustomerId() {
    return customerIdOf(contactOf(state.viewId));
  }

  function renderCustomerIf(customerId) {
    if (viewedCustomerId() === customerId) renderCustomer();
  }

  function renderCustomer() {
    const contact = contactOf(state.viewId);
    const customerId = customerIdOf(contact);
    cp.empty.hidden = !!contact;
    cp.body.hidden = !contact;
    cp.panel.dataset.contactId = contact ? contact.contact_id : "";
    cp.panel.dataset.customerId = customerId || "";
    if (!contact) return;
    const entry = customerId ? state.customers.get(customerId) : null;
    const context = entry && entry.context;
    cp.panel.dataset.state = context ? "ready" : entry && entry.loading ? "loading" : "missing";
    cp.name.textContent = (context && context.name) || customerName(contact);
    renderIdentityProof(contact.customer || {});
    for (const form of [cp.tagForm, cp.caseForm, cp.noteForm]) {
      for (const control of form.elements) control.disabled = !context || form.dataset.busy === "1";
    }
    if (!context) {
      clearCustomerDetails();
      if (!customerId) cp.status.textContent = "No customer record for this contact.";
      else if (entry && entry.loading) {
        cp.status.textContent = "Reading the customer…";
        cp.status.dataset.kind = "loading";
      }
      else if (!entry) refreshCustomer(customerId);
      return;
    }
    if (cp.status.dataset.kind === "loading") {
      cp.status.textContent = "";
      delete cp.status.dataset.kind;
    }
    renderProfile(context);
    renderTags(context.tags || []);
    renderCases(context.open_cases || []);
    renderNotes(context.notes || []);
    renderInteractions(context.interactions || []);
  }

  /* Whether the channel proved who the customer is (docs/widget.md, "Who the visitor is"):
   * a site-signed user or a Twilio-signed number is verified; what a visitor typed is a claim. */
  function renderIdentityProof(customer) {
    const verified = customer.verified === true;
    const how = { site: "signed in on the site", twilio: "the number Twilio delivered" };
    cp.identity.textContent = verified ? "Verified" : "Identity claimed";
    cp.identity.dataset.verified = verified ? "true" : "false";
    cp.identity.className = "chip " + (verified ? "chip-ok" : "chip-warn");
    cp.identity.title = verified
      ? "Verified: " + (how[customer.verified_by] || customer.verified_by)
      : "Not verified: the name and email were typed by the customer; check before sharing account details";
  }

  function clearCustomerDetails() {
    for (const node of [cp.tier, cp.lifecycle, cp.language, cp.value, cp.orders, cp.rfm,
      cp.manager, cp.identities, cp.tags, cp.cases, cp.notes, cp.interactions]) {
      node.textContent = "";
    }
    cp.merged.hidden = true;
    cp.complaint.hidden = true;
    cp.caseCount.hidden = true;
  }

  function orDash(value) {
    return value === null || value === undefined || value === "" ? "—" : String(value);
  }

  function renderProfile(c) {
    const value = c.value || {};
    const tier = value.tier || value.tier_by_hand;
    cp.tier.textContent = tier ? "Tier: " + tier : "";
    cp.tier.dataset.tier = tier || "";
    cp.lifecycle.textContent = c.lifecycle ? c.lifecycle.replace(/_/g, " ") : "";
    cp.language.textContent = c.language || "";
    cp.complaint.hidden = !c.has_open_complaint;
    cp.merged.hidden = !c.merged_from;
    cp.merged.textContent = c.merged_from ? "Merged from another record (" + shortId(c.merged_from) + ")" : "";
    cp.value.textContent = value.value_amount != null
      ? value.value_amount + (value.value_rank ? " · rank " + value.value_rank : "") : "—";
    const orders = Number(value.order_count) || 0;
    cp.orders.textContent = orders
      ? orders + (value.last_order_at_ms ? " · last " + formatDateTime(value.last_order_at_ms) : "")
      : "None";
    const rfm = c.rfm || {};
    cp.rfm.textContent = rfm.recency == null && rfm.frequency == null && rfm.monetary == null
      ? "—" : "R " + orDash(rfm.recency) + " · F " + orDash(rfm.frequency) + " · M " + orDash(rfm.monetary);
    cp.manager.textContent = (c.account_manager && c.account_manager.display_name) || "—";
    cp.identities.textContent = "";
    for (const i of c.identities || []) {
      const flags = [i.is_primary ? null : "not primary", i.shared ? "shared" : null].filter(Boolean);
      cp.identities.append(el("li", {},
        el("span", { class: "muted", text: i.kind + " " }),
        el("span", { class: "mono", text: i.value }),
        flags.length ? el("span", { class: "chip chip-muted", text: flags.join(", ") }) : null));
    }
    if (!cp.identities.children.length) cp.identities.append(el("li", { class: "muted", text: "—" }));
  }

  function renderTags(tags) {
    cp.tags.textContent = "";
    for (const tag of tags) {
      cp.tags.append(el("li", { class: "tag", testid: "customer-tag", dataset: { tag } },
        el("span", { text: tag }),
        el("button", {
          type: "button", class: "tag-remove", testid: "tag-remove", "aria-label": "Remove tag " + tag,
          title: "Remove tag", text: "×", onclick: (ev) => removeTag(tag, ev.currentTarget),
        })));
    }
    if (!tags.length) cp.tags.append(el("li", { class: "muted small", text: "No tags." }));
  }

  function renderCases(cases) {
    cp.cases.textContent = "";
    for (const c of cases) {
      const resolve = el("button", {
        type: "button", class: "btn btn-ghost btn-small", testid: "case-resolve", text: "Resolve",
        "aria-label": "Resolve case: " + c.subject,
        onclick: (ev) => resolveCase(c.case_id, ev.currentTarget),
      });
      cp.cases.append(el("li", {
        class: "case-item case-" + c.kind, testid: "customer-case", dataset: { caseId: c.case_id, status: c.status },
      },
        el("div", { class: "case-row" },
          el("span", { class: "chip " + (c.kind === "complaint" ? "chip-danger" : "chip-muted"), text: c.kind }),
          el("strong", { class: "case-subject", text: c.subject })),
        el("div", { class: "case-row muted small" },
          el("span", { text: c.status + " · " + c.priority + " priority" +
            (c.due_at_ms ? " · due " + formatDateTime(c.due_at_ms) : "") +
            (c.created_at_ms ? " · opened " + formatDateTime(c.created_at_ms) : "") }),
          resolve)));
    }
    cp.noCases.hidden = cases.length > 0;
    cp.caseCount.hidden = cases.length === 0;
    cp.caseCount.textContent = String(cases.length);
  }

  function renderNotes(notes) {
    cp.notes.textContent = "";
    for (const n of notes.slice(0, MAX_NOTES)) {
      cp.notes.append(el("li", { class: "note", testid: "customer-note", dataset: { noteId: n.note_id } },
        el("p", { class: "note-body", text: n.body == null ? "" : n.body }),
        el("p", { class: "muted small",
          text: (n.author_name || (n.author_id ? "A colleague" : "System")) + " · " + formatDateTime(n.created_at_ms) })));
    }
    cp.noNotes.hidden = notes.length > 0;
  }

  function renderInteractions(items) {
    cp.interactions.textContent = "";
    for (const i of items.slice(0, 10)) {
      cp.interactions.append(el("li", { class: "interaction", testid: "customer-interaction", dataset: { contactId: i.contact_id } },
        el("div", { class: "case-row" },
          el("span", { class: "chip chip-muted", text: i.channel }),
          el("span", { class: "small", text: formatDateTime(i.arrived_at_ms) }),
          el("span", { class: "small muted", text: i.agent_name || "no agent" }),
          i.disposition ? el("span", { class: "chip", text: i.disposition }) : el("span", { class: "small muted", text: i.state })),
        i.summary ? el("p", { class: "interaction-summary", text: i.summary }) : null));
    }
    cp.noInteractions.hidden = items.length > 0;
  }

  /* ---- edits through the CRM API */

  function showCustomerError(e, what) {
    let text;
    if (e instanceof ApiError) {
      text = e.status === 401 ? "Your session has ended. Please sign in again." : e.describe();
      cp.error.dataset.errorId = e.errorId;
    } else {
      text = "Cannot reach the hub. Check your connection and try again.";
      cp.error.dataset.errorId = "client.offline";
    }
    cp.errorText.textContent = what + ": " + text;
    cp.error.hidden = false;
  }

  function hideCustomerError() {
    cp.error.hidden = true;
    cp.errorText.textContent = "";
  }

  cp.errorDismiss.addEventListener("click", hideCustomerError);

  /* Run one edit for the customer on view; `apply(answer, context)` folds the API's answer
   * into the context. Returns true when the edit went through. */
  async function customerEdit(form, call, apply, what) {
    const customerId = viewedCustomerId();
    if (!customerId) return false;
    hideCustomerError();
    if (form) {
      form.dataset.busy = "1";
      renderCustomer();
    }
    try {
      const answer = await call(customerId);
      const entry = state.customers.get(customerId);
      if (entry && entry.context) {
        apply(answer, entry.context);
        renderCustomerIf(customerId);
      }
      return true;
    } catch (e) {
      showCustomerError(e, what);
      return false;
    } finally {
      if (form) {
        delete form.dataset.busy;
        renderCustomer();
      }
    }
  }

  function customerPath(customerId, rest) {
    return "/api/customers/" + encodeURIComponent(customerId) + rest;
  }

  cp.tagForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const tag = cp.tagInput.value.trim();
    if (!tag) {
      showCustomerError(new ApiError(400, { message: "Type a tag first." }), "Tag not added");
      cp.tagInput.focus();
      return;
    }
    const ok = await customerEdit(cp.tagForm,
      (id) => api("POST", customerPath(id, "/tags"), { tags: [tag] }),
      (answer, context) => { context.tags = answer.tags; }, "Tag not added");
    if (ok) cp.tagInput.value = "";
    cp.tagInput.focus();
  });

  async function removeTag(tag, button) {
    button.disabled = true;
    const ok = await customerEdit(null,
      (id) => api("DELETE", customerPath(id, "/tags/" + encodeURIComponent(tag))),
      (answer, context) => { context.tags = answer.tags; }, "Tag not removed");
    if (!ok && button.isConnected) button.disabled = false;
    cp.tagInput.focus();
  }

  cp.noteForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = cp.noteInput.value;
    if (!body.trim()) {
      showCustomerError(new ApiError(400, { message: "Write the note first." }), "Note not added");
      cp.noteInput.focus();
      return;
    }
    const ok = await customerEdit(cp.noteForm,
      (id) => api("POST", customerPath(id, "/notes"), { body }),
      (note, context) => {
        const notes = (context.notes || []).filter((n) => n.note_id !== note.note_id);
        notes.unshift(note);
        context.notes = notes.slice(0, MAX_NOTES);
      }, "Note not added");
    if (ok) cp.noteInput.value = "";
    cp.noteInput.focus();
  });

  cp.noteInput.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      cp.noteForm.requestSubmit();
    }
  });

  cp.caseForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const subject = cp.caseSubject.value.trim();
    if (!subject) {
      showCustomerError(new ApiError(400, { message: "Give the case a subject." }), "Case not opened");
      cp.caseSubject.focus();
      return;
    }
    const contactId = state.viewId;
    const ok = await customerEdit(cp.caseForm,
      (id) => api("POST", "/api/cases", {
        customer_id: id, kind: cp.caseKind.value, subject, priority: cp.casePriority.value,
        contact_ids: contactId ? [contactId] : [],
      }),
      (c, context) => {
        const cases = (context.open_cases || []).filter((x) => x.case_id !== c.case_id);
        if (OPEN_STATUSES.includes(c.status)) cases.unshift(c);
        context.open_cases = cases;
        updateComplaintFlag(context);
      }, "Case not opened");
    if (ok) {
      cp.caseSubject.value = "";
      cp.casePriority.value = "normal";
      cp.caseOpen.open = false;
    }
  });

  async function resolveCase(caseId, button) {
    button.disabled = true;
    const ok = await customerEdit(null,
      () => api("PATCH", "/api/cases/" + encodeURIComponent(caseId), { status: "resolved" }),
      (c, context) => {
        context.open_cases = (context.open_cases || []).filter((x) => x.case_id !== c.case_id);
        updateComplaintFlag(context);
      }, "Case not resolved");
    if (!ok && button.isConnected) button.disabled = false;
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

  /* Going offline with conversations or wrap-ups in hand: the hub asks first (docs/routing.md,
   * "Going offline with work"). Confirmed, they go back to their queues, ahead of the line. */
  function askToReleaseWork(frame) {
    const ids = (frame.details && frame.details.contact_ids) || [];
    const question = "You still hold " + ids.length + " contact" + (ids.length === 1 ? "" : "s")
      + ". Put " + (ids.length === 1 ? "it" : "them") + " back in the queue and go offline?"
      + " (Cancel to transfer " + (ids.length === 1 ? "it" : "them") + " yourself first.)";
    if (window.confirm(question)) {
      const ref = command({ type: "set_state", state: "offline", release_work: true }, "state", null);
      if (ref) return;
    }
    setPresence(state.presence);
  }

  ui.stateSelect.addEventListener("change", () => {
    const wanted = ui.stateSelect.value;
    const ref = command({ type: "set_state", state: wanted }, "state", null);
    if (!ref) ui.stateSelect.value = state.presence;
  });

  /* ------------------------------------------------------------------ login / logout */

  function resetConsole() {
    socket.stop();
    softphone.stop();
    for (const id of Array.from(state.offers.keys())) removeOffer(id, null, true);
    for (const id of Array.from(state.convs.keys())) removeConversation(id, true);
    state.pending.clear();
    state.activeId = null;
    state.agent = null;
    state.customers.clear();
    state.seenChanges.clear();
    showCustomerOf(null);
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
    softphone.start(state.agent);
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

/* Shared helpers of the agent console and the customer chat (no build step, no dependencies).
 *
 * HubSocket: a websocket to the hub that reconnects by itself with backoff (1s, 2s, 4s ... 10s),
 * checks the `seq` continuity of server frames (a gap means a frame was missed: reconnect, the
 * next connection starts with a full snapshot/welcome), pings to detect dead connections, and
 * keeps an outbox of idempotent frames (sends carrying a client_msg_id) to re-send after a
 * reconnect until they are acknowledged.
 */
"use strict";

(function (global) {
  const BACKOFF_MS = [1000, 2000, 4000, 8000, 10000];
  const PING_EVERY_MS = 20000;
  const DEAD_AFTER_MS = 50000;

  function randomId(prefix) {
    let raw;
    if (global.crypto && typeof global.crypto.randomUUID === "function") {
      raw = global.crypto.randomUUID().replace(/-/g, "");
    } else if (global.crypto && global.crypto.getRandomValues) {
      const bytes = new Uint8Array(16);
      global.crypto.getRandomValues(bytes);
      raw = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    } else {
      raw = Math.random().toString(16).slice(2) + Date.now().toString(16);
    }
    return (prefix || "") + raw;
  }

  function wsUrl(path) {
    const scheme = global.location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + global.location.host + path;
  }

  /* Create an element: el("div", {class: "x", dataset: {testid: "y"}, text: "..."}, child...).
   * Text only ever goes through textContent: message bodies are never parsed as HTML. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "text") node.textContent = String(value);
      else if (key === "class") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key === "testid") node.setAttribute("data-testid", value);
      else if (key.startsWith("on") && typeof value === "function") {
        node.addEventListener(key.slice(2), value);
      } else if (value === true) node.setAttribute(key, "");
      else node.setAttribute(key, String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function formatTime(ms) {
    if (typeof ms !== "number" || !isFinite(ms)) return "";
    const d = new Date(ms);
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  /* Date and time, short ("12 Mar, 14:05"); the year too when it is not this year's. */
  function formatDateTime(ms) {
    if (typeof ms !== "number" || !isFinite(ms)) return "";
    const d = new Date(ms);
    const opts = { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" };
    if (d.getFullYear() !== new Date().getFullYear()) opts.year = "numeric";
    return d.toLocaleString([], opts);
  }

  /* A refusal of the hub's REST API: its stable `error_id`, `message` and `details`. */
  class ApiError extends Error {
    constructor(status, body) {
      const b = body && typeof body === "object" ? body : {};
      super(b.message || "The hub answered HTTP " + status + ".");
      this.name = "ApiError";
      this.status = status;
      this.errorId = b.error_id || "http." + status;
      this.details = b.details && typeof b.details === "object" ? b.details : {};
    }

    /* The message with the fields it names, for a person to read. */
    describe() {
      const errors = Array.isArray(this.details.errors) ? this.details.errors : [];
      const parts = errors.map((e) => {
        if (!e || typeof e !== "object") return String(e);
        const what = e.message || e.problem || "";
        return e.field ? e.field + ": " + what : what;
      }).filter(Boolean);
      return parts.length ? this.message + " (" + parts.join("; ") + ")" : this.message;
    }
  }

  /* Call the hub's REST API with the session cookie; resolves to the JSON answer, rejects
   * with an ApiError (HTTP refusals) or a TypeError (the hub cannot be reached). */
  async function api(method, path, body) {
    const init = { method, cache: "no-store", credentials: "same-origin", headers: {} };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    let answer = null;
    try { answer = await res.json(); } catch (e) { answer = null; }
    if (!res.ok) throw new ApiError(res.status, answer);
    return answer;
  }

  /* Scroll `box` to the bottom if it was (nearly) at the bottom before `change` ran. */
  function keepScrolledToBottom(box, change, force) {
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    change();
    if (atBottom || force) box.scrollTop = box.scrollHeight;
  }

  class HubSocket {
    /* options:
     *   path: "/ws/agent" or "/ws/chat"
     *   onOpen(socket): the connection is open (send hello here)
     *   onFrame(frame): every server frame, in order, after the seq check
     *   onStatus(state, detail): "connecting" | "connected" | "reconnecting" | "stopped"
     *   beforeReconnect(): async, resolve false to stop reconnecting (e.g. session gone)
     */
    constructor(options) {
      this.options = options;
      this.ws = null;
      this.expectedSeq = 1;
      this.attempt = 0;
      this.timer = null;
      this.pingTimer = null;
      this.lastFrameAt = 0;
      this.running = false;
      this.outbox = new Map(); // ref -> frame, re-sent after a reconnect until acked
      this._onOnline = () => {
        if (this.running && (!this.ws || this.ws.readyState > 1)) this._connectNow();
      };
    }

    start() {
      if (this.running) return;
      this.running = true;
      this.attempt = 0;
      global.addEventListener("online", this._onOnline);
      this._connectNow();
    }

    stop() {
      this.running = false;
      global.removeEventListener("online", this._onOnline);
      clearTimeout(this.timer);
      clearInterval(this.pingTimer);
      this.timer = null;
      this.outbox.clear();
      const ws = this.ws;
      this.ws = null;
      if (ws) {
        ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
        try { ws.close(1000, "bye"); } catch (e) { /* already closed */ }
      }
      this._status("stopped");
    }

    /* Drop the current connection and open a fresh one right away. */
    restart() {
      this.stop();
      this.start();
    }

    get isOpen() {
      return !!this.ws && this.ws.readyState === WebSocket.OPEN;
    }

    /* Send a frame; returns its ref, or null when not connected. */
    send(frame, opts) {
      const ref = frame.ref || randomId("r");
      const full = Object.assign({}, frame, { ref });
      if (opts && opts.retry) this.outbox.set(ref, full);
      if (!this.isOpen) return opts && opts.retry ? ref : null;
      this.ws.send(JSON.stringify(full));
      return ref;
    }

    /* Re-send the unacknowledged idempotent frames (call once the connection is ready). */
    flushOutbox() {
      if (!this.isOpen) return;
      for (const frame of this.outbox.values()) this.ws.send(JSON.stringify(frame));
    }

    settle(ref) {
      if (ref) this.outbox.delete(ref);
    }

    /* The connection works (snapshot/welcome received): the backoff starts over. */
    markHealthy() {
      this.attempt = 0;
      this._status("connected");
    }

    _status(state, detail) {
      if (this.options.onStatus) this.options.onStatus(state, detail);
    }

    _connectNow() {
      clearTimeout(this.timer);
      this.timer = null;
      if (!this.running) return;
      if (this.ws && this.ws.readyState <= WebSocket.OPEN) return; // already connecting/open
      this.expectedSeq = 1;
      this._status("connecting");
      let ws;
      try {
        ws = new WebSocket(wsUrl(this.options.path));
      } catch (e) {
        this._scheduleReconnect();
        return;
      }
      this.ws = ws;
      ws.onopen = () => {
        this.lastFrameAt = Date.now();
        clearInterval(this.pingTimer);
        this.pingTimer = setInterval(() => this._heartbeat(), PING_EVERY_MS);
        if (this.options.onOpen) this.options.onOpen(this);
      };
      ws.onmessage = (ev) => this._onMessage(ws, ev);
      ws.onerror = () => { /* onclose follows */ };
      ws.onclose = (ev) => {
        if (this.ws !== ws) return;
        this.ws = null;
        clearInterval(this.pingTimer);
        this._scheduleReconnect(ev.code);
      };
    }

    _heartbeat() {
      if (!this.isOpen) return;
      if (Date.now() - this.lastFrameAt > DEAD_AFTER_MS) {
        this._drop(4000, "no answer");
        return;
      }
      this.ws.send(JSON.stringify({ type: "ping" }));
    }

    _drop(code, reason) {
      const ws = this.ws;
      if (!ws) return;
      this.ws = null;
      clearInterval(this.pingTimer);
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try { ws.close(code, reason); } catch (e) { /* ignore */ }
      this._scheduleReconnect(code);
    }

    _onMessage(ws, ev) {
      if (this.ws !== ws) return;
      this.lastFrameAt = Date.now();
      let frame;
      try {
        frame = JSON.parse(ev.data);
      } catch (e) {
        // Never the frame itself: it may hold what a customer said.
        console.warn("hub sent a frame that is not JSON");
        return;
      }
      if (!frame || typeof frame !== "object") return;
      if (typeof frame.seq === "number") {
        if (frame.seq !== this.expectedSeq) {
          console.warn("seq gap: expected", this.expectedSeq, "got", frame.seq, "- reconnecting");
          this.attempt = 0; // a gap is not a failure of the server: come back at once-ish
          this._drop(4001, "seq gap");
          return;
        }
        this.expectedSeq = frame.seq + 1;
      }
      if (frame.type === "ack" || frame.type === "error") this.settle(frame.ref);
      try {
        this.options.onFrame(frame);
      } catch (e) {
        console.error("error handling a frame of type", String(frame.type), e);
      }
    }

    async _scheduleReconnect(code) {
      clearTimeout(this.timer);
      if (!this.running) return;
      const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
      this.attempt += 1;
      this._status("reconnecting", { delayMs: delay, code });
      if (this.options.beforeReconnect) {
        let keepGoing = true;
        try {
          keepGoing = await this.options.beforeReconnect(code);
        } catch (e) {
          keepGoing = true;
        }
        if (!keepGoing) {
          this.stop();
          return;
        }
        if (!this.running) return;
      }
      this.timer = setTimeout(() => this._connectNow(), delay);
    }
  }

  global.CC = {
    HubSocket, ApiError, api, randomId, el, formatTime, formatDateTime, keepScrolledToBottom, wsUrl,
  };
})(window);

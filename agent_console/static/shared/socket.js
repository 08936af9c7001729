/* The websocket to the hub that the agent console and the customer chat share (no build step,
 * no dependencies).
 *
 * HubSocket: a websocket to the hub that reconnects by itself with backoff (1s, 2s, 4s ... 10s),
 * checks the `seq` continuity of server frames (a gap means a frame was missed: reconnect, the
 * next connection starts with a full snapshot/welcome), pings to detect dead connections, and
 * keeps an outbox of idempotent frames (sends carrying a client_msg_id) to re-send after a
 * reconnect until they are acknowledged.
 */

const BACKOFF_MS = [1000, 2000, 4000, 8000, 10000];
const PING_EVERY_MS = 20000;
const DEAD_AFTER_MS = 50000;

export function randomId(prefix) {
  let raw;
  if (window.crypto && typeof window.crypto.randomUUID === "function") {
    raw = window.crypto.randomUUID().replace(/-/g, "");
  } else if (window.crypto && window.crypto.getRandomValues) {
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    raw = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  } else {
    raw = Math.random().toString(16).slice(2) + Date.now().toString(16);
  }
  return (prefix || "") + raw;
}

export function wsUrl(path) {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  return scheme + "//" + window.location.host + path;
}

export class HubSocket {
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
    window.addEventListener("online", this._onOnline);
    this._connectNow();
  }

  stop() {
    this.running = false;
    window.removeEventListener("online", this._onOnline);
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

/* The connection to the hub's /ws/chat (docs/protocol.md), kept up while `running`: a hello
 * on every open, a ping every 20 s and a reconnect when nothing came for 50 s, backoff between
 * attempts (1, 2, 4, 8, 15, 30 s, jittered; `notBefore` when a rate limit asked us to wait),
 * and a reconnect at once when a frame's `seq` shows one was missed: the next welcome has all.
 * Knows nothing of the page; `handlers` are
 *   hello()                   the hello frame to send on each open,
 *   onFrame(frame)            each frame, in order,
 *   onConnection(kind, ms)    "connecting" | "reconnecting" (in ms) | "stopped",
 *   onLost()                  the connection went. */

const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000, 30000];
const PING_EVERY_MS = 20000;
const DEAD_AFTER_MS = 50000;

export function createSocket(url, handlers) {
  return {
    ws: null,
    running: false,
    ready: false, // welcomed: frames may go (set by whoever reads the welcome)
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
      handlers.onConnection("stopped");
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
      handlers.onConnection(this.attempt ? "reconnecting" : "connecting");
      let ws;
      try {
        ws = new WebSocket(url);
      } catch (e) {
        this.retry();
        return;
      }
      this.ws = ws;
      ws.onopen = () => {
        this.lastFrameAt = Date.now();
        clearInterval(this.pingTimer);
        this.pingTimer = setInterval(() => this.heartbeat(), PING_EVERY_MS);
        ws.send(JSON.stringify(handlers.hello()));
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
      handlers.onLost();
      this.retry();
    },

    retry() {
      if (!this.running) return;
      const base = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
      this.attempt += 1;
      const delay = Math.max(base * (0.8 + Math.random() * 0.4), this.notBefore - Date.now());
      handlers.onConnection("reconnecting", delay);
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
        handlers.onFrame(frame);
      } catch (e) {
        console.error("chat widget: error handling a frame of type", String(frame.type), e);
      }
    },
  };
}

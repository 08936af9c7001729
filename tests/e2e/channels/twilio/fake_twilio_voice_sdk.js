/* A test double of the Twilio Voice JavaScript SDK (npm @twilio/voice-sdk v2, its browser
 * bundle dist/twilio.min.js), as tests/support/fake_twilio.py is a fake of Twilio's REST API.
 * The browser tests serve it at the configured `voice.softphone_sdk_url`: nothing reaches
 * the internet, and no media flows.
 *
 * It defines what the bundle defines and the console uses, with the same names (checked
 * against the package's es5/twilio/device.d.ts and call.d.ts):
 *   Twilio.Device(token, options): register(), unregister(), updateToken(token), destroy(),
 *     state, token, calls; events registering, registered, unregistered, error (a
 *     TwilioError-like {code, message}), incoming (a Call), tokenWillExpire (the Device),
 *     destroyed. Like the SDK's, Device and Call are event emitters (on, once, off,
 *     removeListener, emit).
 *   Twilio.Call: accept(), reject(), ignore(), disconnect(), mute(bool), isMuted(), status(),
 *     customParameters (a Map), parameters ({CallSid, From, To}), direction; events accept,
 *     reject, cancel, disconnect, mute (isMuted, call), error.
 *
 * And what the tests need, on `TwilioVoiceSdkDouble`: `log`, every call the page made into
 * the SDK in order ({what, ...}); `incoming({contactId, from})` to ring the latest registered
 * Device (returns the CallSid); `hangUp(sid)` (the far end hangs up), `cancel(sid)` (the caller
 * gives up before an answer), `tokenWillExpire()`, `fail(code, message)` (a Device error);
 * `calls` by CallSid; `watch`, a function the test may set: each entry logged from then on
 * keeps what it answered at that moment as `watched` (e.g. whether the page showed something
 * when it accepted a call). */
"use strict";

(function (root) {
  const log = [];
  const devices = [];
  const calls = new Map();

  function record(what, details) {
    const entry = Object.assign({ what, at_ms: Date.now() }, details || {});
    const watch = root.TwilioVoiceSdkDouble && root.TwilioVoiceSdkDouble.watch;
    if (typeof watch === "function") entry.watched = watch();
    log.push(entry);
  }

  function later(fn) {
    setTimeout(fn, 0); // as the SDK, events come after the call that caused them returns
  }

  class Emitter {
    constructor() { this._listeners = new Map(); }
    on(name, fn) {
      if (!this._listeners.has(name)) this._listeners.set(name, []);
      this._listeners.get(name).push(fn);
      return this;
    }
    addListener(name, fn) { return this.on(name, fn); }
    once(name, fn) {
      const wrapped = (...args) => { this.removeListener(name, wrapped); fn(...args); };
      return this.on(name, wrapped);
    }
    removeListener(name, fn) {
      const list = this._listeners.get(name) || [];
      const i = list.indexOf(fn);
      if (i >= 0) list.splice(i, 1);
      return this;
    }
    off(name, fn) { return this.removeListener(name, fn); }
    removeAllListeners(name) {
      if (name === undefined) this._listeners.clear();
      else this._listeners.delete(name);
      return this;
    }
    emit(name, ...args) {
      const list = (this._listeners.get(name) || []).slice();
      for (const fn of list) fn(...args);
      return list.length > 0;
    }
  }

  function randomSid(prefix) {
    const hex = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0"));
    return prefix + hex.join("");
  }

  class Call extends Emitter {
    constructor(device, { contactId, from, to }) {
      super();
      this._device = device;
      this._status = "pending";
      this._muted = false;
      this.direction = "INCOMING";
      this.parameters = { CallSid: randomSid("CA"), From: from || "", To: "client:" + device._identity };
      if (to) this.parameters.To = to;
      this.customParameters = new Map(contactId ? [["contact_id", contactId]] : []);
    }
    get sid() { return this.parameters.CallSid; }
    status() { return this._status; }
    isMuted() { return this._muted; }
    accept(options) {
      record("accept", { call: this.sid, options: options || null });
      if (this._status !== "pending") return;
      this._status = "open";
      later(() => this.emit("accept", this));
    }
    reject() {
      record("reject", { call: this.sid });
      if (this._status !== "pending") return;
      this._status = "closed";
      later(() => this.emit("reject"));
    }
    ignore() {
      record("ignore", { call: this.sid });
    }
    disconnect() {
      record("disconnect", { call: this.sid });
      this._close();
    }
    mute(shouldMute) {
      const muted = shouldMute === undefined ? true : !!shouldMute;
      record("mute", { call: this.sid, muted });
      if (muted === this._muted) return;
      this._muted = muted;
      later(() => this.emit("mute", muted, this));
    }
    _close() {
      if (this._status === "closed") return;
      this._status = "closed";
      later(() => this.emit("disconnect", this));
    }
  }

  class Device extends Emitter {
    constructor(token, options) {
      super();
      if (typeof token !== "string") throw new TypeError("Parameter \"token\" must be of type \"string\".");
      this._token = token;
      this._options = options || {};
      this._state = "unregistered";
      this._identity = identityOf(token);
      devices.push(this);
      record("device", { token, options: this._options, identity: this._identity });
    }
    static get version() { return "double"; }
    get state() { return this._state; }
    get token() { return this._token; }
    get identity() { return this._identity; }
    get calls() { return Array.from(calls.values()).filter((c) => c._device === this && c._status !== "closed"); }
    register() {
      record("register");
      this._state = "registering";
      this.emit("registering");
      return new Promise((resolve) => later(() => {
        if (this._state !== "registering") return resolve();
        this._state = "registered";
        this.emit("registered");
        resolve();
      }));
    }
    unregister() {
      record("unregister");
      const was = this._state;
      this._state = "unregistered";
      if (was === "registered") later(() => this.emit("unregistered"));
      return Promise.resolve();
    }
    updateToken(token) {
      record("updateToken", { token });
      this._token = token;
    }
    destroy() {
      record("destroy");
      for (const call of this.calls) call._close();
      const was = this._state;
      this._state = "destroyed";
      later(() => {
        if (was === "registered") this.emit("unregistered");
        this.emit("destroyed");
      });
    }
  }

  /* The grant's identity of an access token (a JWT), as Twilio registers the Device. */
  function identityOf(token) {
    try {
      const body = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(body)).grants.identity || null;
    } catch (e) {
      return null;
    }
  }

  function registered() {
    const device = devices.filter((d) => d._state === "registered").pop();
    if (!device) throw new Error("no registered Device to ring");
    return device;
  }

  function call(sid) {
    const found = calls.get(sid);
    if (!found) throw new Error("no call " + sid);
    return found;
  }

  root.Twilio = Object.assign(root.Twilio || {}, { Device, Call });
  root.TwilioVoiceSdkDouble = {
    log,
    watch: null,
    devices,
    calls,
    incoming(options) {
      const device = registered();
      const ringing = new Call(device, options || {});
      calls.set(ringing.sid, ringing);
      device.emit("incoming", ringing);
      return ringing.sid;
    },
    hangUp(sid) {
      call(sid)._close();
    },
    cancel(sid) {
      const ringing = call(sid);
      if (ringing._status !== "pending") throw new Error("only a ringing call can be cancelled");
      ringing._status = "closed";
      ringing.emit("cancel");
    },
    tokenWillExpire() {
      const device = registered();
      device.emit("tokenWillExpire", device);
    },
    fail(code, message) {
      const device = devices[devices.length - 1];
      device.emit("error", { code, message, name: "TwilioError" });
    },
  };
})(globalThis);

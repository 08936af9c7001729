/* The agent console's softphone: the browser as the agent's phone, through the Twilio Voice
 * JavaScript SDK (npm @twilio/voice-sdk v2: the global `Twilio.Device`, loaded by
 * twilio_sdk.js), as docs/channels.md ("The softphone") describes; phone.js wires it to the
 * console.
 *
 * Where the agent takes calls is read from GET /api/agents/{id}/voice ("client": here; else a
 * phone number) and changed with PUT on the same path. On "client" the softphone gets a token
 * from GET /api/voice/token (503 `twilio.softphone_off`: this hub has no softphone, shown as
 * "off", not as an error), loads the SDK from the `sdk_url` that answer names, and registers
 * a Device. A call the hub bridges for a contact the agent accepted carries that contact's id
 * as the custom parameter `contact_id` and is answered by itself; any other call rings, with
 * Answer and Decline. One call at a time: another is rejected, except the accepted contact's
 * call, which replaces a stray call still ringing (and waits for its contact when it comes
 * before the console has it). The token is renewed on the Device's `tokenWillExpire`.
 *
 * The panel's data-state: off, phone, connecting, ready, ringing, on-call, muted, error.
 * Nothing here writes phone numbers or customer data to the browser's console. */

import { api, ApiError } from "../shared/api.js";
import { loadSdk, errorText } from "./twilio_sdk.js";

const CONTACT_PARAMETER = "contact_id"; // channels/twilio_voice_twiml.py CONTACT_PARAMETER
const SOFTPHONE_OFF = "twilio.softphone_off";
const RENEW_RETRY_MS = [2000, 5000, 10000]; // then the softphone shows the failure
const LABELS = {
  off: "Softphone off",
  phone: "Calls ring on your phone",
  connecting: "Connecting the softphone…",
  ready: "Softphone ready",
  ringing: "Incoming call",
  "on-call": "On call",
  muted: "On call · muted",
  error: "Softphone error",
};

export class Softphone {
  /* root: the panel (console.html #softphone). isAccepted(contactId): whether the agent
   * accepted (or is accepting) that contact. describe(contactId): its customer's name. */
  constructor({ root, isAccepted, describe }) {
    const part = (name) => root.querySelector('[data-testid="' + name + '"]');
    this.ui = {
      root, status: part("softphone-status"), detail: part("softphone-detail"),
      error: part("softphone-error"), answer: part("softphone-answer"),
      decline: part("softphone-decline"), mute: part("softphone-mute"),
      hangup: part("softphone-hangup"), retry: part("softphone-retry"),
      form: part("voice-to-form"), client: part("voice-to-client"), phone: part("voice-to-phone"),
      number: part("voice-to-number"), save: part("voice-to-save"), formError: part("voice-to-error"),
    };
    this.isAccepted = isAccepted;
    this.describe = describe;
    this.agentId = null;
    this.voiceTo = null;
    this.base = "off"; // the state when there is no call
    this.visible = false; // shown once there is something to show
    this.device = null;
    this.call = null; // the one call at a time: ringing, being answered, or open
    this.callState = null; // "ringing", "answering", "open"
    this.callContact = null;
    // A call for a contact the console does not have yet, come while a stray call rings:
    // {call, contactId}, unanswered until that contact comes (see onIncoming).
    this.waiting = null;
    this.run = 0; // each start or switch: late answers of an earlier one are dropped
    this.bindControls();
  }

  bindControls() {
    const ui = this.ui;
    ui.answer.addEventListener("click", () => this.answer());
    ui.decline.addEventListener("click", () => this.decline());
    ui.mute.addEventListener("click", () => this.toggleMute());
    ui.hangup.addEventListener("click", () => this.hangUp());
    ui.retry.addEventListener("click", () => {
      if (this.voiceTo) this.applyRoute(this.voiceTo);
      else this.start({ agent_id: this.agentId });
    });
    ui.client.addEventListener("change", () => this.renderForm());
    ui.phone.addEventListener("change", () => {
      this.renderForm();
      ui.number.focus();
    });
    ui.number.addEventListener("input", () => { ui.phone.checked = true; });
    ui.form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.saveRoute();
    });
  }

  /* ------------------------------------------------------------ lifecycle */

  async start(agent) {
    this.stop();
    this.agentId = agent && agent.agent_id;
    if (!this.agentId) return;
    const run = this.run;
    this.setBase("connecting");
    try {
      const answer = await api("GET", this.routePath());
      if (run === this.run) this.applyRoute(answer.voice_to);
    } catch (e) {
      if (run !== this.run) return;
      this.visible = true;
      this.setBase("error", errorText(e, "Could not read where your calls ring"));
    }
  }

  stop() {
    this.run += 1;
    this.teardown();
    this.voiceTo = null;
    this.visible = false;
    this.hideFormError();
    this.setBase("off");
  }

  routePath() {
    return "/api/agents/" + encodeURIComponent(this.agentId) + "/voice";
  }

  applyRoute(voiceTo) {
    this.run += 1;
    this.voiceTo = voiceTo;
    this.teardown();
    this.renderForm(true);
    if (voiceTo === "client") this.connect(this.run);
    else {
      this.visible = true;
      this.setBase("phone");
    }
  }

  /* The Device: a token, the SDK, then registration. */
  async connect(run) {
    this.setBase("connecting");
    let answer;
    try {
      answer = await api("GET", "/api/voice/token");
      await loadSdk(answer.sdk_url);
    } catch (e) {
      if (run !== this.run) return;
      // No Twilio account at all (`voice` false): no call can come, so no phone panel.
      this.visible = !(e instanceof ApiError && e.details.voice === false);
      if (e instanceof ApiError && e.errorId === SOFTPHONE_OFF) this.setBase("off");
      else this.setBase("error", errorText(e, answer ? "Could not load the Twilio Voice SDK" : "Could not get a softphone token"));
      return;
    }
    if (run !== this.run) return;
    this.visible = true;
    this.render();
    this.register(answer);
  }

  register(answer) {
    const ttlMs = Math.max(60, Number(answer.ttl_s) || 3600) * 1000;
    const device = new window.Twilio.Device(answer.token, {
      closeProtection: true, // the browser asks before leaving the page during a call
      codecPreferences: ["opus", "pcmu"],
      tokenRefreshMs: Math.min(60000, ttlMs / 4), // time enough to fetch the next token
      appName: "contactcenter-console",
    });
    this.device = device;
    const mine = (fn) => (...args) => { if (this.device === device) fn(...args); };
    device.on("registered", mine(() => this.setBase("ready")));
    device.on("unregistered", mine(() => this.setBase("connecting")));
    device.on("error", mine((error) => this.onDeviceError(error)));
    device.on("incoming", mine((call) => this.onIncoming(call)));
    device.on("tokenWillExpire", mine(() => this.renewToken(device, 0)));
    Promise.resolve(device.register()).catch(mine((e) => {
      this.setBase("error", errorText(e, "Could not register the softphone"));
    }));
  }

  async renewToken(device, attempt) {
    try {
      const answer = await api("GET", "/api/voice/token");
      if (this.device === device) device.updateToken(answer.token);
    } catch (e) {
      if (this.device !== device) return;
      if (attempt < RENEW_RETRY_MS.length) {
        setTimeout(() => this.renewToken(device, attempt + 1), RENEW_RETRY_MS[attempt]);
      } else {
        this.setBase("error", errorText(e, "Could not renew the softphone token"));
      }
    }
  }

  onDeviceError(error) {
    // https://www.twilio.com/docs/api/errors/20104: the access token expired; fetch another.
    if (error && error.code === 20104) {
      this.renewToken(this.device, 0);
      return;
    }
    const text = errorText(error, "The softphone failed");
    if (this.call) this.showError(text); // the call goes on: say so, keep its controls
    else this.setBase("error", text);
  }

  teardown() {
    const device = this.device;
    const call = this.call;
    const waiting = this.waiting;
    this.device = null;
    this.waiting = null;
    if (waiting) {
      try { waiting.call.reject(); } catch (e) { /* over already */ }
    }
    this.endCall(call);
    if (call) {
      try { call.disconnect(); } catch (e) { /* over already */ }
    }
    if (device) {
      try { device.destroy(); } catch (e) { /* gone already */ }
    }
  }

  /* ------------------------------------------------------------ calls */

  onIncoming(call) {
    const params = call.customParameters;
    const contactId = (params && typeof params.get === "function" && params.get(CONTACT_PARAMETER)) || null;
    const bridge = !!contactId && this.isAccepted(contactId);
    if (this.call) {
      // One call at a time; the call of a contact the agent accepted wins over a stray one
      // still ringing.
      if (bridge && this.strayRinging()) {
        this.replaceWith(call, contactId);
        return;
      }
      // A call for a contact the console does not have yet may be the bridge of one the
      // agent just accepted, its `assigned` frame still on the way: it waits, unanswered,
      // for that contact (contactAssigned), or for the stray call to end.
      if (contactId && !bridge && !this.waiting && this.strayRinging()) {
        this.waiting = { call, contactId };
        const gone = () => { if (this.waiting && this.waiting.call === call) this.waiting = null; };
        for (const name of ["disconnect", "cancel", "reject"]) call.on(name, gone);
        return;
      }
      call.reject();
      return;
    }
    this.take(call, contactId);
  }

  /* The current call rings, and is not the call of a contact the agent accepted. */
  strayRinging() {
    return !!this.call && this.callState === "ringing" && !this.isAccepted(this.callContact);
  }

  /* The stray call ringing is rejected; `call`, of an accepted contact, is answered. */
  replaceWith(call, contactId) {
    const old = this.call;
    this.endCall(old, true);
    old.reject();
    this.take(call, contactId);
  }

  /* `call` becomes the current call: answered if its contact is accepted, else it rings. */
  take(call, contactId) {
    this.call = call;
    this.callContact = contactId;
    this.callState = "ringing";
    this.hideError();
    const mine = (fn) => (...args) => { if (this.call === call) fn(...args); };
    call.on("accept", mine(() => { this.callState = "open"; this.render(); }));
    call.on("mute", mine(() => this.render()));
    call.on("error", mine((error) => this.showError(errorText(error, "The call failed"))));
    for (const name of ["disconnect", "cancel", "reject"]) call.on(name, () => this.endCall(call));
    if (contactId && this.isAccepted(contactId)) this.answer();
    else this.render();
  }

  /* The console took a contact: a call for it already ringing, or waiting, is answered. */
  contactAssigned(contactId) {
    if (this.call && this.callState === "ringing" && this.callContact === contactId) {
      this.answer();
      return;
    }
    const waiting = this.waiting;
    if (!waiting || waiting.contactId !== contactId) return;
    this.waiting = null;
    if (this.strayRinging()) this.replaceWith(waiting.call, contactId);
    else if (this.call) waiting.call.reject(); // the agent answered another call meanwhile
    else this.take(waiting.call, contactId);
  }

  answer() {
    if (!this.call || this.callState !== "ringing") return;
    this.callState = "answering";
    const waiting = this.waiting; // on a call now: one call at a time
    this.waiting = null;
    if (waiting) waiting.call.reject();
    this.render();
    this.call.accept();
  }

  decline() {
    const call = this.call;
    if (!call || this.callState !== "ringing") return;
    this.endCall(call);
    call.reject();
  }

  hangUp() {
    const call = this.call;
    if (!call) return;
    this.endCall(call);
    call.disconnect();
  }

  toggleMute() {
    if (!this.call || this.callState === "ringing") return;
    this.call.mute(!this.call.isMuted());
    this.render();
  }

  /* `call` is over: a call waiting rings in its place, unless `replaced` (by another). */
  endCall(call, replaced) {
    if (!call || this.call !== call) return;
    this.call = null;
    this.callState = null;
    this.callContact = null;
    const waiting = this.waiting;
    if (waiting && !replaced) {
      this.waiting = null;
      this.take(waiting.call, waiting.contactId);
    } else {
      this.render();
    }
  }

  /* ------------------------------------------------------------ where calls ring */

  async saveRoute() {
    const ui = this.ui;
    const wanted = ui.client.checked ? "client" : ui.number.value.trim();
    if (!wanted) {
      this.showFormError("Enter the phone number your calls should ring on.", "client.no_number");
      ui.number.focus();
      return;
    }
    this.hideFormError();
    ui.save.disabled = true;
    const run = this.run;
    try {
      const answer = await api("PUT", this.routePath(), { voice_to: wanted });
      if (run === this.run) this.applyRoute(answer.voice_to);
    } catch (e) {
      const text = e instanceof ApiError ? e.describe() : "Cannot reach the hub. Try again.";
      this.showFormError("Not changed: " + text, e instanceof ApiError ? e.errorId : "client.offline");
    } finally {
      ui.save.disabled = false;
      this.renderForm();
    }
  }

  /* The form as it is, or (reset) as the agent's route is. */
  renderForm(reset) {
    const ui = this.ui;
    if (reset) {
      const phone = !!this.voiceTo && this.voiceTo !== "client";
      ui.client.checked = !phone;
      ui.phone.checked = phone;
      ui.number.value = phone ? this.voiceTo : "";
    }
    const locked = !!this.call || !this.agentId; // never move calls away mid-call
    for (const control of ui.form.elements) control.disabled = locked;
  }

  showFormError(text, errorId) {
    this.ui.formError.textContent = text;
    this.ui.formError.dataset.errorId = errorId;
    this.ui.formError.hidden = false;
  }

  hideFormError() {
    this.ui.formError.hidden = true;
    this.ui.formError.textContent = "";
    delete this.ui.formError.dataset.errorId;
  }

  /* ------------------------------------------------------------ rendering */

  setBase(base, error) {
    this.base = base;
    if (error) this.showError(error);
    else this.hideError();
    this.render();
  }

  showError(text) {
    this.ui.error.textContent = text;
    this.ui.error.hidden = false;
  }

  hideError() {
    this.ui.error.hidden = true;
    this.ui.error.textContent = "";
  }

  state() {
    if (!this.call) return this.base;
    if (this.callState === "ringing") return "ringing";
    return this.call.isMuted() ? "muted" : "on-call";
  }

  render() {
    const ui = this.ui;
    const state = this.state();
    ui.root.hidden = !this.visible;
    ui.root.dataset.state = state;
    ui.status.textContent = LABELS[state] || state;
    ui.detail.textContent = this.detailText(state);
    ui.answer.hidden = ui.decline.hidden = state !== "ringing";
    ui.mute.hidden = ui.hangup.hidden = state !== "on-call" && state !== "muted";
    ui.mute.textContent = state === "muted" ? "Unmute" : "Mute";
    ui.mute.setAttribute("aria-pressed", state === "muted" ? "true" : "false");
    ui.retry.hidden = state !== "error";
    this.renderForm();
  }

  detailText(state) {
    if (state === "phone") return this.voiceTo || "";
    if (state === "off") return "This hub has no softphone: take calls on a phone number.";
    if (!this.call) return "";
    const name = this.callContact ? this.describe(this.callContact) : null;
    if (name) return name;
    const from = this.call.parameters && this.call.parameters.From;
    return from ? String(from).replace(/^client:/, "") : "Unknown caller";
  }
}


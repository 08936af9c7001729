/* For supervisors: a live log of the hub's events beside the console, ids and small
 * structured fields only (never message bodies or notes), the latest 500, following the end
 * unless "follow" is unticked. */

import { el, formatTime, shortId, keepScrolledToBottom } from "../shared/dom.js";
import { state } from "./state.js";
import { ui } from "./layout.js";

const MAX_EVENTS = 500;
const EVENT_FIELDS = ["queue", "state", "ended_by", "sender", "disposition", "channel", "why"];

export function appendEvent(event) {
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

export function clearEvents() {
  ui.eventLog.textContent = "";
}

ui.eventClear.addEventListener("click", clearEvents);

/* A conversation's transcript: its messages in time order (a late one goes where its time
 * puts it), notes of what happened, and the earlier pages of a long transcript read from the
 * API on demand. */

import { api, ApiError } from "../shared/api.js";
import { el, formatTime, keepScrolledToBottom } from "../shared/dom.js";
import { state } from "./state.js";
import { showError } from "./layout.js";
import { DELIVERY, showDelivery, showCustomerTyping, showCustomerRead, markRead } from "./marks.js";

export function addMessage(conv, m, initial) {
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

export function addSystemNote(conv, text) {
  keepScrolledToBottom(conv.transcript, () => {
    conv.transcript.append(el("div", { class: "system-note", testid: "system-note", text }));
  });
}

/* Long transcripts come a page at a time (docs/protocol.md, "Long transcripts"): the
 * snapshot, offer or assignment brings the latest; earlier pages are read from the API when
 * the agent scrolls to the top or clicks "Earlier messages". */
const EARLIER_PAGE = 50;

export function setupEarlier(conv) {
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

/* The widget's elements, in a shadow root of their own: the page's style sheets do not reach
 * in (the host resets inherited properties with `all: initial`), ours do not leak out. Built
 * here, wired by the other modules: the header, the pre-chat form, the conversation, the end
 * screen, the bubble. The test ids are the end-to-end tests' handles. */

import { el, svgBubble } from "./dom.js";

export function buildUi(w) {
  const title = w.state.config.title;
  const host = el("div", { id: "cc-chat-widget" });
  host.style.cssText = "all: initial; position: fixed; z-index: 2147483000; bottom: 0; right: 0;";
  const shadow = host.attachShadow({ mode: "open" });
  const sheet = el("link", { rel: "stylesheet", href: w.hubBase + "/static/widget.css" });
  const root = el("div", { class: "root" });
  root.style.display = "none"; // until the style sheet is in
  const reveal = () => { root.style.display = ""; };
  sheet.addEventListener("load", reveal);
  sheet.addEventListener("error", reveal);
  shadow.append(sheet, root);

  const ui = {};
  ui.title = el("p", { class: "title", testid: "widget-title", text: title });
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

  // the end: rating and transcript (end.js picks the rating)
  ui.stars = [1, 2, 3, 4, 5].map((n) => el("button", {
    type: "button", class: "star", testid: "widget-rating-" + n, "aria-pressed": "false",
    "aria-label": n + " out of 5", text: String(n),
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
  ui.panel = el("section", { class: "panel", role: "dialog", "aria-label": title, testid: "widget-panel", hidden: true },
    el("header", { class: "head" },
      el("div", { class: "head-text" }, ui.title, ui.status), ui.leave, ui.close),
    ui.error, ui.conn,
    el("div", { class: "body" }, ui.prechat, ui.chat));
  ui.badge = el("span", { class: "badge", testid: "widget-unread", hidden: true });
  ui.bubble = el("button", { type: "button", class: "bubble", testid: "widget-bubble", "aria-label": title, "aria-expanded": "false" },
    svgBubble(), ui.badge);
  root.append(ui.panel, ui.bubble);

  w.host = host;
  w.root = root;
  w.ui = ui;
}

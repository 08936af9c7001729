/* Starting and leaving a conversation: the pre-chat form (name, optional email, the site's
 * topics, the first message), filled from what the browser remembers; "End chat"; and
 * "Start a new chat" from the end screen, back to the form. */

import { el } from "./dom.js";
import { randomId } from "./state.js";

// What an email address must look like before it goes (the hub checks it properly).
export const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function installPrechat(w) {
  const { state, store, profile, ui } = w;

  function fillForm() {
    ui.name.value = profile.name || "";
    ui.email.value = profile.email || "";
    ui.topic.textContent = "";
    const topics = state.config.topics || [];
    ui.topicField.hidden = !topics.length;
    for (const t of topics) ui.topic.append(el("option", { value: t.id, text: t.label }));
    if (profile.topic && topics.some((t) => t.id === profile.topic)) ui.topic.value = profile.topic;
    const max = String(state.config.max_message_chars || 4000);
    ui.first.setAttribute("maxlength", max);
    ui.input.setAttribute("maxlength", max);
  }

  ui.prechat.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const name = ui.name.value.trim();
    const email = ui.email.value.trim();
    const text = ui.first.value;
    let problem = null;
    if (!name) problem = "Please tell us your name.";
    else if (email && !EMAIL.test(email)) problem = "This email address does not look right.";
    else if (!text.trim()) problem = "Please type your message.";
    ui.formError.textContent = problem || "";
    ui.formError.hidden = !problem;
    if (problem) return;
    profile.name = name.slice(0, 100);
    profile.email = email || null;
    profile.topic = ui.topicField.hidden ? null : ui.topic.value || null;
    store.set("profile", profile);
    state.contactId = null;
    store.set("contact", null);
    state.rated = false;
    store.set("rated", false);
    state.agentName = null;
    w.clearLog();
    ui.first.value = "";
    ui.doneNote.hidden = true;
    w.savePhase("waiting");
    w.render();
    w.setStatus("Connecting…");
    w.queueMessage(text);
    w.socket.stop(); // a fresh hello carries the form's name, email and topic
    w.socket.start();
    ui.input.focus();
  });

  ui.leave.addEventListener("click", () => {
    const ref = randomId("r");
    state.pendingRefs.set(ref, { kind: "leave" });
    if (!w.socket.send({ type: "leave", ref })) {
      state.pendingRefs.delete(ref);
      w.showError("Not connected; try again in a moment.");
    }
  });

  ui.newChat.addEventListener("click", () => {
    w.socket.stop();
    state.contactId = null;
    store.set("contact", null);
    w.clearLog();
    w.savePhase("idle");
    fillForm();
    w.render();
    (profile.name ? ui.first : ui.name).focus();
  });

  Object.assign(w, { fillForm });
}

/* The end screen ("This conversation has ended"): a rating from 1 to 5 with a comment, sent
 * once (`csat`), and the transcript by email (`transcript_request`, to the form's address
 * unless the customer gives another; offered only when the hub can send email). After a
 * reload it is still there until the customer rates or starts a new chat. */

import { EMAIL } from "./prechat.js";

export function installEnd(w) {
  const { state, store, ui } = w;

  function renderEnd() {
    ui.csat.hidden = state.rated;
    ui.thanks.hidden = !state.rated;
    ui.transcriptBox.hidden = !state.config.transcripts;
    if (!ui.transcriptEmail.value) ui.transcriptEmail.value = w.profile.email || "";
  }

  let rating = 0;
  function pickRating(n) {
    rating = n;
    ui.stars.forEach((b, i) => b.setAttribute("aria-pressed", String(i + 1 === n)));
  }
  ui.stars.forEach((b, i) => b.addEventListener("click", () => pickRating(i + 1)));

  ui.csat.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const contactId = state.contactId;
    const wantsTranscript = state.config.transcripts && ui.wantTranscript.checked;
    const address = ui.transcriptEmail.value.trim();
    let problem = null;
    if (!rating && !wantsTranscript) problem = "Choose a rating from 1 to 5.";
    else if (wantsTranscript && !EMAIL.test(address)) problem = "Give the email address to send the transcript to.";
    ui.csatError.textContent = problem || "";
    ui.csatError.hidden = !problem;
    if (problem || !contactId) return;
    ui.csatSubmit.disabled = true;
    let pending = (rating ? 1 : 0) + (wantsTranscript ? 1 : 0);
    const notes = [];
    const finish = () => {
      pending -= 1;
      if (pending > 0) return;
      ui.csatSubmit.disabled = false;
      if (notes.length) { ui.doneNote.textContent = notes.join(" "); ui.doneNote.hidden = false; }
      w.render();
    };
    if (rating) {
      w.request({ type: "csat", contact_id: contactId, rating, comment: ui.comment.value }, (error) => {
        if (!error || error.error_id === "csat.already_given") {
          state.rated = true;
          store.set("rated", true);
        } else {
          notes.push("Your rating was not sent: " + (error.message || error.error_id) + ".");
        }
        finish();
      });
    }
    if (wantsTranscript) {
      let zone;
      try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { zone = undefined; }
      const frame = { type: "transcript_request", contact_id: contactId, email: address };
      if (zone) frame.time_zone = zone;
      w.request(frame, (error) => {
        notes.push(error ? "The transcript was not sent: " + (error.message || error.error_id) + "."
          : "The transcript is on its way to " + address + ".");
        if (!error) { ui.wantTranscript.checked = false; ui.transcriptBox.hidden = true; }
        finish();
      });
    }
  });

  Object.assign(w, { renderEnd });
}

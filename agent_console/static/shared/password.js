/* Choosing one's own password after signing in with a one-time one (docs/admin.md): the
 * console and the admin page both show the form of #password-view before anything else, as
 * the hub refuses everything else meanwhile (403 auth.password_change_required). It sends
 * POST /api/me/password and shows a refusal beside the field the hub names. */

import { api, ApiError } from "./api.js";

const $ = (id) => document.getElementById(id);

/* The form's elements, and an error element per field (data-error-for). */
function parts() {
  const form = $("password-form");
  return {
    view: $("password-view"),
    form,
    current: $("password-current"),
    fresh: $("password-new"),
    repeat: $("password-repeat"),
    submit: $("password-submit"),
    errors: Array.from(form.querySelectorAll("[data-error-for]")),
  };
}

/* Which of the form's fields a refusal names: the hub says `password` or `new_password` for
 * the new one, `current_password` for a wrong current one. */
function fieldOf(error) {
  const named = error.details.field
    || (Array.isArray(error.details.errors) && error.details.errors[0] && error.details.errors[0].field)
    || "";
  if (named === "current_password" || error.errorId === "auth.bad_credentials") return "current_password";
  return "new_password";
}

function showError(p, field, text, errorId) {
  for (const box of p.errors) {
    const mine = box.dataset.errorFor === field;
    box.hidden = !mine;
    box.textContent = mine ? text : "";
    if (mine && errorId) box.dataset.errorId = errorId;
    else delete box.dataset.errorId;
  }
  for (const [input, name] of [[p.current, "current_password"], [p.fresh, "new_password"], [p.repeat, "repeat"]]) {
    if (name === field) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }
}

/* Wire the form once; `onDone(agent)` runs when the hub took the new password, with who the
 * session is now (GET /api/me). Returns `show(currentPassword)`, which shows the form with
 * the current password filled in when it is known (just typed to sign in). */
export function setupPasswordChange(onDone) {
  const p = parts();
  p.form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    showError(p, null, "");
    const current = p.current.value;
    const fresh = p.fresh.value;
    if (!current) return showError(p, "current_password", "Enter the password you signed in with.");
    if (!fresh) return showError(p, "new_password", "Choose a new password.");
    if (fresh !== p.repeat.value) return showError(p, "repeat", "The two new passwords differ.");
    p.submit.disabled = true;
    try {
      await api("POST", "/api/me/password", { current_password: current, new_password: fresh });
      const me = await api("GET", "/api/me");
      p.form.reset();
      onDone(me.agent || me);
    } catch (e) {
      if (e instanceof ApiError) showError(p, fieldOf(e), e.message, e.errorId);
      else showError(p, "new_password", "Cannot reach the hub. Check your connection and try again.");
    } finally {
      p.submit.disabled = false;
    }
  });
  return function show(currentPassword) {
    p.form.reset();
    showError(p, null, "");
    p.current.value = currentPassword || "";
    (currentPassword ? p.fresh : p.current).focus();
  };
}

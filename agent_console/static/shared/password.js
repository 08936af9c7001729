/* Choosing one's own password after signing in with a one-time one (docs/admin.md): the
 * console and the admin page both show this form before anything else, as the hub refuses
 * everything else meanwhile (403 auth.password_change_required). One source for its markup,
 * built with el() into the empty #password-view each page keeps, with the ids, test ids and
 * autocomplete hints that the browser tests and password managers rely on. It sends
 * POST /api/me/password and shows a refusal beside the field the hub names. */

import { api, ApiError } from "./api.js";
import { el } from "./dom.js";

function field(input, ...label) {
  return el("label", { class: "field" }, el("span", {}, ...label), input);
}

function passwordInput(id, autocomplete) {
  return el("input", { id, testid: id, type: "password", autocomplete });
}

/* The error element of a field: the hub's refusal, or ours, shows there (data-error-for). */
function errorFor(name, testid) {
  return el("p", { class: "form-error", dataset: { errorFor: name }, testid, role: "alert", hidden: true });
}

/* The form's elements, appended to `container`, and an error element per field. */
function build(container) {
  const p = {
    current: passwordInput("password-current", "current-password"),
    fresh: passwordInput("password-new", "new-password"),
    repeat: passwordInput("password-repeat", "new-password"),
    submit: el("button", {
      id: "password-submit", testid: "password-submit", type: "submit", class: "btn btn-primary btn-block",
      text: "Save and continue",
    }),
    errors: [
      errorFor("current_password", "password-current-error"),
      errorFor("new_password", "password-new-error"),
      errorFor("repeat", "password-repeat-error"),
    ],
  };
  const hint = el("span", {
    class: "muted small", text: "(at least 10 characters, not a common one, without your username)",
  });
  p.form = el("form", { id: "password-form", class: "card login-card", testid: "password-form", novalidate: true },
    el("h1", { text: "Choose your password" }),
    el("p", { class: "muted", text: "You signed in with a one-time password. Choose your own to go on." }),
    field(p.current, "Current password"),
    p.errors[0],
    field(p.fresh, "New password ", hint),
    p.errors[1],
    field(p.repeat, "New password again"),
    p.errors[2],
    p.submit);
  container.replaceChildren(p.form);
  return p;
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

/* Build the form into `container` (the page's #password-view) and wire it; `onDone(agent)`
 * runs when the hub took the new password, with who the session is now (GET /api/me).
 * Returns `show(currentPassword)`, which readies the form with the current password filled
 * in when it is known (just typed to sign in); the page shows its container. */
export function setupPasswordChange(container, onDone) {
  const p = build(container);
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

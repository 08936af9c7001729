/* The sign-in form of the staff pages (the console and the admin page share one session:
 * POST /api/login sets the cookie both use). One source for its markup, built with el()
 * into the empty section each page keeps, with the ids, test ids and autocomplete hints that
 * the browser tests and password managers rely on; and its behaviour: the hub's refusal
 * (a wrong password, a login limit) shows under the fields. */

import { api, ApiError } from "./api.js";
import { el } from "./dom.js";

function field(input, label) {
  return el("label", { class: "field" }, el("span", { text: label }), input);
}

/* The form's elements, appended to `container`; `subtitle` says who signs in here. */
function build(container, subtitle) {
  const p = {
    username: el("input", {
      id: "login-username", testid: "login-username", name: "username",
      autocomplete: "username", autocapitalize: "off", spellcheck: "false", required: true,
    }),
    password: el("input", {
      id: "login-password", testid: "login-password", name: "password", type: "password",
      autocomplete: "current-password", required: true,
    }),
    error: el("p", { id: "login-error", testid: "login-error", class: "form-error", role: "alert", hidden: true }),
    submit: el("button", {
      id: "login-submit", testid: "login-submit", type: "submit", class: "btn btn-primary btn-block",
      text: "Sign in",
    }),
  };
  p.form = el("form", { id: "login-form", class: "card login-card", novalidate: true },
    el("h1", { text: "Sign in" }),
    el("p", { class: "muted", text: subtitle }),
    field(p.username, "Username"),
    field(p.password, "Password"),
    p.error,
    p.submit);
  container.replaceChildren(p.form);
  return p;
}

/* Build the form into `container` and sign in with it; `onSignedIn(agent, password)` runs
 * with who the session is and the password just typed (the one-time password step fills it
 * in). Returns what a page does with the form when it shows it. */
export function setupLoginForm(container, { subtitle, onSignedIn }) {
  const p = build(container, subtitle);

  /* The form's message (a refusal, or why the session ended); none hides it. */
  function say(message) {
    p.error.textContent = message || "";
    p.error.hidden = !message;
  }

  p.form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    say("");
    const username = p.username.value.trim();
    const password = p.password.value;
    if (!username || !password) return say("Enter your username and password.");
    p.submit.disabled = true;
    try {
      const body = await api("POST", "/api/login", { username, password });
      p.password.value = "";
      await onSignedIn(body.agent || body, password);
    } catch (e) {
      say(e instanceof ApiError ? e.message : "Cannot reach the hub. Check your connection and try again.");
      p.password.select();
    } finally {
      p.submit.disabled = false;
    }
  });

  return {
    say,
    /* Ready for someone to sign in: no password kept, the cursor in the username. */
    ready() {
      p.password.value = "";
      p.username.focus();
    },
  };
}

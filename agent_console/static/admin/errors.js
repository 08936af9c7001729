/* Refusals of the hub shown beside the field they name. A form marks each field's error box
 * with data-error-for (the first part of the field: "skills" for "skills.support") and its
 * inputs with data-field (the whole name); what names no field of the form goes to its
 * `_form` box. The hub names a field in `details.field`, or in `details.errors[].field` for
 * request.invalid. */

import { ApiError } from "../shared/api.js";

function named(error) {
  const found = [];
  if (error.details.field) found.push([String(error.details.field), error.message]);
  const list = Array.isArray(error.details.errors) ? error.details.errors : [];
  for (const e of list) {
    if (e && typeof e === "object" && e.field) found.push([String(e.field), e.message || error.message]);
  }
  return found;
}

export function clearErrors(root) {
  for (const box of root.querySelectorAll("[data-error-for]")) {
    box.hidden = true;
    box.textContent = "";
    delete box.dataset.errorId;
  }
  for (const input of root.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

function put(root, key, text, errorId) {
  const box = root.querySelector('[data-error-for="' + key + '"]');
  if (!box) return false;
  if (errorId) box.dataset.errorId = errorId;
  box.textContent = box.hidden || !box.textContent ? text : box.textContent + " " + text;
  box.hidden = false;
  return true;
}

/* Where what names no field of `root` goes: its `_form` box, else its first box. */
function general(root, text, errorId) {
  if (put(root, "_form", text, errorId)) return;
  const first = root.querySelector("[data-error-for]");
  if (first) put(root, first.dataset.errorFor, text, errorId);
}

/* Say `text` beside `field` of `root` (or in its `_form` box); `errorId` is the hub's. */
export function fieldError(root, field, text, errorId) {
  const key = field.split(".")[0];
  const rest = field.slice(key.length + 1);
  for (const input of root.querySelectorAll("[data-field]")) {
    const name = input.dataset.field;
    if (name === field || (!rest && name.split(".")[0] === key)) input.setAttribute("aria-invalid", "true");
  }
  if (!put(root, key, rest ? rest + ": " + text : text, errorId)) general(root, text, errorId);
}

/* Show `error` (an ApiError, or a failure to reach the hub) in `root`. */
export function showErrors(root, error) {
  clearErrors(root);
  if (!(error instanceof ApiError)) {
    general(root, "Cannot reach the hub. Check your connection and try again.");
    return;
  }
  if (error.status === 401) return; // signed out: the sign-in form says so
  const fields = named(error);
  if (!fields.length) {
    general(root, error.message, error.errorId);
    return;
  }
  for (const [field, text] of fields) fieldError(root, field, text, error.errorId);
}

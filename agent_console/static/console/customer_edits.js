/* Edits of the customer on view through the CRM API (docs/crm.md): add and remove tags, add
 * notes, open and resolve cases. The API's answer is folded into the context at once; a
 * refusal shows in the panel's error line, and what the agent typed is kept. */

import { api, ApiError } from "../shared/api.js";
import { state, MAX_NOTES, OPEN_STATUSES } from "./state.js";
import { cp, showCustomerError, hideCustomerError } from "./customer_view.js";
import { viewedCustomerId, renderCustomer, renderCustomerIf, updateComplaintFlag } from "./customer.js";

/* Run one edit for the customer on view; `apply(answer, context)` folds the API's answer
 * into the context. Returns true when the edit went through. */
async function customerEdit(form, call, apply, what) {
  const customerId = viewedCustomerId();
  if (!customerId) return false;
  hideCustomerError();
  if (form) {
    form.dataset.busy = "1";
    renderCustomer();
  }
  try {
    const answer = await call(customerId);
    const entry = state.customers.get(customerId);
    if (entry && entry.context) {
      apply(answer, entry.context);
      renderCustomerIf(customerId);
    }
    return true;
  } catch (e) {
    showCustomerError(e, what);
    return false;
  } finally {
    if (form) {
      delete form.dataset.busy;
      renderCustomer();
    }
  }
}

function customerPath(customerId, rest) {
  return "/api/customers/" + encodeURIComponent(customerId) + rest;
}

cp.tagForm.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const tag = cp.tagInput.value.trim();
  if (!tag) {
    showCustomerError(new ApiError(400, { message: "Type a tag first." }), "Tag not added");
    cp.tagInput.focus();
    return;
  }
  const ok = await customerEdit(cp.tagForm,
    (id) => api("POST", customerPath(id, "/tags"), { tags: [tag] }),
    (answer, context) => { context.tags = answer.tags; }, "Tag not added");
  if (ok) cp.tagInput.value = "";
  cp.tagInput.focus();
});

async function removeTag(tag, button) {
  button.disabled = true;
  const ok = await customerEdit(null,
    (id) => api("DELETE", customerPath(id, "/tags/" + encodeURIComponent(tag))),
    (answer, context) => { context.tags = answer.tags; }, "Tag not removed");
  if (!ok && button.isConnected) button.disabled = false;
  cp.tagInput.focus();
}

cp.noteForm.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const body = cp.noteInput.value;
  if (!body.trim()) {
    showCustomerError(new ApiError(400, { message: "Write the note first." }), "Note not added");
    cp.noteInput.focus();
    return;
  }
  const ok = await customerEdit(cp.noteForm,
    (id) => api("POST", customerPath(id, "/notes"), { body }),
    (note, context) => {
      const notes = (context.notes || []).filter((n) => n.note_id !== note.note_id);
      notes.unshift(note);
      context.notes = notes.slice(0, MAX_NOTES);
    }, "Note not added");
  if (ok) cp.noteInput.value = "";
  cp.noteInput.focus();
});

cp.noteInput.addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
    ev.preventDefault();
    cp.noteForm.requestSubmit();
  }
});

cp.caseForm.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const subject = cp.caseSubject.value.trim();
  if (!subject) {
    showCustomerError(new ApiError(400, { message: "Give the case a subject." }), "Case not opened");
    cp.caseSubject.focus();
    return;
  }
  const contactId = state.viewId;
  const ok = await customerEdit(cp.caseForm,
    (id) => api("POST", "/api/cases", {
      customer_id: id, kind: cp.caseKind.value, subject, priority: cp.casePriority.value,
      contact_ids: contactId ? [contactId] : [],
    }),
    (c, context) => {
      const cases = (context.open_cases || []).filter((x) => x.case_id !== c.case_id);
      if (OPEN_STATUSES.includes(c.status)) cases.unshift(c);
      context.open_cases = cases;
      updateComplaintFlag(context);
    }, "Case not opened");
  if (ok) {
    cp.caseSubject.value = "";
    cp.casePriority.value = "normal";
    cp.caseOpen.open = false;
  }
});

async function resolveCase(caseId, button) {
  button.disabled = true;
  const ok = await customerEdit(null,
    () => api("PATCH", "/api/cases/" + encodeURIComponent(caseId), { status: "resolved" }),
    (c, context) => {
      context.open_cases = (context.open_cases || []).filter((x) => x.case_id !== c.case_id);
      updateComplaintFlag(context);
    }, "Case not resolved");
  if (!ok && button.isConnected) button.disabled = false;
}

/* The buttons customer_view.js draws in each tag and each case. */
cp.tags.addEventListener("click", (ev) => {
  const button = ev.target.closest('[data-testid="tag-remove"]');
  if (button) removeTag(button.closest("li").dataset.tag, button);
});

cp.cases.addEventListener("click", (ev) => {
  const button = ev.target.closest('[data-testid="case-resolve"]');
  if (button) resolveCase(button.closest("li").dataset.caseId, button);
});

/* The admin page's frame: which view shows (loading, sign-in, password, not allowed, the
 * page), who is signed in, the tabs, and the error banner for what belongs to no form. */

const $ = (id) => document.getElementById(id);

export const ui = {
  sessionBar: $("session-bar"),
  agentName: $("agent-name"),
  agentRole: $("agent-role"),
  logout: $("logout"),
  errorBanner: $("error-banner"),
  errorText: $("error-text"),
  errorDismiss: $("error-dismiss"),
};

const VIEWS = {
  loading: $("loading-view"),
  login: $("login-view"),
  password: $("password-view"),
  forbidden: $("forbidden-view"),
  admin: $("admin-view"),
};

export function showView(name) {
  for (const [key, node] of Object.entries(VIEWS)) node.hidden = key !== name;
  ui.sessionBar.hidden = name !== "admin" && name !== "forbidden";
  document.body.dataset.view = name;
}

export function renderMe(me) {
  ui.agentName.textContent = me.display_name || me.username || "";
  ui.agentRole.textContent = me.role || "";
}

/* ------------------------------------------------------------------ errors */

/* A message for what belongs to no form. A refusal for want of a session (auth.required) is
 * not shown: the page goes back to the sign-in form, which says so. */
export function showError(message, errorId) {
  if (errorId === "auth.required") return;
  ui.errorText.textContent = message || "Something went wrong.";
  if (errorId) ui.errorBanner.dataset.errorId = errorId;
  else delete ui.errorBanner.dataset.errorId;
  ui.errorBanner.hidden = false;
}

export function hideError() {
  ui.errorBanner.hidden = true;
  ui.errorText.textContent = "";
}

ui.errorDismiss.addEventListener("click", hideError);

/* ------------------------------------------------------------------ tabs */

const tabs = Array.from(document.querySelectorAll(".admin-tab"));
const panels = Array.from(document.querySelectorAll(".admin-panel"));
const onShow = new Map(); // tab name -> what to do when it is shown

/* `fn` runs each time the tab `name` is shown. */
export function whenShown(name, fn) {
  onShow.set(name, fn);
}

export function showTab(name) {
  for (const tab of tabs) tab.setAttribute("aria-selected", String(tab.dataset.tab === name));
  for (const panel of panels) panel.hidden = panel.dataset.panel !== name;
  const fn = onShow.get(name);
  if (fn) fn();
}

for (const tab of tabs) tab.addEventListener("click", () => showTab(tab.dataset.tab));

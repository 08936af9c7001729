/* The console page's frame: its elements, which view shows (loading, login, console), the
 * agent's name and role, the counts of offers and conversations (and the page title), the
 * hint where no conversation is open, and the error banner. */

import { el } from "../shared/dom.js";
import { state } from "./state.js";

const BASE_TITLE = document.title;

const $ = (id) => document.getElementById(id);
export const ui = {
  sessionBar: $("session-bar"),
  connection: $("connection-status"),
  stateSelect: $("state-select"),
  presenceDot: $("presence-dot"),
  agentName: $("agent-name"),
  agentRole: $("agent-role"),
  logout: $("logout"),
  errorBanner: $("error-banner"),
  errorText: $("error-text"),
  errorDismiss: $("error-dismiss"),
  loginView: $("login-view"),
  loadingView: $("loading-view"),
  consoleView: $("console-view"),
  offers: $("offers"),
  offerCount: $("offer-count"),
  noOffers: $("no-offers"),
  convList: $("conversation-list"),
  convCount: $("conversation-count"),
  noConvs: $("no-conversations"),
  convArea: $("conversation-area"),
  convEmpty: $("conversation-empty"),
  supervisorPanel: $("supervisor-panel"),
  eventLog: $("event-log"),
  eventAutoscroll: $("event-autoscroll"),
  eventClear: $("event-clear"),
};

/* ------------------------------------------------------------------ errors */

export function showError(message, errorId) {
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

/* ------------------------------------------------------------------ views */

export function showView(name) {
  ui.loadingView.hidden = name !== "loading";
  ui.loginView.hidden = name !== "login";
  ui.consoleView.hidden = name !== "console";
  ui.sessionBar.hidden = name !== "console";
  document.body.dataset.view = name;
}

export function renderAgent() {
  const agent = state.agent || {};
  ui.agentName.textContent = agent.display_name || agent.username || "";
  ui.agentRole.textContent = agent.role || "";
  ui.agentRole.hidden = !agent.role;
  const supervisor = agent.role === "supervisor";
  ui.supervisorPanel.hidden = !supervisor;
  ui.consoleView.classList.toggle("with-supervisor", supervisor);
}

function updateTitle() {
  const n = state.offers.size;
  document.title = n ? "(" + n + ") " + BASE_TITLE : BASE_TITLE;
}

export function updateCounts() {
  ui.noOffers.hidden = state.offers.size > 0;
  ui.offerCount.hidden = state.offers.size === 0;
  ui.offerCount.textContent = String(state.offers.size);
  ui.noConvs.hidden = state.convs.size > 0;
  ui.convCount.hidden = state.convs.size === 0;
  ui.convCount.textContent = String(state.convs.size);
  ui.convEmpty.hidden = state.activeId !== null && state.convs.has(state.activeId);
  updateTitle();
}

export function updateEmptyHint() {
  const hint = ui.convEmpty.querySelector(".muted");
  if (!hint) return;
  hint.textContent = "";
  if (state.presence === "available") {
    hint.append("You are available: offers will appear on the left.");
  } else {
    hint.append("Set yourself ", el("strong", { text: "Available" }), " to receive offers.");
  }
}

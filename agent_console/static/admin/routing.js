/* The queues and routing rules as configured (GET /api/config/routing), read-only: they
 * live in config/queues.toml and config/routing.toml, which the hub reloads when they
 * change. With check-config's verdict on those files beside what the hub runs. */

import { el, formatDateTime } from "../shared/dom.js";
import { showError } from "./layout.js";
import { call } from "./state.js";

const $ = (id) => document.getElementById(id);
const ui = {
  verdict: $("config-verdict"),
  summary: $("config-summary"),
  problem: $("config-problem"),
  warnings: $("config-warnings"),
  source: $("config-source"),
  refresh: $("config-refresh"),
  queues: $("config-queue-rows"),
  rules: $("config-rule-rows"),
  noRules: $("config-no-rules"),
  defaultRoute: $("config-default"),
};

const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

function list(items) {
  return items.length ? items.join(", ") : "—";
}

function serviceLevel(levels) {
  const parts = Object.entries(levels).map(([channel, s]) => channel + " " + s + " s");
  return list(parts);
}

function hours(h) {
  if (!h) return "always open";
  const days = WEEKDAYS.filter((d) => h.weekly[d]).map((d) => d + " " + h.weekly[d].join(", "));
  const closed = h.when_closed === "queue" ? "waits when closed" : "refused when closed";
  return h.timezone + ": " + list(days) + "; " + closed
    + (h.holidays.length ? "; " + h.holidays.length + " holidays" : "");
}

function queueRow(q) {
  const who = q.eligibility ? q.eligibility : "skill " + q.skill;
  const priority = String(q.priority) + (q.aging_s ? ", +1 per " + q.aging_s + " s waited" : "");
  return el("tr", { testid: "config-queue", dataset: { queue: q.name } },
    el("td", {}, el("strong", { text: q.name }),
      el("ul", { class: "described" }, ...q.described.slice(1).map((line) => el("li", { text: line.trim() })))),
    el("td", { text: list(q.channels) }),
    el("td", {}, el("code", { text: who })),
    el("td", { text: q.strategy }),
    el("td", { text: priority }),
    el("td", { text: list(q.dispositions) + (q.disposition_required ? "" : " (optional)") }),
    el("td", { text: serviceLevel(q.service_level_s) }),
    el("td", { text: hours(q.hours) }));
}

function conditions(c) {
  const parts = Object.entries(c).map(([key, value]) => key + " "
    + (typeof value === "boolean" ? String(value) : value.join(" or ")));
  return parts.length ? parts.join(" and ") : "always";
}

function ruleRow(rule) {
  const t = rule.target;
  return el("tr", { testid: "config-rule", dataset: { rule: rule.name } },
    el("td", { text: rule.name }),
    el("td", { text: conditions(rule.conditions) }),
    el("td", { text: t.queue }),
    el("td", { text: t.priority === null ? "the queue's" : String(t.priority) }),
    el("td", { text: list(t.skills) }));
}

function renderCheck(check) {
  ui.verdict.dataset.status = check.status;
  ui.summary.textContent = check.summary.charAt(0).toUpperCase() + check.summary.slice(1) + ".";
  ui.problem.textContent = check.problem || "";
  ui.problem.hidden = !check.problem;
  ui.warnings.textContent = "";
  for (const w of check.warnings) ui.warnings.append(el("li", { testid: "config-warning", text: w }));
  const loaded = check.loaded_at_ms ? ", loaded " + formatDateTime(check.loaded_at_ms) : "";
  ui.source.textContent = "Config folder " + check.config_dir + loaded;
}

export async function loadRouting() {
  ui.refresh.disabled = true;
  try {
    const config = await call("GET", "/api/config/routing");
    renderCheck(config.check);
    ui.queues.textContent = "";
    for (const q of config.queues) ui.queues.append(queueRow(q));
    ui.rules.textContent = "";
    for (const r of config.rules) ui.rules.append(ruleRow(r));
    ui.noRules.hidden = config.rules.length > 0;
    const d = config.default_route;
    ui.defaultRoute.textContent = d
      ? "Contacts no rule claims go to " + d.queue
        + (d.skills.length ? ", needing " + d.skills.join(", ") : "") + "."
      : "";
  } catch (e) {
    showError("The routing configuration could not be read: " + e.message, e.errorId);
  } finally {
    ui.refresh.disabled = false;
  }
}

ui.refresh.addEventListener("click", loadRouting);

/* The parts of an agent's form built from what the hub names: a checkbox per team, a level
 * per skill (0 to 100; empty: does not have it) and a capacity per channel (contacts at
 * once; empty: the default when creating, unchanged when editing). */

import { el } from "../shared/dom.js";

/* Checkboxes of `teams` in `box`, those of `chosen` (team ids) ticked. */
export function fillTeams(box, teams, chosen, disabled) {
  box.textContent = "";
  if (!teams.length) box.append(el("span", { class: "muted small", text: "No teams yet." }));
  for (const team of teams) {
    box.append(el("label", { class: "checkbox" },
      el("input", {
        type: "checkbox",
        value: team.team_id,
        testid: "agent-team",
        dataset: { teamName: team.name, field: "team_ids" },
        checked: chosen.includes(team.team_id),
        disabled,
      }),
      team.name));
  }
}

export function readTeams(box) {
  return Array.from(box.querySelectorAll("input:checked"), (input) => input.value).sort();
}

/* A number input per name in `box`; `kind` is "skills" (data-skill) or "capacity"
 * (data-channel), `values` the current ones. */
export function fillLevels(box, kind, names, values, { max, disabled }) {
  box.textContent = "";
  const key = kind === "skills" ? "skill" : "channel";
  const testid = kind === "skills" ? "skill-level" : "capacity";
  for (const name of names) {
    const id = "agent-" + kind + "-" + name;
    const value = Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : "";
    box.append(
      el("label", { for: id, text: name }),
      el("input", {
        id,
        type: "number",
        min: "0",
        max: String(max),
        step: "1",
        inputmode: "numeric",
        value,
        placeholder: kind === "skills" ? "—" : "default",
        testid,
        dataset: { [key]: name, field: kind + "." + name },
        disabled,
      }));
  }
}

/* The levels filled in, by name, as numbers (what is not a number goes as typed, for the hub
 * to refuse beside its field). */
export function readLevels(box) {
  const out = {};
  for (const input of box.querySelectorAll("input")) {
    const text = input.value.trim();
    if (text === "") continue;
    const name = input.dataset.skill || input.dataset.channel;
    const n = Number(text);
    out[name] = Number.isFinite(n) ? n : text;
  }
  return out;
}

/* "en, fr zh-CN" -> ["en", "fr", "zh-CN"] */
export function readLanguages(text) {
  return text.split(/[\s,;]+/).filter(Boolean);
}

/* Whether two JSON-like values are the same (objects by their sorted keys). */
export function same(a, b) {
  const norm = (v) => (v && typeof v === "object" && !Array.isArray(v)
    ? Object.keys(v).sort().map((k) => [k, v[k]]) : v);
  return JSON.stringify(norm(a)) === JSON.stringify(norm(b));
}

/* What the admin page knows: who is signed in, what an account may name (skills, channels,
 * roles, queues: GET /api/skills), and the teams in their scope (GET /api/teams). Read by
 * every part of the page; changed by main.js and, for teams, by teams.js. */

import { api, ApiError } from "../shared/api.js";

export const state = {
  me: null,
  catalogue: { skills: [], channels: [], roles: [], queues: [] },
  teams: [],
};

let sessionGone = () => undefined;

/* main.js: what to do when the hub says the session is gone (401: ended, deactivated). */
export function whenSessionGone(fn) {
  sessionGone = fn;
}

/* The hub's REST API (../shared/api.js) for the page's parts: a 401 also signs out here. */
export async function call(method, path, body) {
  try {
    return await api(method, path, body);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) sessionGone();
    throw e;
  }
}

export function isAdmin() {
  return Boolean(state.me && state.me.role === "admin");
}

export async function loadCatalogue() {
  state.catalogue = await call("GET", "/api/skills");
}

export async function loadTeams() {
  state.teams = (await call("GET", "/api/teams")).items;
  return state.teams;
}

export function teamName(teamId) {
  const team = state.teams.find((t) => t.team_id === teamId);
  return team ? team.name : "";
}

/* The hub's REST API as the agent console and the customer chat call it: with the session
 * cookie, JSON in and out, a refusal as an ApiError carrying the hub's `error_id`, `message`
 * and `details`. */

/* A refusal of the hub's REST API: its stable `error_id`, `message` and `details`. */
export class ApiError extends Error {
  constructor(status, body) {
    const b = body && typeof body === "object" ? body : {};
    super(b.message || "The hub answered HTTP " + status + ".");
    this.name = "ApiError";
    this.status = status;
    this.errorId = b.error_id || "http." + status;
    this.details = b.details && typeof b.details === "object" ? b.details : {};
  }

  /* The message with the fields it names, for a person to read. */
  describe() {
    const errors = Array.isArray(this.details.errors) ? this.details.errors : [];
    const parts = errors.map((e) => {
      if (!e || typeof e !== "object") return String(e);
      const what = e.message || e.problem || "";
      return e.field ? e.field + ": " + what : what;
    }).filter(Boolean);
    return parts.length ? this.message + " (" + parts.join("; ") + ")" : this.message;
  }
}

/* Call the hub's REST API with the session cookie; resolves to the JSON answer, rejects
 * with an ApiError (HTTP refusals) or a TypeError (the hub cannot be reached). */
export async function api(method, path, body) {
  const init = { method, cache: "no-store", credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  let answer = null;
  try { answer = await res.json(); } catch (e) { answer = null; }
  if (!res.ok) throw new ApiError(res.status, answer);
  return answer;
}

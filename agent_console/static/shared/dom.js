/* Building and formatting what the agent console and the customer chat show. Text only ever
 * goes through textContent: message bodies are never parsed as HTML. */

/* Create an element: el("div", {class: "x", dataset: {testid: "y"}, text: "..."}, child...). */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "testid") node.setAttribute("data-testid", value);
    else if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function formatTime(ms) {
  if (typeof ms !== "number" || !isFinite(ms)) return "";
  const d = new Date(ms);
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/* Date and time, short ("12 Mar, 14:05"); the year too when it is not this year's. */
export function formatDateTime(ms) {
  if (typeof ms !== "number" || !isFinite(ms)) return "";
  const d = new Date(ms);
  const opts = { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" };
  if (d.getFullYear() !== new Date().getFullYear()) opts.year = "numeric";
  return d.toLocaleString([], opts);
}

/* A long id cut short for display ("0123abcd…"); the whole id goes in a title. */
export function shortId(value) {
  const s = String(value);
  return s.length > 10 ? s.slice(0, 8) + "…" : s;
}

/* Scroll `box` to the bottom if it was (nearly) at the bottom before `change` ran. */
export function keepScrolledToBottom(box, change, force) {
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  change();
  if (atBottom || force) box.scrollTop = box.scrollHeight;
}

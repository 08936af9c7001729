/* The web chat widget (docs/widget.md). One tag on any allowed site:
 *
 *   <script src="https://hub.example/static/widget.js" data-hub="https://hub.example" async></script>
 *
 * This classic script stays small: it reads its own tag (while it runs: document.currentScript
 * is gone afterwards), defines `window.ccChatWidget` (open(), close(), identify()), and imports
 * the widget's ES modules from widget/ beside it, on the hub (served with CORS headers, which a
 * module script from another origin needs). Calls made before they are in wait, in order. */
(function () {
  "use strict";

  if (window.ccChatWidget) return; // embedded twice: one bubble

  const script = document.currentScript
    || document.querySelector('script[src*="/static/widget.js"]');
  const hubBase = hubOf(script);
  if (!hubBase) {
    console.warn("chat widget: no hub address (data-hub) on its script tag");
    return;
  }
  const options = {
    hubBase,
    userId: script.getAttribute("data-user-id"),
    userHash: script.getAttribute("data-user-hash"),
  };
  // Beside this script, wherever the page is: a relative import() would follow the page.
  const mainUrl = new URL("widget/main.js", script.src || hubBase + "/static/").href;

  let widget = null; // the real one, once its modules are in
  const early = []; // [name, args] called before that
  function call(name, args) {
    if (widget) widget[name](...args);
    else early.push([name, args]);
  }
  window.ccChatWidget = {
    open: () => call("open", []),
    close: () => call("close", []),
    identify: (user) => call("identify", [user]),
  };

  import(mainUrl).then((main) => {
    widget = main.start(options);
    for (const [name, args] of early.splice(0)) widget[name](...args);
  }, (e) => {
    console.error("chat widget: could not load", mainUrl, e);
  });

  function hubOf(tag) {
    const raw = (tag && (tag.getAttribute("data-hub") || tag.src)) || "";
    try {
      const url = new URL(raw, window.location.href);
      if (url.protocol !== "https:" && url.protocol !== "http:") return null;
      if (!tag.getAttribute("data-hub")) return url.origin;
      return url.origin + url.pathname.replace(/\/+$/, "");
    } catch (e) {
      return null;
    }
  }
})();

/* The Twilio Voice JavaScript SDK (npm @twilio/voice-sdk v2), loaded once per page from the
 * URL the hub's token answer names (docs/channels.md, "The softphone"): a classic script that
 * defines the global `Twilio.Device`. And the words for what went wrong with it. */

import { ApiError } from "../shared/api.js";

let sdkLoading = null; // the SDK's script, loaded once per page

export function loadSdk(url) {
  if (window.Twilio && window.Twilio.Device) return Promise.resolve(window.Twilio);
  if (!sdkLoading) {
    const script = document.createElement("script");
    sdkLoading = new Promise((resolve, reject) => {
      script.src = url;
      script.async = true;
      script.onload = () => (window.Twilio && window.Twilio.Device
        ? resolve(window.Twilio) : reject(new Error("the script has no Twilio.Device")));
      script.onerror = () => reject(new Error("the script could not be loaded"));
      document.head.append(script);
    }).catch((e) => {
      sdkLoading = null; // try again on the next start
      script.remove();
      throw e;
    });
  }
  return sdkLoading;
}

export function errorText(e, what) {
  if (e instanceof ApiError) return what + ": " + e.describe();
  if (e && typeof e.code === "number") return what + " (Twilio error " + e.code + "): " + (e.message || "");
  if (e instanceof TypeError) return what + ": cannot reach the hub.";
  return what + (e && e.message ? ": " + e.message : ".");
}

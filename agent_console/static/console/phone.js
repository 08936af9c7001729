/* The console's softphone (softphone.js), wired to what the console holds: a call the hub
 * bridges for a contact the agent accepted is answered by itself and named after its
 * customer. */

import { Softphone } from "./softphone.js";
import { state, contactOf, customerName } from "./state.js";

/* A call bridged for a contact the agent holds (or is accepting) is answered by itself. */
function holdsContact(contactId) {
  if (!contactId) return false;
  const conv = state.convs.get(contactId);
  if (conv && conv.status === "active") return true;
  for (const p of state.pending.values()) {
    if (p.kind === "accept" && p.contactId === contactId) return true;
  }
  return false;
}

export const softphone = new Softphone({
  root: document.getElementById("softphone"),
  isAccepted: holdsContact,
  describe: (contactId) => {
    const contact = contactOf(contactId);
    return contact ? customerName(contact) : null;
  },
});

"""Which customer each live contact of this process belongs to, and which agents hold a
contact of a given customer: what routes a CRM change to the consoles showing that customer
(docs/protocol.md, `customer_changed`). Pure: no I/O, no event loop.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from contactcenter.core import events as ev
from contactcenter.crm import events as ce


def customer_holders(
    customer_ids: Iterable[str], index: CustomerIndex, holdings: Mapping[str, set[str]]
) -> frozenset[str]:
    """The agents in `holdings` (agent -> contacts held) holding a contact of any of
    `customer_ids`, by what `index` knows."""
    contacts: set[str] = set()
    for customer_id in customer_ids:
        contacts |= index.contacts_of(customer_id)
    if not contacts:
        return frozenset()
    return frozenset(a for a, held in holdings.items() if not contacts.isdisjoint(held))


class CustomerIndex:
    """Which customer each live contact belongs to, as far as this process has heard, and
    which customers were merged into which.

    Filled from `ContactArrived` and from the contact objects of `offer`, `assigned` and
    `snapshot` frames; a contact is forgotten when it is over (`WrapUpCompleted`,
    `ContactAbandoned`, an abandoned broadcast). A contact handed back to its queue (a
    rejected or expired offer, a transfer) is kept: it will be offered again. Both maps are
    bounded: past `max_contacts` (or `max_merges`) the entry learnt longest ago goes, so a
    missed end costs memory only up to the bound. A merge makes the merged customer's
    contacts the survivor's; undoing it gives back the contacts learnt under the merged id.
    """

    def __init__(self, *, max_contacts: int = 50_000, max_merges: int = 10_000) -> None:
        self.max_contacts = max_contacts
        self.max_merges = max_merges
        self._customer: OrderedDict[str, str] = OrderedDict()  # contact -> customer as learnt
        self._contacts: dict[str, set[str]] = {}  # customer as learnt -> contacts
        self._merged_into: OrderedDict[str, str] = OrderedDict()  # merged -> survivor
        self._merged: dict[str, set[str]] = {}  # survivor -> customers merged into it

    def __len__(self) -> int:
        return len(self._customer)

    def learn(self, contact_id: str, customer_id: str) -> None:
        if self._customer.get(contact_id) == customer_id:
            self._customer.move_to_end(contact_id)
            return
        self.forget(contact_id)
        self._customer[contact_id] = customer_id
        self._contacts.setdefault(customer_id, set()).add(contact_id)
        while len(self._customer) > self.max_contacts:
            self.forget(next(iter(self._customer)))

    def forget(self, contact_id: str) -> None:
        customer_id = self._customer.pop(contact_id, None)
        if customer_id is None:
            return
        contacts = self._contacts.get(customer_id)
        if contacts is not None:
            contacts.discard(contact_id)
            if not contacts:
                del self._contacts[customer_id]

    def merge(self, survivor_id: str, merged_id: str) -> None:
        if survivor_id == merged_id or self._survivor(survivor_id) == merged_id:
            return  # a loop would make every lookup spin: trust the newer event less
        self.unmerge(merged_id)
        self._merged_into[merged_id] = survivor_id
        self._merged.setdefault(survivor_id, set()).add(merged_id)
        while len(self._merged_into) > self.max_merges:
            self.unmerge(next(iter(self._merged_into)))

    def unmerge(self, merged_id: str) -> None:
        survivor_id = self._merged_into.pop(merged_id, None)
        if survivor_id is None:
            return
        merged = self._merged.get(survivor_id)
        if merged is not None:
            merged.discard(merged_id)
            if not merged:
                del self._merged[survivor_id]

    def _survivor(self, customer_id: str) -> str:
        seen = {customer_id}
        while (nxt := self._merged_into.get(customer_id)) is not None and nxt not in seen:
            seen.add(nxt)
            customer_id = nxt
        return customer_id

    def customer_of(self, contact_id: str) -> str | None:
        """The customer `contact_id` belongs to now (merges followed), None if unknown."""
        customer_id = self._customer.get(contact_id)
        return None if customer_id is None else self._survivor(customer_id)

    def contacts_of(self, customer_id: str) -> set[str]:
        """The known contacts of `customer_id` and of every customer merged into it."""
        out: set[str] = set()
        todo, seen = [customer_id], {customer_id}
        while todo:
            current = todo.pop()
            out |= self._contacts.get(current, set())
            for merged in self._merged.get(current, ()):
                if merged not in seen:
                    seen.add(merged)
                    todo.append(merged)
        return out

    def apply(self, event: ev.Event) -> None:
        """Follow one event of the stream."""
        match event:
            case ev.ContactArrived():
                self.learn(event.contact_id, event.customer_id)
            case ev.WrapUpCompleted() | ev.ContactAbandoned():
                self.forget(event.contact_id)
            case ev.BroadcastEnded() if event.why == "abandoned":
                self.forget(event.contact_id)
            case ce.CustomersMerged():
                self.merge(event.customer_id, event.merged_id)
            case ce.CustomersUnmerged():
                self.unmerge(event.merged_id)
            case _:
                pass

    def learn_frame(self, frame: Mapping[str, Any]) -> None:
        """Learn from the contact objects of an `offer`, `assigned` or `snapshot` frame."""
        kind = frame.get("type")
        if kind in ("offer", "assigned"):
            self._learn_contact(frame.get("contact"))
        elif kind == "snapshot":
            for contact in frame.get("contacts") or ():
                self._learn_contact(contact)

    def _learn_contact(self, contact: Any) -> None:
        if not isinstance(contact, Mapping):
            return
        customer = contact.get("customer")
        contact_id = contact.get("contact_id")
        if isinstance(customer, Mapping) and isinstance(contact_id, str):
            customer_id = customer.get("customer_id")
            if isinstance(customer_id, str) and customer_id:
                self.learn(contact_id, customer_id)

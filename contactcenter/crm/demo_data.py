"""Demo data (`contactcenter demo-data`): customers with two years of history, so that the demo
shows real tiers, lifecycles and histories.

Each buyer gets a start date, an order rate and a typical basket drawn from skewed (lognormal)
distributions, so that a few customers carry much of the value, as in real shops; some stop
buying (churn). Past contacts on every channel were handled by the demo agents, with a
disposition, a summary and a short transcript; some customers have open complaints, notes and
tags. Everything comes from one `random.Random(seed)`: the same seed and day give the same
data. It is written in one transaction, then every customer is recomputed; a database that
already has demo customers (external ids `demo-...`) is left alone.
"""

from __future__ import annotations

import math
import random
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import phonenumbers
import structlog
from tqdm import tqdm

from contactcenter.crm.identity import InvalidIdentity, normalise
from contactcenter.crm.orders import to_base
from contactcenter.crm.settings import CrmSettings
from contactcenter.crm.tier_recompute import full_recompute
from contactcenter.crm.tiers import RECOMPUTE_TIMEOUT_S, RecomputeReport

log = structlog.get_logger("contactcenter.crm.demo_data")

DEMO_PREFIX = "demo-"
_LOCK = 7_201_554  # advisory lock: one demo-data run at a time
HISTORY_DAYS = 730

# region, language, currency, share of customers
REGIONS = (
    ("US", "en", "USD", 0.35),
    ("GB", "en", "GBP", 0.15),
    ("FR", "fr", "EUR", 0.2),
    ("DE", "de", "EUR", 0.15),
    ("ES", "es", "EUR", 0.15),
)
FIRST = {
    "en": "James Mary Robert Linda Michael Sarah David Emma Daniel Olivia Aisha Omar Priya Wei",
    "fr": "Camille Louis Léa Hugo Chloé Lucas Manon Jules Inès Nathan Sarah Karim",
    "de": "Lukas Anna Leon Mia Felix Emma Jonas Lena Paul Hannah Mehmet Sofia",
    "es": "Lucía Hugo Martina Mateo Sofía Pablo Valeria Álvaro Carmen Diego Elena Javier",
}
LAST = {
    "en": "Smith Johnson Brown Taylor Wilson Davies Evans Thomas Patel Khan Walker Wright Chen",
    "fr": "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Haddad Simon",
    "de": "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Yilmaz",
    "es": "García Fernández González Rodríguez López Martínez Sánchez Pérez Gómez Martín Ruiz",
}
CHANNELS = ("chat", "chat", "chat", "email", "email", "voice", "sms", "whatsapp")
TOPICS = (
    ("Where is my order?", "Gave the tracking link; parcel due in two days."),
    ("The item arrived damaged.", "Sent a replacement; no need to return the damaged one."),
    ("I want to change my delivery address.", "Address changed before dispatch."),
    ("Can I get a refund?", "Refund issued to the original card, 3-5 days."),
    ("Do you have this in another size?", "Checked stock; size M back next week, reserved."),
    ("My discount code does not work.", "Code had expired; applied a new one to the order."),
    ("I was charged twice.", "Duplicate charge was a pre-authorisation; it will drop off."),
    ("How do I return an item?", "Explained the returns portal and sent a label."),
)
COMPLAINTS = (
    "Parcel lost in transit",
    "Refund not received after three weeks",
    "Rude delivery driver",
    "Wrong item delivered twice",
    "Charged for a cancelled order",
    "Product broke after one week",
)
NOTES = (
    "Prefers email over phone.",
    "Runs a small shop; orders in bulk before holidays.",
    "Call back within the hour if they ring: long-standing customer.",
    "Had a bad experience with a courier last year; be extra careful with deliveries.",
    "Speaks French as well.",
)
TAGS = ("newsletter", "b2b", "vip", "eco-packaging", "late-delivery", "wholesale")


@dataclass
class DemoData:
    """Rows for each table, in `copy_records_to_table` order (see `_COLUMNS`)."""

    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)

    def add(self, table: str, *row: Any) -> None:
        self.rows.setdefault(table, []).append(row)

    def count(self, table: str) -> int:
        return len(self.rows.get(table, []))


# the columns written to each table, in the order rows are added and tables are written
_COLUMNS = {
    "customers": "id display_name language created_at",
    "identities": "kind value customer_id created_at",
    "orders": "id external_id customer_id amount currency amount_base status ordered_at created_at",
    "contacts": "id customer_id channel queue state arrived_at accepted_at ended_at closed_at"
    " agent_id disposition notes language state_at summary",
    "messages": "id contact_id sender agent_id body created_at",
    "cases": "id customer_id kind subject status priority owner_id due_at created_by created_at"
    " updated_at closed_at",
    "case_contacts": "case_id contact_id",
    "customer_notes": "id customer_id author_id body created_at",
    "customer_tags": "customer_id tag created_at",
}


@dataclass(frozen=True)
class DemoReport:
    already_there: int  # demo customers found: nothing was written when above 0
    counts: dict[str, int]
    recompute: RecomputeReport | None


def _ascii(name: str) -> str:
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()


class _Generator:
    def __init__(
        self,
        rng: random.Random,
        now: datetime,
        crm: CrmSettings,
        agents: Sequence[uuid.UUID],
        queue: str,
        dispositions: Sequence[str],
    ) -> None:
        self.rng, self.now, self.crm, self.agents = rng, now, crm, agents
        self.queue, self.dispositions = queue, dispositions
        self.data = DemoData()
        self.phones: set[str] = set()
        self.orders = 0

    def new_id(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def at(self, days_ago: float) -> datetime:
        return self.now - timedelta(days=days_ago)

    def phone(self, region: str) -> str | None:
        """A valid mobile number of `region` not given out yet (the example number of the
        region's numbering plan with random last digits)."""
        example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        if example is None:
            return None
        digits = str(example.national_number)[:-6]
        for _ in range(20):
            raw = f"+{example.country_code}{digits}{self.rng.randrange(10**6):06d}"
            try:
                value = normalise("phone", raw)
            except InvalidIdentity:
                continue
            if value not in self.phones:
                self.phones.add(value)
                return value
        return None

    def customer(self, n: int) -> None:
        rng = self.rng
        region, language, currency, _ = rng.choices(REGIONS, weights=[r[3] for r in REGIONS])[0]
        first, last = rng.choice(FIRST[language].split()), rng.choice(LAST[language].split())
        since_days = rng.uniform(1, HISTORY_DAYS)
        created = self.at(since_days + rng.uniform(0, 30))
        cid = self.new_id()
        self.data.add("customers", cid, f"{first} {last}", language, created)
        self.data.add("identities", "external", f"{DEMO_PREFIX}{n:06d}", cid, created)
        domain = rng.choice(("example.com", "example.org", "example.net"))
        email = normalise("email", f"{_ascii(first)}.{_ascii(last)}{n}@{domain}")
        self.data.add("identities", "email", email, cid, created)
        phone = self.phone(region) if rng.random() < 0.7 else None
        for kind in ("phone", "whatsapp") if rng.random() < 0.3 else ("phone",):
            if phone:
                self.data.add("identities", kind, phone, cid, created)
        buyer = rng.random() < 0.88
        if buyer:
            known = currency in self.crm.exchange_rates
            self.order_history(cid, currency if known else None, since_days)
        last_contact = self.contacts(cid, language, since_days)
        self.extras(cid, buyer, language, last_contact)

    def order_history(self, cid: uuid.UUID, currency: str | None, since_days: float) -> None:
        """Orders from the customer's first day until now, or until they stopped buying."""
        rng = self.rng
        currency = currency or self.crm.base_currency
        per_day = rng.lognormvariate(math.log(4), 0.8) / 365
        basket = rng.lognormvariate(math.log(60), 0.9)
        day = since_days
        stopped = rng.uniform(0, day) if rng.random() < 0.25 else 0.0
        for _ in range(300):
            if day < stopped:
                break
            amount = Decimal(f"{basket * rng.lognormvariate(0, 0.5):.2f}")
            self.orders += 1
            self.data.add(
                "orders", self.new_id(), f"{DEMO_PREFIX}o{self.orders:07d}", cid, amount, currency,
                to_base(amount, currency, self.crm), self.status(day), self.at(day), self.at(day),
            )  # fmt: skip
            day -= rng.expovariate(per_day)

    def status(self, days_ago: float) -> str:
        r = self.rng.random()
        if r < 0.04:
            return "cancelled"
        if r < 0.06:
            return "refunded"
        return "paid" if days_ago < 2 else "shipped" if days_ago < 6 else "delivered"

    def contact(
        self, cid: uuid.UUID, language: str, days_ago: float, topic: tuple[str, str]
    ) -> uuid.UUID:
        """A finished contact handled by a demo agent, with its transcript (none for voice)."""
        rng = self.rng
        contact_id, agent, channel = self.new_id(), rng.choice(self.agents), rng.choice(CHANNELS)
        arrived = self.at(days_ago)
        accepted = arrived + timedelta(seconds=rng.uniform(10, 300))
        ended = accepted + timedelta(seconds=rng.uniform(60, 1200))
        closed = ended + timedelta(seconds=rng.uniform(20, 120))
        disposition = rng.choices(
            self.dispositions, weights=[8] + [1] * (len(self.dispositions) - 1)
        )
        self.data.add(
            "contacts", contact_id, cid, channel, self.queue, "closed", arrived, accepted, ended,
            closed, agent, disposition[0], "", language, closed, topic[1],
        )  # fmt: skip
        if channel != "voice":
            lines = (("customer", None, topic[0], arrived), ("agent", agent, topic[1], accepted))
            for sender, who, body, at in lines:
                self.data.add("messages", self.new_id(), contact_id, sender, who, body, at)
        return contact_id

    def contacts(self, cid: uuid.UUID, language: str, since_days: float) -> uuid.UUID | None:
        last = None
        for _ in range(self.rng.choice((0, 0, 1, 1, 1, 2, 2, 3, 5))):
            days = self.rng.uniform(0, since_days)
            last = self.contact(cid, language, days, self.rng.choice(TOPICS))
        return last

    def extras(
        self, cid: uuid.UUID, buyer: bool, language: str, last_contact: uuid.UUID | None
    ) -> None:
        """Complaints (some open), notes and tags for a few customers."""
        rng = self.rng
        if buyer and rng.random() < 0.05:
            subject = rng.choice(COMPLAINTS)
            days = rng.uniform(0, 20)
            contact = self.contact(cid, language, days, (subject + ".", "Complaint opened."))
            status = rng.choice(("open", "open", "pending"))
            self.case(cid, contact, "complaint", subject, status, days)
        if last_contact and rng.random() < 0.04:
            self.case(cid, last_contact, "request", "Invoice copy", "closed", rng.uniform(30, 300))
        if rng.random() < 0.08:
            note = rng.choice(NOTES)
            at = self.at(rng.uniform(0, 300))
            self.data.add("customer_notes", self.new_id(), cid, rng.choice(self.agents), note, at)
        for tag in rng.sample(TAGS, rng.choice((0, 0, 0, 0, 0, 1, 1, 2))):
            self.data.add("customer_tags", cid, tag, self.at(rng.uniform(0, 300)))

    def case(
        self, cid: uuid.UUID, contact: uuid.UUID, kind: str, subject: str, status: str, days: float
    ) -> None:
        created, owner = self.at(days), self.rng.choice(self.agents)
        closed = created + timedelta(days=2) if status == "closed" else None
        priority = self.rng.choice(("normal", "high", "high", "urgent"))
        case_id = self.new_id()
        self.data.add(
            "cases", case_id, cid, kind, subject, status, priority, owner,
            created + timedelta(days=2), owner, created, closed or created, closed,
        )  # fmt: skip
        self.data.add("case_contacts", case_id, contact)


def generate_demo(
    customers: int,
    seed: int,
    now: datetime,
    crm: CrmSettings,
    agents: Sequence[uuid.UUID],
    *,
    queue: str = "support",
    dispositions: Sequence[str] = ("resolved",),
    show_progress: bool = False,
) -> DemoData:
    """The demo rows: a pure function of its arguments (no I/O, no clock)."""
    gen = _Generator(random.Random(seed), now, crm, agents, queue, dispositions)
    for n in tqdm(range(1, customers + 1), desc="generating", unit=" customers",
                  disable=not show_progress, mininterval=0.5):  # fmt: skip
        gen.customer(n)
    return gen.data


async def _write(conn: asyncpg.Connection, data: DemoData, show_progress: bool) -> None:
    total = sum(len(rows) for rows in data.rows.values())
    with tqdm(total=total, desc="writing", unit=" rows", disable=not show_progress) as bar:
        for table, columns in _COLUMNS.items():
            rows = data.rows.get(table, [])
            for start in range(0, len(rows), 20_000):
                chunk = rows[start : start + 20_000]
                await conn.copy_records_to_table(
                    table, records=chunk, columns=columns.split(), timeout=RECOMPUTE_TIMEOUT_S
                )
                bar.update(len(chunk))


async def seed_demo_data(
    pool: asyncpg.Pool,
    crm: CrmSettings,
    *,
    customers: int,
    seed: int,
    now: datetime,
    agents: Sequence[uuid.UUID],
    queue: str = "support",
    dispositions: Sequence[str] = ("resolved",),
    show_progress: bool = False,
) -> DemoReport:
    """Write the demo data and recompute every customer, in one transaction; does nothing
    when demo customers are already there (`already_there` says how many)."""
    if not agents:
        raise ValueError("demo data needs at least one agent to have handled past contacts")
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
        found = await conn.fetchval(
            "SELECT count(*) FROM identities WHERE kind = 'external' AND value LIKE $1",
            DEMO_PREFIX + "%",
        )
        if found:
            log.info("demo_data_already_there", customers=found)
            return DemoReport(int(found), {}, None)
        data = generate_demo(
            customers, seed, now, crm, agents, queue=queue, dispositions=dispositions,
            show_progress=show_progress,
        )  # fmt: skip
        await _write(conn, data, show_progress)
        recompute = await full_recompute(conn, crm, now)
    counts = {table: data.count(table) for table in _COLUMNS}
    log.info("demo_data_written", **counts)
    return DemoReport(0, counts, recompute)

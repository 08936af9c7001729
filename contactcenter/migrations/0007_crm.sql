-- The CRM: one customer across every channel, with orders, value tier, lifecycle, cases,
-- notes, tags, an account manager, and a reversible record of every merge.

-- The profile. `tier` and the figures beside it are derived from orders (see
-- contactcenter/tiers.py); `tier_by_hand` is the tier an operator set for a customer with no
-- orders in the window. `merged_into` is set on a customer folded into another one: the row
-- stays so that the merge can be undone.
ALTER TABLE customers
    ADD COLUMN language        text,
    ADD COLUMN tier            text,
    ADD COLUMN tier_by_hand    text,
    ADD COLUMN value_amount    numeric(16, 2) NOT NULL DEFAULT 0,
    ADD COLUMN value_rank      integer,
    ADD COLUMN order_count     integer NOT NULL DEFAULT 0,
    ADD COLUMN first_order_at  timestamptz,
    ADD COLUMN last_order_at   timestamptz,
    ADD COLUMN lifecycle       text NOT NULL DEFAULT 'prospect',
    ADD COLUMN rfm_recency     smallint,
    ADD COLUMN rfm_frequency   smallint,
    ADD COLUMN rfm_monetary    smallint,
    ADD COLUMN account_manager uuid REFERENCES agents (id) ON DELETE SET NULL,
    ADD COLUMN merged_into     uuid REFERENCES customers (id),
    ADD COLUMN updated_at      timestamptz NOT NULL DEFAULT now();
CREATE INDEX customers_name ON customers (lower(display_name) text_pattern_ops)
    WHERE merged_into IS NULL;
CREATE INDEX customers_value ON customers (value_amount DESC) WHERE merged_into IS NULL;

-- An identity may be shared (a household phone): every holder has a row, and exactly one of
-- them is primary, the customer a contact from that identity resolves to.
ALTER TABLE identities DROP CONSTRAINT identities_pkey;
ALTER TABLE identities ADD COLUMN is_primary boolean NOT NULL DEFAULT true;
ALTER TABLE identities ADD PRIMARY KEY (kind, value, customer_id);
CREATE UNIQUE INDEX identities_primary ON identities (kind, value) WHERE is_primary;

-- Orders, in their own currency and in the base currency that value tiers are ranked in.
CREATE TABLE orders (
    id          uuid PRIMARY KEY,
    external_id text UNIQUE,
    customer_id uuid NOT NULL REFERENCES customers (id),
    amount      numeric(14, 2) NOT NULL CHECK (amount >= 0),
    currency    char(3) NOT NULL,
    amount_base numeric(14, 2) NOT NULL CHECK (amount_base >= 0),
    status      text NOT NULL CHECK (status IN
                    ('placed', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded')),
    ordered_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_customer ON orders (customer_id, ordered_at DESC);
CREATE INDEX orders_date ON orders (ordered_at);

-- Complaints and requests.
CREATE TABLE cases (
    id          uuid PRIMARY KEY,
    customer_id uuid NOT NULL REFERENCES customers (id),
    kind        text NOT NULL CHECK (kind IN ('complaint', 'request')),
    subject     text NOT NULL,
    status      text NOT NULL DEFAULT 'open'
                    CHECK (status IN ('open', 'pending', 'resolved', 'closed')),
    priority    text NOT NULL DEFAULT 'normal'
                    CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    owner_id    uuid REFERENCES agents (id) ON DELETE SET NULL,
    due_at      timestamptz,
    created_by  uuid REFERENCES agents (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    closed_at   timestamptz
);
CREATE INDEX cases_customer_open ON cases (customer_id) WHERE status IN ('open', 'pending');
CREATE TABLE case_contacts (
    case_id    uuid NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    contact_id uuid NOT NULL REFERENCES contacts (id),
    PRIMARY KEY (case_id, contact_id)
);

CREATE TABLE customer_notes (
    id          uuid PRIMARY KEY,
    customer_id uuid NOT NULL REFERENCES customers (id),
    author_id   uuid REFERENCES agents (id) ON DELETE SET NULL,
    body        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customer_notes_customer ON customer_notes (customer_id, created_at DESC);

CREATE TABLE customer_tags (
    customer_id uuid NOT NULL REFERENCES customers (id),
    tag         text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, tag)
);

-- A one-line summary of a finished contact, for the history shown with each offer.
ALTER TABLE contacts ADD COLUMN summary text NOT NULL DEFAULT '';

-- Every merge, with what moved, so that it can be undone.
CREATE TABLE customer_merges (
    id          uuid PRIMARY KEY,
    survivor_id uuid NOT NULL REFERENCES customers (id),
    merged_id   uuid NOT NULL REFERENCES customers (id),
    actor_id    uuid REFERENCES agents (id) ON DELETE SET NULL,  -- NULL: automatic
    reason      text NOT NULL,
    moved       jsonb NOT NULL,  -- the ids of the rows that moved, by table
    created_at  timestamptz NOT NULL DEFAULT now(),
    undone_at   timestamptz,
    undone_by   uuid REFERENCES agents (id) ON DELETE SET NULL
);
CREATE INDEX customer_merges_customer ON customer_merges (merged_id);

-- Automatic merges that conflict wait here for a person to decide.
CREATE TABLE merge_reviews (
    id          uuid PRIMARY KEY,
    customer_a  uuid NOT NULL REFERENCES customers (id),
    customer_b  uuid NOT NULL REFERENCES customers (id),
    reason      text NOT NULL,
    evidence    jsonb NOT NULL DEFAULT '{}',
    status      text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'merged', 'dismissed')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    decided_at  timestamptz,
    decided_by  uuid REFERENCES agents (id) ON DELETE SET NULL
);
CREATE UNIQUE INDEX merge_reviews_pending ON merge_reviews
    (LEAST(customer_a, customer_b), GREATEST(customer_a, customer_b)) WHERE status = 'pending';

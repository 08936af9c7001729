-- The system of record: customers and their identities, agents and their sessions, contacts,
-- their messages, and the history of every event.

CREATE TABLE customers (
    id           uuid PRIMARY KEY,
    display_name text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- A way to reach a customer: kind is 'visitor' (web chat), 'phone', 'email', 'whatsapp'...
CREATE TABLE identities (
    kind        text NOT NULL,
    value       text NOT NULL,
    customer_id uuid NOT NULL REFERENCES customers (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, value)
);
CREATE INDEX identities_customer ON identities (customer_id);

CREATE TABLE agents (
    id            uuid PRIMARY KEY,
    username      text NOT NULL UNIQUE,
    display_name  text NOT NULL,
    role          text NOT NULL CHECK (role IN ('agent', 'supervisor', 'admin')),
    password_hash text NOT NULL,
    skills        jsonb NOT NULL DEFAULT '{}',
    chat_capacity integer NOT NULL DEFAULT 3 CHECK (chat_capacity >= 0),
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Login sessions; only a hash of the token is kept.
CREATE TABLE sessions (
    token_hash text PRIMARY KEY,
    agent_id   uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);

CREATE TABLE contacts (
    id          uuid PRIMARY KEY,
    customer_id uuid NOT NULL REFERENCES customers (id),
    channel     text NOT NULL,
    queue       text NOT NULL,
    state       text NOT NULL,  -- queued, assigned, wrapup, closed, abandoned
    arrived_at  timestamptz NOT NULL,
    accepted_at timestamptz,
    ended_at    timestamptz,
    closed_at   timestamptz,
    agent_id    uuid REFERENCES agents (id),
    disposition text,
    notes       text NOT NULL DEFAULT ''
);
CREATE INDEX contacts_customer ON contacts (customer_id, arrived_at DESC);
CREATE INDEX contacts_open ON contacts (state) WHERE state NOT IN ('closed', 'abandoned');

CREATE TABLE messages (
    id            uuid PRIMARY KEY,
    contact_id    uuid NOT NULL REFERENCES contacts (id),
    sender        text NOT NULL CHECK (sender IN ('customer', 'agent', 'system')),
    agent_id      uuid REFERENCES agents (id),
    body          text NOT NULL,
    client_msg_id text,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX messages_contact ON messages (contact_id, created_at);
-- A retried send (same client message id) is stored once.
CREATE UNIQUE INDEX messages_client_id ON messages (contact_id, sender, client_msg_id)
    WHERE client_msg_id IS NOT NULL;

-- Every event of the stream, stored once (idempotent on event_id).
CREATE TABLE events (
    event_id   text PRIMARY KEY,
    type       text NOT NULL,
    at         timestamptz NOT NULL,
    contact_id uuid,
    agent_id   uuid,
    payload    jsonb NOT NULL,
    stored_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_contact ON events (contact_id, at);

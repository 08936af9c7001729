-- The email channel (docs/email.md): every email in and out, threaded to its contact by
-- Message-ID, with its attachments. Outbound rows are also the outbox the sender works from.

CREATE TABLE email_messages (
    id              uuid PRIMARY KEY,
    -- The Message-ID, angle brackets kept: one row per email however often it arrives.
    rfc_message_id  text NOT NULL UNIQUE,
    direction       text NOT NULL CHECK (direction IN ('in', 'out')),
    contact_id      uuid NOT NULL REFERENCES contacts (id),
    -- The conversation message the email carries (the customer's, or the agent's reply).
    message_id      uuid UNIQUE REFERENCES messages (id),
    from_address    text NOT NULL,
    -- Where an answer goes: Reply-To, else From (in); the customer (out).
    reply_address   text NOT NULL,
    -- Our address the customer wrote to (in: the envelope recipient), matched by routing.
    entry           text NOT NULL DEFAULT '',
    subject         text NOT NULL DEFAULT '',
    in_reply_to     text[] NOT NULL DEFAULT '{}',
    reference_ids   text[] NOT NULL DEFAULT '{}',
    -- The whole email as received or as sent: nothing of it is lost to parsing.
    raw             bytea NOT NULL,
    -- in: received. out: queued until sent, or failed for good (last_error says why).
    state           text NOT NULL CHECK (state IN ('received', 'queued', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    sent_at         timestamptz
);
CREATE INDEX email_messages_contact ON email_messages (contact_id, direction, created_at DESC);
CREATE INDEX email_outbox ON email_messages (next_attempt_at) WHERE state = 'queued';

CREATE TABLE email_attachments (
    id           uuid PRIMARY KEY,
    email_id     uuid NOT NULL REFERENCES email_messages (id) ON DELETE CASCADE,
    position     integer NOT NULL,
    filename     text NOT NULL,
    content_type text NOT NULL,
    size_bytes   integer NOT NULL,
    sha256       text NOT NULL,
    content      bytea NOT NULL,
    UNIQUE (email_id, position)
);

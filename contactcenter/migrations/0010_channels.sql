-- Channels beyond the web chat (docs/channels.md): what a channel knows of each message, where
-- a contact's replies go, and each webhook delivery recorded once.

-- external_id: the channel's own id of the message (a Twilio MessageSid), unique.
-- delivery_status: for an agent's message, "submitting" while the hub hands it to the channel,
--   then the channel's own statuses (queued, sent, delivered, read, undelivered, failed...);
--   "received" for a customer's message. NULL on the web chat.
-- media: attachments kept as links, [{"url": ..., "content_type": ...}].
ALTER TABLE messages
    ADD COLUMN external_id         text,
    ADD COLUMN delivery_status     text,
    ADD COLUMN delivery_error      text,
    ADD COLUMN delivery_updated_at timestamptz,
    ADD COLUMN media               jsonb NOT NULL DEFAULT '[]';
CREATE UNIQUE INDEX messages_external_id ON messages (external_id) WHERE external_id IS NOT NULL;

-- Where a contact's replies go: the customer's address and ours, as the channel writes them
-- (whatsapp:+14155550123), from the customer's latest message.
CREATE TABLE contact_endpoints (
    contact_id uuid PRIMARY KEY REFERENCES contacts (id),
    channel    text NOT NULL,
    remote     text NOT NULL,
    local      text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Each webhook delivery once, on its sid (Twilio retries carry the same MessageSid or
-- CallSid), and the durable inbox of those handled after the webhook was answered: a pending
-- one keeps its payload until a worker, holding it until claimed_until, has handled it. One
-- sender_key's receipts are handled one at a time, in arrival order.
CREATE TABLE webhook_receipts (
    kind          text NOT NULL,  -- "twilio.message", ...
    sid           text NOT NULL,
    sender_key    text,
    payload       jsonb,
    received_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    claimed_until timestamptz,
    attempts      integer NOT NULL DEFAULT 0,
    handled_at    timestamptz,
    outcome       text,           -- "stored", "refused", "failed"
    contact_id    uuid,
    message_id    uuid,
    PRIMARY KEY (kind, sid)
);
CREATE INDEX webhook_receipts_pending ON webhook_receipts (kind, received_at, sid)
    WHERE handled_at IS NULL;
CREATE INDEX webhook_receipts_sender ON webhook_receipts (kind, sender_key, received_at, sid)
    WHERE handled_at IS NULL;
CREATE INDEX webhook_receipts_received ON webhook_receipts (received_at) WHERE handled_at IS NOT NULL;

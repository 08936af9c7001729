-- The web chat widget (docs/widget.md): the customer's satisfaction rating of a contact, given
-- once after it ended, and how far each side has read its conversation.

ALTER TABLE contacts
    -- 1 (bad) to 5 (good); NULL until the customer rates the contact, which they may do once.
    ADD COLUMN csat_rating  smallint CHECK (csat_rating BETWEEN 1 AND 5),
    ADD COLUMN csat_comment text CHECK (char_length(csat_comment) <= 1000),
    ADD COLUMN csat_at      timestamptz,
    -- The last message each side has read (messages.id, of this contact); it only moves on.
    ADD COLUMN customer_read_message_id uuid,
    ADD COLUMN agent_read_message_id    uuid;

-- Ratings by queue over time, for reports.
CREATE INDEX contacts_csat ON contacts (queue, csat_at) WHERE csat_rating IS NOT NULL;

-- The routing domain a contact is queued in, so that live state can be rebuilt per domain
-- when several domains share one database.
ALTER TABLE contacts ADD COLUMN routing_domain text NOT NULL DEFAULT 'main';
CREATE INDEX contacts_waiting ON contacts (routing_domain, arrived_at) WHERE state = 'queued';

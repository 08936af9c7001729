-- The routing domain whose stream an event came from, so that live state is rebuilt per
-- domain when several domains share one database.
ALTER TABLE events ADD COLUMN routing_domain text NOT NULL DEFAULT 'main';
CREATE INDEX events_presence ON events (routing_domain, agent_id, at DESC)
    WHERE type = 'AgentStateChanged';

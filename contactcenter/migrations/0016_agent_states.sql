-- Time in each state and reason (docs/states.md): one row per period an agent spent in one
-- presence, written by the history writer from AgentStateChanged events, so that reports sum
-- durations without scanning the event log. A period starts with its event and ends when the
-- agent's next state change starts the next one (ended_at NULL: the agent is in it still).
CREATE TABLE agent_state_periods (
    -- The AgentStateChanged that started the period: a redelivered event writes nothing twice.
    event_id       text PRIMARY KEY,
    routing_domain text NOT NULL,
    agent_id       uuid NOT NULL,
    state          text NOT NULL,
    -- The away reason code (config/reasons.toml), or the hub's own (missed-offers,
    -- no-console); NULL without one.
    reason         text,
    -- Whether the time counts as productive, as the catalogue said when the period began.
    productive     boolean NOT NULL,
    started_at     timestamptz NOT NULL,
    ended_at       timestamptz,
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);
CREATE INDEX agent_state_periods_agent
    ON agent_state_periods (routing_domain, agent_id, started_at);
CREATE INDEX agent_state_periods_started ON agent_state_periods (started_at);

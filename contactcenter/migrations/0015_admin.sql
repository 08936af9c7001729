-- Administration (docs/admin.md): agents' accounts kept by operators, teams, the audit log.

-- An agent's account: an email to reach them, whether it may log in, and whether the
-- password was set by an administrator (a one-time password the agent must change at
-- first login). Accounts are deactivated, never deleted while they have history.
ALTER TABLE agents ADD COLUMN email text;
ALTER TABLE agents ADD COLUMN active boolean NOT NULL DEFAULT true;
ALTER TABLE agents ADD COLUMN must_change_password boolean NOT NULL DEFAULT false;
ALTER TABLE agents ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE agents ADD COLUMN last_login_at timestamptz;

-- Teams: members, their supervisors (supervises = true), and the queues the team answers
-- for. A supervisor sees and acts on the agents and queues of the teams they supervise.
CREATE TABLE teams (
    id         uuid PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE team_members (
    team_id    uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    agent_id   uuid NOT NULL REFERENCES agents (id),
    supervises boolean NOT NULL DEFAULT false,
    PRIMARY KEY (team_id, agent_id)
);
CREATE INDEX team_members_agent ON team_members (agent_id);
CREATE TABLE team_queues (
    team_id uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    queue   text NOT NULL,
    PRIMARY KEY (team_id, queue)
);

-- Every administrative change: who made it, what it changed, before and after.
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor_id    uuid REFERENCES agents (id),
    actor       text NOT NULL,
    action      text NOT NULL,
    target_kind text NOT NULL,
    target_id   text NOT NULL,
    before      jsonb,
    after       jsonb
);
CREATE INDEX audit_log_target ON audit_log (target_kind, target_id, id);

-- The supervisors' list of contacts (GET /api/contacts): newest first within a routing domain,
-- read a page at a time without sorting the whole table.
CREATE INDEX contacts_domain_arrived ON contacts (routing_domain, arrived_at DESC, id DESC);

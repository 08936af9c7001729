-- The voice channel (docs/channels.md, "Twilio voice").

-- Where an agent takes calls: 'client' (the browser softphone, Twilio Voice SDK identity
-- agent_<agent id without dashes>) or their own phone, an E.164 number.
ALTER TABLE agents ADD COLUMN voice_to text NOT NULL DEFAULT 'client'
    CHECK (voice_to = 'client' OR voice_to ~ '^\+[1-9][0-9]{6,14}$');

-- Each call once, on its CallSid (Twilio's retries carry the same one): the row is the
-- call's receipt, and what the webhooks after the first need to know.
-- caller, called: From and To as Twilio sent them (called is the contact's routing `entry`).
-- language, intents: what the IVR chose.
-- start_claimed_until: a webhook starting the contact holds the call until then, so that a
--   duplicate delivery waits for its outcome instead of starting a second contact.
-- outcome: 'queued' (contact_id is its contact), 'closed' or 'full' (refused, to voicemail,
--   after the caller heard `refusal`: the queue's closed message, or that it is full).
-- updated_at_ms, bridged_agent_id: the stream event (its at_ms) that last changed the call
--   through the REST API, and the agent it bridged the caller to (NULL: back in the queue),
--   so that an event delivered twice changes the call once.
-- hangup_claimed_at: the hub asked Twilio to end the call (the agent ended it).
-- ended_at, end_status: Twilio's final CallStatus (completed, busy, failed, no-answer...).
CREATE TABLE voice_calls (
    call_sid            text PRIMARY KEY,
    caller              text NOT NULL,
    called              text NOT NULL,
    customer_id         uuid REFERENCES customers (id),
    language            text,
    intents             text[] NOT NULL DEFAULT '{}',
    start_claimed_until timestamptz,
    outcome             text CHECK (outcome IN ('queued', 'closed', 'full')),
    refusal             text,
    contact_id          uuid UNIQUE REFERENCES contacts (id),
    updated_at_ms       bigint,
    bridged_agent_id    uuid REFERENCES agents (id) ON DELETE SET NULL,
    hangup_claimed_at   timestamptz,
    ended_at            timestamptz,
    end_status          text,
    created_at          timestamptz NOT NULL DEFAULT now()
);

-- Each voicemail once, on its RecordingSid, with the callback case it opened. A webhook
-- opening the case holds the voicemail until case_claimed_until.
CREATE TABLE voicemails (
    recording_sid      text PRIMARY KEY,
    call_sid           text NOT NULL REFERENCES voice_calls (call_sid),
    customer_id        uuid NOT NULL REFERENCES customers (id),
    contact_id         uuid REFERENCES contacts (id),
    recording_url      text NOT NULL,
    duration_s         integer NOT NULL DEFAULT 0,
    case_id            uuid REFERENCES cases (id),
    case_claimed_until timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX voicemails_call ON voicemails (call_sid);

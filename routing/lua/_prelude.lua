-- Shared prologue of every script.

-- Agents whose last contact `release` just freed while they had a next state waiting
-- (docs/states.md): {agent hash, now_ms}. The next `append_event` of the script applies it.
local settling = {}

local function xadd(stream, id, kind, at_ms, data)
  redis.call('XADD', stream, '*', 'id', id, 'type', kind, 'at_ms', at_ms, 'data', data)
end

-- An agent's next state takes effect: presence and reason set, the next state cleared, and
-- AgentStateChanged then AgentNextStateApplied appended after the event `cause` (their ids
-- derive from it and the agent, so they are unique and the same on any process).
local function apply_next_state(agent, stream, now_ms, cause)
  local a = redis.call('HMGET', agent, 'next_state', 'next_reason', 'next_productive',
    'agent_id', 'state', 'reason')
  if not a[1] or a[1] == '' then
    return
  end
  redis.call('HDEL', agent, 'next_state', 'next_reason', 'next_productive')
  local reason = a[2] or ''
  local json_reason = cjson.null
  if reason ~= '' then
    json_reason = reason
  end
  if a[5] ~= a[1] or (a[6] or '') ~= reason then
    local productive = cjson.null
    if a[3] == '1' then
      productive = true
    elseif a[3] == '0' then
      productive = false
    end
    redis.call('HSET', agent, 'state', a[1], 'reason', reason)
    xadd(stream, redis.sha1hex(cause .. ':' .. agent .. ':state'):sub(1, 32),
      'AgentStateChanged', now_ms, cjson.encode({agent_id = a[4], state = a[1],
        reason = json_reason, productive = productive}))
  end
  xadd(stream, redis.sha1hex(cause .. ':' .. agent .. ':next'):sub(1, 32),
    'AgentNextStateApplied', now_ms,
    cjson.encode({agent_id = a[4], state = a[1], reason = json_reason}))
end

-- Append the event described by ARGV[base..base+3] (event id, type, at_ms, JSON data) to the
-- stream key `stream`, then the next states that `release` let take effect. No trimming
-- here: the stream is trimmed only below what every consumer group has acknowledged
-- (contactcenter/stream_trim.py), so no reader loses an event.
local function append_event(stream, base)
  xadd(stream, ARGV[base], ARGV[base + 1], ARGV[base + 2], ARGV[base + 3])
  for _, s in ipairs(settling) do
    apply_next_state(s[1], stream, s[2], ARGV[base])
  end
  settling = {}
end

local CHANNELS = {'voice', 'chat', 'sms', 'whatsapp', 'email'}

-- Contacts of every channel an agent holds (offers, conversations, wrap-ups).
local function total_load(agent)
  local n = 0
  for _, ch in ipairs(CHANNELS) do
    n = n + tonumber(redis.call('HGET', agent, 'load:' .. ch) or '0')
  end
  return n
end

-- Whether an agent can be offered a contact of `channel` now: 0 yes, -2 not available (or
-- waiting for their next state), -3 no room on the channel, -4 on a voice call that blocks
-- text contacts.
local function room_status(agent, channel)
  local a = redis.call('HMGET', agent, 'state', 'load:' .. channel, 'cap:' .. channel,
    'voice_blocks', 'load:voice', 'next_state')
  if a[1] ~= 'available' or (a[6] and a[6] ~= '') then
    return -2
  end
  if tonumber(a[2] or '0') >= tonumber(a[3] or '0') then
    return -3
  end
  if channel ~= 'voice' and a[4] == '1' and tonumber(a[5] or '0') > 0 then
    return -4
  end
  return 0
end

-- Free one unit of the agent's capacity on `channel`; an agent left with nothing on hand is
-- idle from `now_ms` on, and their next state, if they chose one, takes effect with the
-- script's event (every script that calls this appends one afterwards).
local function release(agent, channel, now_ms)
  if tonumber(redis.call('HINCRBY', agent, 'load:' .. channel, -1)) < 0 then
    redis.call('HSET', agent, 'load:' .. channel, 0)
  end
  if total_load(agent) == 0 then
    redis.call('HSET', agent, 'idle_since_ms', now_ms)
    local next_state = redis.call('HGET', agent, 'next_state')
    if next_state and next_state ~= '' then
      settling[#settling + 1] = {agent, now_ms}
    end
  end
end

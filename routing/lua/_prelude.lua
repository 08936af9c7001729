-- Shared prologue of every script.

-- Append the event described by ARGV[base..base+3] (event id, type, at_ms, JSON data) to the
-- stream key `stream`. No trimming here: the stream is trimmed only below what every consumer
-- group has acknowledged (contactcenter/stream_trim.py), so no reader loses an event.
local function append_event(stream, base)
  redis.call('XADD', stream, '*',
    'id', ARGV[base], 'type', ARGV[base + 1], 'at_ms', ARGV[base + 2], 'data', ARGV[base + 3])
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

-- Whether an agent can be offered a contact of `channel` now: 0 yes, -2 not available,
-- -3 no room on the channel, -4 on a voice call that blocks text contacts.
local function room_status(agent, channel)
  local a = redis.call('HMGET', agent, 'state', 'load:' .. channel, 'cap:' .. channel,
    'voice_blocks', 'load:voice')
  if a[1] ~= 'available' then
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
-- idle from `now_ms` on.
local function release(agent, channel, now_ms)
  if tonumber(redis.call('HINCRBY', agent, 'load:' .. channel, -1)) < 0 then
    redis.call('HSET', agent, 'load:' .. channel, 0)
  end
  if total_load(agent) == 0 then
    redis.call('HSET', agent, 'idle_since_ms', now_ms)
  end
end

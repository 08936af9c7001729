-- Claim a (waiting contact, agent with room) pair: the contact leaves the queue and is offered
-- to the agent until a deadline, and the offer holds one unit of the agent's capacity on the
-- contact's channel.
-- KEYS: 1 contact hash, 2 queue zset, 3 agent hash, 4 offers zset, 5 agent contacts set,
--       6 event stream
-- ARGV: 1 contact_id, 2 agent_id, 3 deadline_ms, 4 now_ms, 5..9 event (ContactOffered)
-- Returns: 1 offered, -1 contact no longer waiting, -2 agent not available, -3 agent full on
--          the channel, -4 agent on a voice call that blocks text contacts
local c = redis.call('HMGET', KEYS[1], 'state', 'channel')
if c[1] ~= 'queued' or not redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  return -1
end
local ch = c[2]
local a = redis.call('HMGET', KEYS[3], 'state', 'load:' .. ch, 'cap:' .. ch, 'voice_blocks',
  'load:voice')
if a[1] ~= 'available' then
  return -2
end
if tonumber(a[2] or '0') >= tonumber(a[3] or '0') then
  return -3
end
if ch ~= 'voice' and a[4] == '1' and tonumber(a[5] or '0') > 0 then
  return -4
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], 'state', 'offered', 'agent_id', ARGV[2], 'deadline_ms', ARGV[3])
redis.call('HINCRBY', KEYS[3], 'load:' .. ch, 1)
redis.call('HSET', KEYS[3], 'last_offer_ms', ARGV[4])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
redis.call('SADD', KEYS[5], ARGV[1])
append_event(KEYS[6], 5)
return 1

-- Claim a (waiting contact, agent with room) pair: the contact leaves the queue and is offered
-- to the agent until a deadline, and the offer holds one unit of the agent's capacity on the
-- contact's channel.
-- KEYS: 1 contact hash, 2 queue zset, 3 agent hash, 4 offers zset, 5 agent contacts set,
--       6 event stream
-- ARGV: 1 contact_id, 2 agent_id, 3 deadline_ms, 4 now_ms, 5..8 event (ContactOffered)
-- Returns: 1 offered, -1 contact no longer waiting, -2 agent not available, -3 agent full on
--          the channel, -4 agent on a voice call that blocks text contacts
local c = redis.call('HMGET', KEYS[1], 'state', 'channel')
if c[1] ~= 'queued' or not redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  return -1
end
local ch = c[2]
local room = room_status(KEYS[3], ch)
if room ~= 0 then
  return room
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], 'state', 'offered', 'agent_id', ARGV[2], 'deadline_ms', ARGV[3])
redis.call('HINCRBY', KEYS[3], 'load:' .. ch, 1)
redis.call('HSET', KEYS[3], 'last_offer_ms', ARGV[4])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
redis.call('SADD', KEYS[5], ARGV[1])
append_event(KEYS[6], 5)
return 1

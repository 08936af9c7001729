-- The agent accepts an offer that is still theirs and still within its lease; their count of
-- missed offers starts again.
-- KEYS: 1 contact hash, 2 offers zset, 3 agent hash, 4 event stream
-- ARGV: 1 contact_id, 2 agent_id, 3 now_ms, 4..7 event (OfferAccepted)
-- Returns: 1 accepted, -1 no such offer for this agent, -2 the lease has run out
local c = redis.call('HMGET', KEYS[1], 'state', 'agent_id', 'deadline_ms')
if c[1] ~= 'offered' or c[2] ~= ARGV[2] then
  return -1
end
if tonumber(c[3]) <= tonumber(ARGV[3]) then
  return -2
end
redis.call('HSET', KEYS[1], 'state', 'assigned')
redis.call('HDEL', KEYS[1], 'deadline_ms')
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], 'misses', 0)
append_event(KEYS[4], 4)
return 1

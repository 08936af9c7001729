-- Take an offer back (rejected by the agent, or its lease ran out): the contact returns to its
-- queue with its original score, so it keeps its place, and the agent's capacity is freed.
-- KEYS: 1 contact hash, 2 queue zset, 3 agent hash, 4 offers zset, 5 agent contacts set,
--       6 declined set, 7 event stream
-- ARGV: 1 contact_id, 2 agent_id, 3 now_ms, 4 mode ('reject' or 'expire'), 5 queue name,
--       6..10 event (OfferRejected or OfferExpired)
-- Returns: 1 requeued, -1 no such offer for this agent, -2 lease not yet expired (expire mode),
--          -3 the contact is in another queue than the caller thought
local c = redis.call('HMGET', KEYS[1], 'state', 'agent_id', 'deadline_ms', 'score', 'queue')
if c[1] ~= 'offered' or c[2] ~= ARGV[2] then
  return -1
end
if ARGV[4] == 'expire' and tonumber(c[3]) > tonumber(ARGV[3]) then
  return -2
end
if c[5] ~= ARGV[5] then
  return -3
end
redis.call('HSET', KEYS[1], 'state', 'queued')
redis.call('HDEL', KEYS[1], 'agent_id', 'deadline_ms')
redis.call('ZADD', KEYS[2], c[4], ARGV[1])
if tonumber(redis.call('HINCRBY', KEYS[3], 'load', -1)) < 0 then
  redis.call('HSET', KEYS[3], 'load', 0)
end
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('SREM', KEYS[5], ARGV[1])
redis.call('SADD', KEYS[6], ARGV[2])
append_event(KEYS[7], 6)
return 1

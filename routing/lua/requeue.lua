-- Take an offer back: the contact returns to its queue with its original score, so it keeps
-- its place, and the agent's capacity is freed. A rejected or expired offer counts as a miss;
-- after `max_misses` misses in a row an available agent is set away (reason missed-offers).
-- A withdrawn offer (the agent went offline) is no miss.
-- KEYS: 1 contact hash, 2 queue zset, 3 agent hash, 4 offers zset, 5 agent contacts set,
--       6 declined set, 7 event stream
-- ARGV: 1 contact_id, 2 agent_id, 3 now_ms, 4 mode ('reject', 'expire' or 'withdraw'),
--       5 queue name, 6 max_misses (0: never set away),
--       7..10 event (OfferRejected or OfferExpired), 11..14 event (AgentStateChanged to away)
-- Returns: 1 requeued, 2 requeued and the agent set away, -1 no such offer for this agent,
--          -2 lease not yet expired (expire mode), -3 the contact is in another queue,
--          -4 a broadcast offer (broadcast_release.lua takes those back)
local c = redis.call('HMGET', KEYS[1], 'state', 'agent_id', 'deadline_ms', 'score', 'queue',
  'channel', 'broadcast')
if c[7] == '1' then
  return -4
end
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
release(KEYS[3], c[6], ARGV[3])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('SREM', KEYS[5], ARGV[1])
redis.call('SADD', KEYS[6], ARGV[2])
append_event(KEYS[7], 7)
if ARGV[4] == 'withdraw' then
  return 1
end
local misses = redis.call('HINCRBY', KEYS[3], 'misses', 1)
local max_misses = tonumber(ARGV[6])
if max_misses > 0 and misses >= max_misses
    and redis.call('HGET', KEYS[3], 'state') == 'available' then
  redis.call('HSET', KEYS[3], 'state', 'away', 'reason', 'missed-offers', 'misses', 0)
  append_event(KEYS[7], 11)
  return 2
end
return 1

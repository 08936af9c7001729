-- Transfer a contact in conversation to a queue: it waits there again with the score the
-- caller computed from its ORIGINAL arrival time, and the agent's capacity is freed.
-- KEYS: 1 contact hash, 2 target queue zset, 3 agent hash, 4 agent contacts set, 5 queues set,
--       6 declined set, 7 event stream
-- ARGV: 1 contact_id, 2 agent_id (who holds it now), 3 target queue name, 4 score in the
--       target queue, 5 now_ms, 6..9 event (ContactTransferred)
-- Returns: 1 transferred, -1 not in conversation with this agent
local c = redis.call('HMGET', KEYS[1], 'state', 'agent_id', 'channel')
if c[1] ~= 'assigned' or c[2] ~= ARGV[2] then
  return -1
end
redis.call('HSET', KEYS[1], 'state', 'queued', 'queue', ARGV[3], 'score', ARGV[4], 'step', 0)
redis.call('HDEL', KEYS[1], 'agent_id')
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('SADD', KEYS[5], ARGV[3])
-- Whoever handed it on is passed over while anyone else can take it (as after a decline).
redis.call('DEL', KEYS[6])
redis.call('SADD', KEYS[6], ARGV[2])
release(KEYS[3], c[3], ARGV[5])
redis.call('SREM', KEYS[4], ARGV[1])
append_event(KEYS[7], 6)
return 1

-- Move a waiting contact that waited its queue's maximum to the overflow queue, with the
-- score the caller computed from its ORIGINAL arrival time (it keeps its seniority there).
-- KEYS: 1 contact hash, 2 from queue zset, 3 to queue zset, 4 queues set, 5 event stream
-- ARGV: 1 contact_id, 2 from queue name, 3 to queue name, 4 score in the target queue,
--       5..8 event (ContactOverflowed)
-- Returns: 1 moved, -1 no longer waiting in the from queue
local c = redis.call('HMGET', KEYS[1], 'state', 'queue')
if c[1] ~= 'queued' or c[2] ~= ARGV[2] then
  return -1
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[3])
redis.call('HSET', KEYS[1], 'queue', ARGV[3], 'score', ARGV[4], 'step', 0)
append_event(KEYS[5], 5)
return 1

-- Put a new contact in its queue.
-- KEYS: 1 contact hash, 2 queue zset, 3 queues set, 4 event stream
-- ARGV: 1 contact_id, 2 queue, 3 channel, 4 priority, 5 enqueued_at_ms, 6 score,
--       7 customer_id, 8 required skills (JSON list), 9 language ('' for none),
--       10 preferred agent id ('' for none), 11 max queue length (0: no limit),
--       12..15 event (ContactQueued)
-- Returns: 1 queued, 0 already known (a retried arrival; nothing changes), -1 queue full
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local max_length = tonumber(ARGV[11])
if max_length > 0 and redis.call('ZCARD', KEYS[2]) >= max_length then
  return -1
end
redis.call('HSET', KEYS[1], 'contact_id', ARGV[1], 'queue', ARGV[2], 'channel', ARGV[3],
  'priority', ARGV[4], 'enqueued_at_ms', ARGV[5], 'score', ARGV[6], 'customer_id', ARGV[7],
  'required_skills', ARGV[8], 'language', ARGV[9], 'preferred_agent_id', ARGV[10],
  'step', 0, 'state', 'queued')
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[2])
append_event(KEYS[4], 12)
return 1

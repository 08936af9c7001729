-- Put a new contact in its queue.
-- KEYS: 1 contact hash, 2 queue zset, 3 queues set, 4 event stream
-- ARGV: 1 contact_id, 2 queue, 3 skill, 4 channel, 5 priority, 6 enqueued_at_ms, 7 score,
--       8 customer_id, 9..13 event (ContactQueued)
-- Returns: 1 queued, 0 already known (a retried arrival; nothing changes)
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'contact_id', ARGV[1], 'queue', ARGV[2], 'skill', ARGV[3],
  'channel', ARGV[4], 'priority', ARGV[5], 'enqueued_at_ms', ARGV[6], 'score', ARGV[7],
  'customer_id', ARGV[8], 'state', 'queued')
redis.call('ZADD', KEYS[2], ARGV[7], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[2])
append_event(KEYS[4], 9)
return 1

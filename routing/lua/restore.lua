-- Rebuild a contact that an agent holds (in conversation or wrap-up) from the record, after
-- Redis lost it: the contact, the agent's load on its channel, and the agent's contacts.
-- KEYS: 1 contact hash, 2 agent hash, 3 agent contacts set, 4 event stream
-- ARGV: 1 contact_id, 2 queue, 3 channel, 4 priority, 5 enqueued_at_ms, 6 score,
--       7 customer_id, 8 state ('assigned' or 'wrapup'), 9 agent_id, 10 ended_at_ms ('' if none),
--       11..14 event (ContactRestored)
-- Returns: 1 restored, 0 already known, -1 the agent is not known to routing yet
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  return -1
end
redis.call('HSET', KEYS[1], 'contact_id', ARGV[1], 'queue', ARGV[2], 'channel', ARGV[3],
  'priority', ARGV[4], 'enqueued_at_ms', ARGV[5], 'score', ARGV[6], 'customer_id', ARGV[7],
  'state', ARGV[8], 'agent_id', ARGV[9], 'step', 0, 'required_skills', '[]')
if ARGV[10] ~= '' then
  redis.call('HSET', KEYS[1], 'ended_at_ms', ARGV[10])
end
redis.call('HINCRBY', KEYS[2], 'load:' .. ARGV[3], 1)
redis.call('SADD', KEYS[3], ARGV[1])
append_event(KEYS[4], 11)
return 1

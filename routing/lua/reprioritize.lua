-- Change a waiting contact's priority: a queued contact moves to its new place at once, an
-- offered one takes it should the offer go back.
-- KEYS: 1 contact hash, 2 its queue zset, 3 event stream
-- ARGV: 1 contact_id, 2 priority, 3 new score, 4 queue name, 5..8 event (ContactReprioritized)
-- Returns: 1 changed, -1 not waiting, -2 in another queue than the caller thought
local c = redis.call('HMGET', KEYS[1], 'state', 'queue')
local state = c[1]
if c[2] ~= ARGV[4] then
  return -2
end
if state == 'queued' then
  redis.call('ZADD', KEYS[2], 'XX', ARGV[3], ARGV[1])
elseif state ~= 'offered' then
  return -1
end
redis.call('HSET', KEYS[1], 'priority', ARGV[2], 'score', ARGV[3])
append_event(KEYS[3], 5)
return 1

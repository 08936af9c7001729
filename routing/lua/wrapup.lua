-- The agent finishes a contact's wrap-up (or its time runs out): the contact is closed and
-- the capacity it held is free.
-- KEYS: 1 contact hash, 2 agent hash, 3 agent contacts set, 4 declined set, 5 event stream
-- ARGV: 1 contact_id, 2 agent_id, 3 now_ms, 4..7 event (WrapUpCompleted)
-- Returns: 1 closed, -1 not in wrap-up with this agent
local c = redis.call('HMGET', KEYS[1], 'state', 'agent_id', 'channel')
if c[1] ~= 'wrapup' or c[2] ~= ARGV[2] then
  return -1
end
redis.call('HSET', KEYS[1], 'state', 'closed')
redis.call('EXPIRE', KEYS[1], 3600)
redis.call('DEL', KEYS[4])
release(KEYS[2], c[3], ARGV[3])
redis.call('SREM', KEYS[3], ARGV[1])
append_event(KEYS[5], 4)
return 1

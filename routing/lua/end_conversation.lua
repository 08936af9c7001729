-- The conversation of an assigned contact is over; its agent keeps the capacity it holds
-- until wrap-up is done.
-- KEYS: 1 contact hash, 2 event stream
-- ARGV: 1 contact_id, 2 agent_id ('' when the customer ends it), 3 now_ms,
--       4..7 event (ConversationEnded)
-- Returns: 1 ended, -1 not an assigned contact (of this agent)
local c = redis.call('HMGET', KEYS[1], 'state', 'agent_id')
if c[1] ~= 'assigned' or (ARGV[2] ~= '' and c[2] ~= ARGV[2]) then
  return -1
end
redis.call('HSET', KEYS[1], 'state', 'wrapup', 'ended_at_ms', ARGV[3])
append_event(KEYS[2], 4)
return 1

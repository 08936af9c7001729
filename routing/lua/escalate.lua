-- Record that a waiting contact reached an escalation step of its queue (never going back).
-- KEYS: 1 contact hash, 2 event stream
-- ARGV: 1 contact_id, 2 step, 3..6 event (ContactEscalated)
-- Returns: 1 escalated, 0 already at that step or beyond, -1 no longer waiting
local c = redis.call('HMGET', KEYS[1], 'state', 'step')
if c[1] ~= 'queued' and c[1] ~= 'offered' then
  return -1
end
if tonumber(c[2] or '0') >= tonumber(ARGV[2]) then
  return 0
end
redis.call('HSET', KEYS[1], 'step', ARGV[2])
append_event(KEYS[2], 3)
return 1

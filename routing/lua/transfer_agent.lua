-- Transfer a contact in conversation to a named agent: it is offered to them with a lease, and
-- the current agent's capacity is freed. Should the offer expire or be rejected, the usual
-- requeue puts the contact back in its queue at its original place.
-- KEYS: 1 contact hash, 2 current agent hash, 3 current agent contacts set, 4 target agent hash,
--       5 target agent contacts set, 6 offers zset, 7 event stream
-- ARGV: 1 contact_id, 2 current agent_id, 3 target agent_id, 4 deadline_ms, 5 now_ms,
--       6..9 event (ContactTransferred), 10..13 event (ContactOffered)
-- Returns: 1 offered to the target, -1 not in conversation with the current agent,
--          -2 target not available, -3 target has no room on the channel, -4 same agent
if ARGV[2] == ARGV[3] then
  return -4
end
local c = redis.call('HMGET', KEYS[1], 'state', 'agent_id', 'channel')
if c[1] ~= 'assigned' or c[2] ~= ARGV[2] then
  return -1
end
local ch = c[3]
local room = room_status(KEYS[4], ch)
if room == -2 then
  return -2
elseif room ~= 0 then
  return -3
end
release(KEYS[2], ch, ARGV[5])
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[1], 'state', 'offered', 'agent_id', ARGV[3], 'deadline_ms', ARGV[4])
redis.call('HINCRBY', KEYS[4], 'load:' .. ch, 1)
redis.call('HSET', KEYS[4], 'last_offer_ms', ARGV[5])
redis.call('SADD', KEYS[5], ARGV[1])
redis.call('ZADD', KEYS[6], ARGV[4], ARGV[1])
append_event(KEYS[7], 6)
append_event(KEYS[7], 10)
return 1

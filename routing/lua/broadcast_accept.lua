-- The first agent to accept a broadcast offer wins it; the offers to the others are withdrawn
-- and their capacity freed, in the same step.
-- KEYS: 1 contact hash, 2 offers zset, 3 offered-to set, 4 winner's agent hash, 5 event stream,
--       then for each other agent i: 5+2i-1 agent hash, 5+2i agent contacts set
-- ARGV: 1 contact_id, 2 winner agent_id, 3 now_ms, 4 n (others), 5..4+n other agent ids,
--       5+n..8+n event (OfferAccepted, its `released` naming the others)
-- Returns: 1 accepted, -1 not offered to this agent (or taken already), -2 lease run out,
--          -3 the offer's agents are not the ones the caller named (read again and retry)
local c = redis.call('HMGET', KEYS[1], 'state', 'broadcast', 'deadline_ms', 'channel')
if c[1] ~= 'offered' or c[2] ~= '1' or redis.call('SISMEMBER', KEYS[3], ARGV[2]) == 0 then
  return -1
end
if tonumber(c[3]) <= tonumber(ARGV[3]) then
  return -2
end
local n = tonumber(ARGV[4])
if redis.call('SCARD', KEYS[3]) ~= n + 1 then
  return -3
end
for i = 1, n do
  if redis.call('SISMEMBER', KEYS[3], ARGV[4 + i]) == 0 then
    return -3
  end
end
for i = 1, n do
  release(KEYS[5 + 2 * i - 1], c[4], ARGV[3])
  redis.call('SREM', KEYS[5 + 2 * i], ARGV[1])
end
redis.call('HSET', KEYS[1], 'state', 'assigned', 'agent_id', ARGV[2])
redis.call('HDEL', KEYS[1], 'broadcast', 'deadline_ms')
redis.call('DEL', KEYS[3])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[4], 'misses', 0)
append_event(KEYS[5], 5 + n)
return 1

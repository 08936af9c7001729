-- Take a broadcast offer back: from one agent (mode 'one': they rejected it, or went
-- offline; the last one to go sends the contact back to its queue at its place), from all
-- (mode 'expire': nobody accepted in time; the contact goes back to its queue at its place),
-- or from all because the customer left (mode 'abandon').
-- KEYS: 1 contact hash, 2 queue zset, 3 offers zset, 4 offered-to set, 5 declined set,
--       6 event stream, then for each agent i released: 6+2i-1 agent hash, 6+2i agent contacts
-- ARGV: 1 contact_id, 2 mode, 3 now_ms, 4 n (agents released), 5..4+n agent ids,
--       5+n..8+n event (OfferRejected / OfferWithdrawn for 'one', BroadcastEnded otherwise)
-- Returns: 1 released (and still offered to others), 2 released and back in the queue,
--          3 abandoned, -1 not a broadcast offer (of these agents), -2 lease not yet run out,
--          -3 the offer's agents are not the ones the caller named (read again and retry)
local c = redis.call('HMGET', KEYS[1], 'state', 'broadcast', 'deadline_ms', 'channel',
  'score')
if c[1] ~= 'offered' or c[2] ~= '1' then
  return -1
end
local n = tonumber(ARGV[4])
local mode = ARGV[2]
if mode == 'one' then
  if redis.call('SISMEMBER', KEYS[4], ARGV[5]) == 0 then
    return -1
  end
else
  if mode == 'expire' and tonumber(c[3]) > tonumber(ARGV[3]) then
    return -2
  end
  if redis.call('SCARD', KEYS[4]) ~= n then
    return -3
  end
  for i = 1, n do
    if redis.call('SISMEMBER', KEYS[4], ARGV[4 + i]) == 0 then
      return -3
    end
  end
end
for i = 1, n do
  release(KEYS[6 + 2 * i - 1], c[4], ARGV[3])
  redis.call('SREM', KEYS[6 + 2 * i], ARGV[1])
  redis.call('SREM', KEYS[4], ARGV[4 + i])
  redis.call('SADD', KEYS[5], ARGV[4 + i])
end
append_event(KEYS[6], 5 + n)
if mode == 'abandon' then
  redis.call('HSET', KEYS[1], 'state', 'abandoned')
  redis.call('HDEL', KEYS[1], 'broadcast', 'deadline_ms')
  redis.call('EXPIRE', KEYS[1], 3600)
  redis.call('DEL', KEYS[4], KEYS[5])
  redis.call('ZREM', KEYS[3], ARGV[1])
  return 3
end
if redis.call('SCARD', KEYS[4]) > 0 then
  return 1
end
redis.call('HSET', KEYS[1], 'state', 'queued')
redis.call('HDEL', KEYS[1], 'broadcast', 'deadline_ms', 'agent_id')
redis.call('ZADD', KEYS[2], c[5], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 2

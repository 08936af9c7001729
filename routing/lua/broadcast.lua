-- Offer a waiting contact to several agents at once (the broadcast strategy): all of them or
-- none. Each offer holds one unit of that agent's capacity on the contact's channel.
-- KEYS: 1 contact hash, 2 queue zset, 3 offers zset, 4 offered-to set, 5 event stream,
--       then for each agent i: 5+2i-1 agent hash, 5+2i agent contacts set
-- ARGV: 1 contact_id, 2 deadline_ms, 3 now_ms, 4 n (agents), 5..4+n agent ids,
--       5+n..8+n event (ContactBroadcast)
-- Returns: n offered, -1 contact no longer waiting, -2 one of the agents cannot take it now
local c = redis.call('HMGET', KEYS[1], 'state', 'channel')
if c[1] ~= 'queued' or not redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  return -1
end
local ch = c[2]
local n = tonumber(ARGV[4])
for i = 1, n do
  if room_status(KEYS[5 + 2 * i - 1], ch) ~= 0 then
    return -2
  end
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], 'state', 'offered', 'agent_id', '', 'broadcast', '1',
  'deadline_ms', ARGV[2])
for i = 1, n do
  local agent = KEYS[5 + 2 * i - 1]
  redis.call('HINCRBY', agent, 'load:' .. ch, 1)
  redis.call('HSET', agent, 'last_offer_ms', ARGV[3])
  redis.call('SADD', KEYS[5 + 2 * i], ARGV[1])
  redis.call('SADD', KEYS[4], ARGV[4 + i])
end
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
append_event(KEYS[5], 5 + n)
return n

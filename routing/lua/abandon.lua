-- The customer leaves before an agent accepted: the contact leaves its queue, and an offer
-- pending on it is withdrawn, freeing the agent's capacity. The caller read the contact
-- first (to name its queue and agent); if either changed since, nothing happens and the
-- caller reads again.
-- KEYS: 1 contact hash, 2 queue zset, 3 agent hash (of the pending offer, or any key of the
--       slot when none), 4 offers zset, 5 agent contacts set, 6 declined set, 7 event stream
-- ARGV: 1 contact_id, 2 agent_id of the pending offer ('' when none), 3 now_ms,
--       4 queue name, 5..8 event (ContactAbandoned)
-- Returns: 1 abandoned, -1 not waiting (already accepted or over), -2 its queue or pending
--          offer is not what the caller read (read again)
local c = redis.call('HMGET', KEYS[1], 'state', 'agent_id', 'channel', 'queue')
if c[1] ~= 'queued' and c[1] ~= 'offered' then
  return -1
end
if c[4] ~= ARGV[4] then
  return -2
end
if c[1] == 'queued' then
  if ARGV[2] ~= '' then
    return -2
  end
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  if c[2] ~= ARGV[2] then
    return -2
  end
  release(KEYS[3], c[3], ARGV[3])
  redis.call('ZREM', KEYS[4], ARGV[1])
  redis.call('SREM', KEYS[5], ARGV[1])
end
redis.call('HSET', KEYS[1], 'state', 'abandoned')
redis.call('EXPIRE', KEYS[1], 3600)
redis.call('DEL', KEYS[6])
append_event(KEYS[7], 5)
return 1

-- Set an agent's presence and what routing knows of them (skills, capacity).
-- KEYS: 1 agent hash, 2 agents set, 3 event stream
-- ARGV: 1 agent_id, 2 state, 3 now_ms, 4 skills JSON, 5 capacity,
--       6 console_seen_ms ('' when the change does not come from a console),
--       7..11 event (AgentStateChanged)
-- Returns: 1 changed, 0 already in that state with the same skills and capacity (no event)
if ARGV[6] ~= '' then
  redis.call('HSET', KEYS[1], 'console_seen_ms', ARGV[6])
end
local old = redis.call('HMGET', KEYS[1], 'state', 'skills', 'capacity')
if old[1] == ARGV[2] and old[2] == ARGV[4] and old[3] == ARGV[5] then
  return 0
end
if ARGV[2] == 'available' and old[1] ~= 'available' then
  redis.call('HSET', KEYS[1], 'last_offer_ms', ARGV[3])
end
if not old[1] then
  redis.call('HSET', KEYS[1], 'load', 0)
end
redis.call('HSET', KEYS[1], 'agent_id', ARGV[1], 'state', ARGV[2], 'skills', ARGV[4],
  'capacity', ARGV[5])
redis.call('SADD', KEYS[2], ARGV[1])
append_event(KEYS[3], 7)
return 1

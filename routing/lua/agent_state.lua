-- Set an agent's presence. The agent's profile (agent_profile.lua) must exist. A next state
-- the agent had scheduled (next_state.lua) is dropped: the state chosen now replaces it.
-- KEYS: 1 agent hash, 2 agents set, 3 event stream
-- ARGV: 1 agent_id, 2 state, 3 now_ms, 4 reason ('' for none),
--       5 console_seen_ms ('' when the change does not come from a console),
--       6..9 event (AgentStateChanged), 10..13 event (AgentNextStateCancelled)
-- Returns: 1 changed, 0 already in that state for that reason (no AgentStateChanged; a next
--          state dropped still has its event), -1 no profile
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[1], 'console_seen_ms', ARGV[5])
end
local old = redis.call('HMGET', KEYS[1], 'state', 'reason', 'next_state')
if old[3] and old[3] ~= '' then
  redis.call('HDEL', KEYS[1], 'next_state', 'next_reason', 'next_productive')
  append_event(KEYS[3], 10)
end
if old[1] == ARGV[2] and (old[2] or '') == ARGV[4] then
  return 0
end
if ARGV[2] == 'available' and old[1] ~= 'available' then
  redis.call('HSET', KEYS[1], 'last_offer_ms', ARGV[3], 'idle_since_ms', ARGV[3], 'misses', 0)
end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'reason', ARGV[4])
append_event(KEYS[3], 6)
return 1

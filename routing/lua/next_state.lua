-- Schedule an agent's next state (docs/states.md): "away" with a reason, or "offline", to take
-- effect when the contacts they hold are over (release() in the prelude applies it then);
-- meanwhile room_status() offers them nothing. An agent who holds nothing gets it at once.
-- With an empty state, take back the next state scheduled.
-- KEYS: 1 agent hash, 2 event stream
-- ARGV: 1 next state ('' to cancel), 2 reason ('' for none), 3 productive ('1', '0' or ''),
--       4 now_ms, 5..8 event (AgentNextStateScheduled, or AgentNextStateCancelled)
-- Returns: 1 scheduled (or cancelled), 2 applied at once (nothing held), 0 unchanged (that
--          next state already, or none to cancel; no event), -1 no profile
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
local old = redis.call('HMGET', KEYS[1], 'next_state', 'next_reason')
local pending = old[1] and old[1] ~= ''
if ARGV[1] == '' then
  if not pending then
    return 0
  end
  redis.call('HDEL', KEYS[1], 'next_state', 'next_reason', 'next_productive')
  append_event(KEYS[2], 5)
  return 1
end
if pending and old[1] == ARGV[1] and (old[2] or '') == ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], 'next_state', ARGV[1], 'next_reason', ARGV[2],
  'next_productive', ARGV[3])
if total_load(KEYS[1]) == 0 then
  settling[#settling + 1] = {KEYS[1], ARGV[4]}
  append_event(KEYS[2], 5)
  return 2
end
append_event(KEYS[2], 5)
return 1

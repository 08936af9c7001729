-- Record that consoles of these agents are connected (or, with an old time, that they left).
-- Agents routing does not know yet are skipped: a heartbeat never creates an agent.
-- KEYS: agent hashes, any number
-- ARGV: 1 console_seen_ms
-- Returns: how many agents were updated
local n = 0
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    redis.call('HSET', key, 'console_seen_ms', ARGV[1])
    n = n + 1
  end
end
return n

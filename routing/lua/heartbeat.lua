-- Record that consoles of these agents are connected, or (ARGV[2] = "1") that the last
-- console of each on the calling process closed at ARGV[1]: routing then offers them nothing
-- until a console says otherwise, and counts the grace period before setting them offline
-- from that moment (docs/routing.md, "Live consoles").
-- Agents routing does not know yet are skipped: a heartbeat never creates an agent.
-- KEYS: agent hashes, any number
-- ARGV: 1 console_seen_ms, 2 "1" when the consoles left, else "0"
-- Returns: how many agents were updated
local n = 0
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    redis.call('HSET', key, 'console_seen_ms', ARGV[1])
    if ARGV[2] == '1' then
      redis.call('HSET', key, 'console_left_ms', ARGV[1])
    end
    n = n + 1
  end
end
return n

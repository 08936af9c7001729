-- Record that a customer's live page (a web chat socket) follows each of these contacts, so
-- that routing can tell a waiting customer who is there from a ghost who closed the tab
-- (docs/routing.md, "Customers who leave"). Only contacts still waiting or in conversation
-- are touched: a heartbeat never brings back a contact that is over.
-- KEYS: contact hashes, any number
-- ARGV: 1 customer_seen_ms
-- Returns: how many contacts were updated
local n = 0
for _, key in ipairs(KEYS) do
  local state = redis.call('HGET', key, 'state')
  if state == 'queued' or state == 'offered' or state == 'assigned' then
    redis.call('HSET', key, 'customer_seen_ms', ARGV[1])
    n = n + 1
  end
end
return n

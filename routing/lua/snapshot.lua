-- Read the live state routing decides on, in one round trip: every agent with the contacts
-- they hold, each queue's first contacts, every pending offer, and each of those contacts with
-- the agents who declined it and those it is broadcast to. Writes nothing.
-- KEYS: 1 agents set, 2 offers zset, 3.. queue zsets
-- ARGV: 1 head (contacts read per queue), 2 agents only ("1": skip every contact),
--       3,4 agent hash key = ARGV[3] .. id .. ARGV[4]; 5,6 the agent's contacts set;
--       7,8 contact hash; 9,10 declined set; 11,12 offered-to set
-- Hash values never hold "\0" or "\1" (ids, names, numbers and JSON, which escapes them).
-- Returns: {agents, contacts}, each item one string (one reply element to parse instead of
--          dozens): agents = {agent hash's fields and values joined by "\0", ...} sorted
--          by agent id; contacts = {contact hash joined by "\0", then "\1" and the ids of
--          the agents who declined it, then "\1" and those it is broadcast to}, conversations
--          in progress (state "assigned") left out
local function key(n, id)
  return ARGV[n] .. id .. ARGV[n + 1]
end

local ids = redis.call('SMEMBERS', KEYS[1])
table.sort(ids)
local agents_only = ARGV[2] == '1'
local agents = {}
local wanted = {}
local seen = {}
local function want(list)
  for _, c in ipairs(list) do
    if not seen[c] then
      seen[c] = true
      wanted[#wanted + 1] = c
    end
  end
end
for i, id in ipairs(ids) do
  agents[i] = table.concat(redis.call('HGETALL', key(3, id)), '\0')
  if not agents_only then
    want(redis.call('SMEMBERS', key(5, id)))
  end
end
local contacts = {}
if not agents_only then
  local head = tonumber(ARGV[1])
  for q = 3, #KEYS do
    want(redis.call('ZRANGE', KEYS[q], 0, head - 1))
  end
  want(redis.call('ZRANGE', KEYS[2], 0, -1))
  for _, c in ipairs(wanted) do
    -- A conversation in progress is nothing routing decides on: skip it unread.
    local h = {}
    if redis.call('HGET', key(7, c), 'state') ~= 'assigned' then
      h = redis.call('HGETALL', key(7, c))
    end
    if #h > 0 then
      contacts[#contacts + 1] = table.concat(h, '\0') .. '\1'
        .. table.concat(redis.call('SMEMBERS', key(9, c)), '\0') .. '\1'
        .. table.concat(redis.call('SMEMBERS', key(11, c)), '\0')
    end
  end
end
return {agents, contacts}

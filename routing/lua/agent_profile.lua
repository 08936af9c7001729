-- Set what routing knows of an agent: skills, languages, capacity per channel, and whether a
-- voice call blocks new text contacts. A new agent starts offline with nothing on hand.
-- KEYS: 1 agent hash, 2 agents set, 3 event stream
-- ARGV: 1 agent_id, 2 skills JSON, 3 languages JSON, 4 voice_blocks ('1' or '0'),
--       5..9 capacity for voice, chat, sms, whatsapp, email, 10..13 event (AgentProfileChanged)
-- Returns: 1 changed, 0 unchanged (no event)
local old = redis.call('HMGET', KEYS[1], 'skills', 'languages', 'voice_blocks', 'cap:voice',
  'cap:chat', 'cap:sms', 'cap:whatsapp', 'cap:email')
local same = true
for i = 1, 8 do
  if old[i] ~= ARGV[i + 1] then
    same = false
  end
end
if same then
  return 0
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'state', 'offline', 'last_offer_ms', 0, 'idle_since_ms', 0,
    'misses', 0)
  for _, ch in ipairs(CHANNELS) do
    redis.call('HSET', KEYS[1], 'load:' .. ch, 0)
  end
end
redis.call('HSET', KEYS[1], 'agent_id', ARGV[1], 'skills', ARGV[2], 'languages', ARGV[3],
  'voice_blocks', ARGV[4])
for i, ch in ipairs(CHANNELS) do
  redis.call('HSET', KEYS[1], 'cap:' .. ch, ARGV[4 + i])
end
redis.call('SADD', KEYS[2], ARGV[1])
append_event(KEYS[3], 10)
return 1

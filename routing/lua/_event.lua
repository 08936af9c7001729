-- Shared prologue of every script: append the event described by the last five ARGV
-- (event id, type, at_ms, JSON data, stream max length) to the stream key given as `stream`.
local function append_event(stream, base)
  redis.call('XADD', stream, 'MAXLEN', '~', ARGV[base + 4], '*',
    'id', ARGV[base], 'type', ARGV[base + 1], 'at_ms', ARGV[base + 2], 'data', ARGV[base + 3])
end

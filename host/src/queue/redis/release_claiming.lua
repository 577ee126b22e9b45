-- Puts back at the front of the queue the ids silent workers moved to their
-- claiming list (BLMOVE) but never claimed, and forgets those workers.
-- Nothing else changes: those jobs never stopped being queued.
-- KEYS: workers queue
-- ARGV: prefix dead_after_ms
-- Returns how many ids went back.
local prefix, dead_after = ARGV[1], tonumber(ARGV[2])
local released = 0
for _, worker in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms() - dead_after)) do
  local claiming = prefix .. ':claiming:' .. worker
  for _, id in ipairs(redis.call('LRANGE', claiming, 0, -1)) do
    enqueue(KEYS[2], id, 'front')
    released = released + 1
  end
  redis.call('DEL', claiming)
  redis.call('ZREM', KEYS[1], worker)
end
return released

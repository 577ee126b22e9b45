-- Gives a sweep's lease back, if the holder still has it.
-- KEYS: lease key
-- ARGV: holder
-- Returns 1 when released, 0 when the holder did not have it.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0

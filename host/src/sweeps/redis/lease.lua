-- Takes a sweep's lease when it is free, or renews it for its holder.
-- KEYS: lease key
-- ARGV: holder, ttl (ms)
-- Returns 1 when the holder has the lease, 0 when another does.
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1

-- Replaces a sweep's record and appends its new events (numbered after the
-- last seq, published), for the driver holding its lease only.
-- KEYS: sweep hash, events list, lease key, set of unfinished sweeps
-- ARGV: holder, record JSON, channel, sweep id, ended (1 or 0), event templates... ("seq":0 placeholder)
-- Returns the last seq, or -1 when the holder no longer has the lease.
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return -1 end
if redis.call('EXISTS', KEYS[1]) == 0 then return -2 end
local seq = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
for i = 6, #ARGV do
  seq = seq + 1
  local text = string.gsub(ARGV[i], '"seq":0', '"seq":' .. seq, 1)
  redis.call('RPUSH', KEYS[2], text)
  redis.call('PUBLISH', ARGV[3], text)
end
redis.call('HSET', KEYS[1], 'record', ARGV[2], 'seq', seq)
if ARGV[5] == '1' then redis.call('SREM', KEYS[4], ARGV[4]) end
return seq

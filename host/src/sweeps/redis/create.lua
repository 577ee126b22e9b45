-- Stores a new sweep with its first event and publishes it.
-- KEYS: sweep hash, events list, index sorted set, set of unfinished sweeps
-- ARGV: sweep id, record JSON, created (ms), channel, event template ("seq":0 placeholder)
-- Returns 1.
redis.call('HSET', KEYS[1], 'record', ARGV[2], 'seq', 0, 'cancel', 0)
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[1])
local text = string.gsub(ARGV[5], '"seq":0', '"seq":1', 1)
redis.call('RPUSH', KEYS[2], text)
redis.call('HSET', KEYS[1], 'seq', 1)
redis.call('PUBLISH', ARGV[4], text)
return 1

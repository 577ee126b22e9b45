-- Says a worker is alive: its heartbeat is the server's time.
-- KEYS: workers
-- ARGV: worker
-- Returns 1.
redis.call('ZADD', KEYS[1], now_ms(), ARGV[1])
return 1

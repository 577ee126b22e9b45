-- Re-queues or fails, as Rust decided, one run dead_runs listed, provided
-- nothing changed since: the job still runs under the same claim and
-- worker, and that worker is still silent. So a worker presumed dead never
-- overwrites a newer attempt, and two reapers never handle a run twice.
-- KEYS: job stream running workers queue
-- ARGV: channel maxlen id token worker dead_after_ms writes template place ttl
--   place: the queue end when the job is queued again, else '';
--   ttl: seconds its events are kept once the job has failed, else ''.
-- Returns 1 when the run was reaped, 0 when the guard refused it.
job, stream, channel, maxlen = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
if not holds_claim(ARGV[4]) then return 0 end
if (redis.call('HGET', job, 'worker') or '') ~= ARGV[5] then return 0 end
if not silent(KEYS[4], ARGV[5], now_ms(), tonumber(ARGV[6])) then return 0 end
end_run(ARGV[3], KEYS[3], KEYS[5], ARGV[7], ARGV[8], ARGV[9], ARGV[10])
return 1

-- Claims job `id`, which BLMOVE moved from the queue to this worker's
-- claiming list while it waited on an empty queue.
-- KEYS: job stream claiming running
-- ARGV: channel maxlen id writes template (as in claim_next)
-- Returns the claimed record {field, value, ...}, or {} when the job is no
-- longer queued (cancelled meanwhile).
job, stream, channel, maxlen = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
redis.call('LREM', KEYS[3], 1, ARGV[3])
if redis.call('HGET', job, 'status') ~= 'queued' then return {} end
return start(ARGV[3], KEYS[4], ARGV[4], ARGV[5])

-- Ends a worker's run of a job under its claim: the job finished, or the
-- worker hands it back to the queue while shutting down.
-- KEYS: job stream running queue
-- ARGV: channel maxlen id token writes template place ttl
--   place: the queue end when the job is queued again, else '';
--   ttl: seconds its events are kept once the job has ended, else ''.
-- Returns the event's seq, or -1 when the claim is stale.
job, stream, channel, maxlen = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
if not holds_claim(ARGV[4]) then return -1 end
return end_run(ARGV[3], KEYS[3], KEYS[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8])

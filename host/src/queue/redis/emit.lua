-- Emits a non-terminal event (progress) of a running job, for the worker
-- holding its claim.
-- KEYS: job stream
-- ARGV: channel maxlen token writes template
--   writes: what the event records on the job (its progress).
-- Returns the event's seq, or -1 when the claim is stale.
job, stream, channel, maxlen = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
if not holds_claim(ARGV[3]) then return -1 end
write_record(ARGV[4])
return emit(ARGV[5])

-- Stores a new job, emits its first event (`status: queued`, seq 1) and queues it.
-- KEYS: job stream jobs queue submissions
-- ARGV: channel maxlen id record template place
--   record: the new record as writes (see write_record); place: its queue end.
-- The jobs index is scored by a submission counter, not the clock: two jobs
-- submitted in the same millisecond still list newest first.
-- Returns 1.
job, stream, channel, maxlen = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
write_record(ARGV[4])
redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[5]), ARGV[3])
emit(ARGV[5])
enqueue(KEYS[4], ARGV[3], ARGV[6])
return 1

-- Cancels a job with the transition Rust built for its current status: a
-- queued job is cancelled at once (off the queue, its event emitted, its
-- events kept `ttl` seconds); a running one gets the cancel flag, and its
-- worker stops it, woken by a message on the cancel channel. An ended job
-- is left as it is.
-- KEYS: job stream queue
-- ARGV: channel maxlen id ttl cancel_writes cancel_template flag_writes cancel_channel
-- Returns 'cancelled', 'requested', 'ended:<status>', or 'missing'.
job, stream, channel, maxlen = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local status = redis.call('HGET', job, 'status')
if not status then return 'missing' end
if status == 'queued' then
  write_record(ARGV[5])
  redis.call('LREM', KEYS[3], 0, ARGV[3])
  emit(ARGV[6])
  redis.call('EXPIRE', stream, ARGV[4])
  return 'cancelled'
end
if status == 'running' then
  write_record(ARGV[7])
  redis.call('PUBLISH', ARGV[8], ARGV[3])
  return 'requested'
end
return 'ended:' .. status

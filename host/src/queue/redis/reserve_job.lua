-- Takes an active-job slot and an hourly submission for a job about to be
-- submitted, unless a quota refuses: one atomic step, so two submits racing
-- for the last slot cannot both get it (on any number of API nodes).
-- KEYS: active submits
--   active: sorted set of the user's reserved job ids, scored by reservation
--   time; submits: sorted set of the user's submissions of the last hour.
-- ARGV: job_prefix id max_active max_per_hour pending_ms
--   job_prefix: `P:job:` (a job's record is job_prefix .. id); a limit of 0:
--   none; pending_ms: how long a reservation whose record is not stored yet counts.
-- Returns {'ok'} or {quota, limit, used, retry_after_secs (-1: unknown)}.
local now = now_ms()
local active = count_active(KEYS[1], ARGV[1], now, tonumber(ARGV[5]))
local max_active, max_hour = tonumber(ARGV[3]), tonumber(ARGV[4])
if max_active > 0 and active >= max_active then
  return {'active_jobs', max_active, active, -1}
end
local hour = count_hour(KEYS[2], now)
if max_hour > 0 and hour >= max_hour then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  local wait = math.ceil((tonumber(oldest[2]) + 3600000 - now) / 1000)
  return {'jobs_per_hour', max_hour, hour, math.max(wait, 1)}
end
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('ZADD', KEYS[2], now, ARGV[2])
redis.call('PEXPIRE', KEYS[2], 3600000)
return {'ok'}

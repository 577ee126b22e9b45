-- What a user uses of the quotas that accumulate (dropping reservations of
-- jobs that ended, and submissions older than an hour, on the way).
-- KEYS: active submits datasets
--   as in reserve_job.lua; datasets: hash of the user's dataset id -> bytes.
-- ARGV: job_prefix pending_ms
-- Returns {active_jobs, jobs_last_hour, dataset_bytes}.
local now = now_ms()
local active = count_active(KEYS[1], ARGV[1], now, tonumber(ARGV[2]))
local hour = count_hour(KEYS[2], now)
return {active, hour, sum_values(KEYS[3])}

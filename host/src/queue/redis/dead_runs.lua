-- Lists the running jobs whose worker has been silent for longer than
-- dead_after, for the reaper to decide on in Rust (re-queue or fail) and
-- then apply with reap_run. Ids of the running set whose job no longer
-- runs are dropped from it.
-- KEYS: running workers
-- ARGV: prefix dead_after_ms
-- Returns {id, worker, attempts, token, id, ...} ('' for a missing worker or token).
local prefix, dead_after = ARGV[1], tonumber(ARGV[2])
local now = now_ms()
local runs = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  job = prefix .. ':job:' .. id
  local status, worker, attempts, token = unpack(redis.call('HMGET', job, 'status', 'worker', 'attempts', 'token'))
  if status ~= 'running' then
    redis.call('SREM', KEYS[1], id)
  elseif silent(KEYS[2], worker, now, dead_after) then
    for _, value in ipairs({ id, worker or '', attempts or '0', token or '' }) do
      table.insert(runs, value)
    end
  end
end
return runs

-- Shared helpers, prepended to every script of this directory at load.
--
-- A script first names the job it works on by setting `job` (its record
-- hash), `stream` (its event stream), `channel` (its pub/sub channel) and
-- `maxlen` (the stream's cap). Scripts decide nothing about a job's
-- lifecycle: the transition (record writes, event text, queue end) is built
-- in Rust (`jobs::lifecycle`) and passed in ARGV; a script checks its guard
-- and applies it, atomically.
local job, stream, channel, maxlen

-- The server's clock, in milliseconds.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Appends an event to the job's stream (its seq taken from the record's
-- counter, written over the template's `"seq":0,`) and publishes it.
-- Returns the seq.
local function emit(template)
  local seq = redis.call('HINCRBY', job, 'seq', 1)
  local json = string.gsub(template, '"seq":0,', '"seq":' .. seq .. ',', 1)
  redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'seq', seq, 'e', json)
  redis.call('PUBLISH', channel, json)
  return seq
end

-- Whether `token` is the job's current claim and the job still runs.
-- (Every claim has a uuid token, so '' never matches a claimed job.)
local function holds_claim(token)
  return (redis.call('HGET', job, 'token') or '') == token and redis.call('HGET', job, 'status') == 'running'
end

-- Whether `worker` has sent no heartbeat (to the `workers` sorted set) for
-- longer than `dead_after` ms before `now`. No worker at all counts as silent.
local function silent(workers, worker, now, dead_after)
  if not worker or worker == '' then return true end
  local beat = redis.call('ZSCORE', workers, worker)
  return (not beat) or (now - tonumber(beat) > dead_after)
end

-- Applies record writes built in Rust: a JSON list of [op, field, value],
-- op being 'set' (field = value), 'add' (field += value), 'del' (field
-- removed) or 'stamp' (field = the server time in ms). Every op is checked
-- before the first is applied, so a bad list changes nothing.
local record_ops = { set = true, add = true, del = true, stamp = true }
local function write_record(writes)
  local list = cjson.decode(writes)
  for _, w in ipairs(list) do
    if not record_ops[w[1]] then error('unknown record write: ' .. tostring(w[1])) end
  end
  for _, w in ipairs(list) do
    local op, field, value = w[1], w[2], w[3]
    if op == 'set' then
      redis.call('HSET', job, field, value)
    elseif op == 'add' then
      redis.call('HINCRBY', job, field, value)
    elseif op == 'del' then
      redis.call('HDEL', job, field)
    else
      redis.call('HSET', job, field, now_ms())
    end
  end
end

-- Queues `id`: 'front' is taken next (workers pop from the right), any
-- other place ('back') after every job already waiting.
local function enqueue(queue, id, place)
  if place == 'front' then
    redis.call('RPUSH', queue, id)
  else
    redis.call('LPUSH', queue, id)
  end
end

-- Hands queued job `id` to a worker: applies the claim's writes (status,
-- token, worker, attempt, start time), adds the job to the `running` set and
-- emits the `status: running` template with the job's id and attempt filled
-- in over its placeholders `"jobId":"JOBID"` and `"attempt":0`.
-- Returns the claimed record (HGETALL).
local function start(id, running, writes, template)
  write_record(writes)
  redis.call('SADD', running, id)
  local attempt = redis.call('HGET', job, 'attempts')
  template = string.gsub(template, '"jobId":"JOBID"', '"jobId":"' .. id .. '"', 1)
  emit((string.gsub(template, '"attempt":0', '"attempt":' .. attempt, 1)))
  return redis.call('HGETALL', job)
end

-- Ends the current run of job `id`, its guard already checked: applies the
-- writes, takes the job off the `running` set, queues it again at `place`
-- ('' = it is not queued again), emits the event, and keeps the job's events
-- `ttl` seconds once it has ended ('' = it has not). Returns the event's seq.
local function end_run(id, running, queue, writes, template, place, ttl)
  write_record(writes)
  redis.call('SREM', running, id)
  if place ~= '' then enqueue(queue, id, place) end
  local seq = emit(template)
  if ttl ~= '' then redis.call('EXPIRE', stream, ttl) end
  return seq
end

-- Accounts (reserve_job, account_usage, reserve_bytes): how many of the
-- reserved jobs in sorted set `active` are still queued or running, dropping
-- the others. A reservation whose record (`job_prefix .. id`) is not stored
-- yet counts for `pending_ms` after it was made (its submit is under way).
local function count_active(active, job_prefix, now, pending_ms)
  local entries = redis.call('ZRANGE', active, 0, -1, 'WITHSCORES')
  local count = 0
  for i = 1, #entries, 2 do
    local id, reserved = entries[i], tonumber(entries[i + 1])
    local status = redis.call('HGET', job_prefix .. id, 'status')
    if status == 'queued' or status == 'running' or (not status and now - reserved < pending_ms) then
      count = count + 1
    else
      redis.call('ZREM', active, id)
    end
  end
  return count
end

-- How many submissions of the last hour sorted set `submits` holds, dropping older ones.
local function count_hour(submits, now)
  redis.call('ZREMRANGEBYSCORE', submits, '-inf', now - 3600000)
  return redis.call('ZCARD', submits)
end

-- The sum of a hash's values.
local function sum_values(hash)
  local total = 0
  for _, v in ipairs(redis.call('HVALS', hash)) do
    total = total + tonumber(v)
  end
  return total
end

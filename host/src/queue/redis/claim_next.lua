-- Claims the next queued job for a worker and records its heartbeat: the
-- fast path, one round trip per job while the queue is not empty.
-- KEYS: queue running workers
-- ARGV: prefix maxlen worker writes template
--   writes: the claim's record writes (token included); template: its
--   `status: running` event, with the placeholders start() fills in.
-- An id left in the worker's claiming list (P:claiming:{worker}) by a claim
-- whose reply never came (Redis went away) is taken first: it is still queued.
-- Returns {id, record field, value, ...}, or {} when the queue is empty.
local prefix, worker = ARGV[1], ARGV[3]
maxlen = ARGV[2]
redis.call('ZADD', KEYS[3], now_ms(), worker)
local claiming = prefix .. ':claiming:' .. worker
while true do
  local id = redis.call('RPOP', claiming) or redis.call('RPOP', KEYS[1])
  if not id then return {} end
  job = prefix .. ':job:' .. id
  -- A job cancelled while queued is normally gone from the queue already.
  if redis.call('HGET', job, 'status') == 'queued' then
    stream, channel = prefix .. ':events:' .. id, 'job_' .. id
    local reply = start(id, KEYS[2], ARGV[4], ARGV[5])
    table.insert(reply, 1, id)
    return reply
  end
end

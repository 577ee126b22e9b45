-- Counts a dataset's bytes against the user's stored-bytes quota, unless
-- that would go past it: one atomic step, so concurrent uploads cannot
-- together go past it.
-- KEYS: datasets (hash of the user's dataset id -> bytes)
-- ARGV: id bytes limit (0: none)
-- Returns {'ok'} or {'dataset_bytes', limit, used, -1}.
local used = sum_values(KEYS[1])
local bytes, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
if limit > 0 and used + bytes > limit then
  return {'dataset_bytes', limit, used, -1}
end
redis.call('HSET', KEYS[1], ARGV[1], bytes)
return {'ok'}

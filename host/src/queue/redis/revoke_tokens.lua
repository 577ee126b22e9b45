-- Revokes every token of a user at once: each token's record and the set
-- that lists them.
-- KEYS: tokens (set of the user's token hashes)
-- ARGV: token_prefix (a token's record is token_prefix .. hash)
-- Returns how many tokens were revoked.
local hashes = redis.call('SMEMBERS', KEYS[1])
for _, hash in ipairs(hashes) do
  redis.call('DEL', ARGV[1] .. hash)
end
redis.call('DEL', KEYS[1])
return #hashes

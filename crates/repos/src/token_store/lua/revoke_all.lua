-- Ends every session of a user but one, and moves the user's generation on so that a
-- login already under way cannot store its session afterwards (create_session.lua).
-- KEYS: the user's index, the user's generation (all under the user's hash tag).
-- ARGV: the session id to keep ('' for none), the prefix of the user's session keys,
--       how long the generation is kept (ms).
-- The session keys are named from the index: they share its hash tag, so its slot.
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
local n = 0
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if id ~= ARGV[1] then
    n = n + redis.call('DEL', ARGV[2] .. id)
    redis.call('ZREM', KEYS[1], id)
  end
end
return n

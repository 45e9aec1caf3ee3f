#!lua flags=allow-oom
-- Ends every session of a user but one, and moves the user's generation on so that a
-- login already under way cannot store its session afterwards (create_session.lua).
-- KEYS: the user's index, the user's generation (all under the user's hash tag).
-- ARGV: the session id to keep ('' for none), the prefix of the user's session keys,
--       how long the generation is kept (ms).
-- The generation becomes the server's clock in microseconds (or one more than before, if
-- that is later): it never comes back to a value a login may hold, even after the key
-- expired. Allowed when Redis is out of memory: it frees more than it writes, and a
-- password change must be able to end the other sessions.
-- The session keys are named from the index: they share its hash tag, so its slot.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local gen = math.max(tonumber(redis.call('GET', KEYS[2]) or '0') + 1, now)
redis.call('SET', KEYS[2], string.format('%.0f', gen), 'PX', ARGV[3])
local n = 0
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if id ~= ARGV[1] then
    n = n + redis.call('DEL', ARGV[2] .. id)
    redis.call('ZREM', KEYS[1], id)
  end
end
return n

-- Deletes the session of a logout if it belongs to the user and the access token is its
-- current one, or the one a refresh replaced within the grace; drops it from the index.
-- KEYS: session, the user's index; ARGV: user id, access jti, grace (ms), now (ms),
-- session id.
local s = redis.call('HMGET', KEYS[1], 'uid', 'ajti', 'pajti', 'rot')
if s[1] ~= ARGV[1] or ARGV[2] == '' then return 0 end
local recent = s[3] == ARGV[2] and tonumber(ARGV[4]) - (tonumber(s[4]) or 0) <= tonumber(ARGV[3])
if s[2] == ARGV[2] or recent then
  redis.call('ZREM', KEYS[2], ARGV[5])
  return redis.call('DEL', KEYS[1])
end
return 0

#!lua
-- Stores a new session and indexes it under its user, unless a revoke-all of that user ran
-- since the login began: all keys of one user share the user's hash tag, so this is one
-- atomic step against revoke_all.lua.
-- KEYS: session, the user's index, the user's generation.
-- ARGV: generation the login read, session id, issued at (s), session end (s),
--       session end (ms), refresh expiry (ms), then the session's fields and values.
-- Returns 1 when stored, 0 when a revoke-all came first. The `#!lua` line makes Redis
-- refuse the whole script when it is out of memory, rather than let it write once a first
-- write (ZREMRANGEBYSCORE frees memory, so it is allowed) has gone through.
if tonumber(redis.call('GET', KEYS[3]) or '0') ~= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
redis.call('PEXPIREAT', KEYS[2], ARGV[5], 'NX')
redis.call('PEXPIREAT', KEYS[2], ARGV[5], 'GT')
redis.call('HSET', KEYS[1], unpack(ARGV, 7))
redis.call('PEXPIREAT', KEYS[1], ARGV[6])
return 1

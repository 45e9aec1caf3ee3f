-- Rotates a refresh token: the one-key script behind POST /api/auth/refresh.
-- KEYS: session, the user's index; ARGV: presented jti, new access jti, new refresh jti,
-- now (ms), grace (ms), access ttl (s), refresh ttl (s), session id.
-- Replies {'rotated'|'grace', uid, ajti, rjti, iat, aexp, rexp}, {'reused', uid} or {'missing'}.
local s = redis.call('HMGET', KEYS[1], 'rjti', 'prjti', 'rot', 'ajti', 'iat', 'aexp', 'rexp', 'cap', 'uid')
if not s[1] then return {'missing'} end
local now_ms = tonumber(ARGV[4])
local cap = tonumber(s[8])
if s[1] == ARGV[1] then
  local iat = math.floor(now_ms / 1000)
  if iat >= cap then
    redis.call('DEL', KEYS[1])
    redis.call('ZREM', KEYS[2], ARGV[8])
    return {'missing'}
  end
  local aexp = math.min(iat + tonumber(ARGV[6]), cap)
  local rexp = math.min(iat + tonumber(ARGV[7]), cap)
  -- The replaced access token is kept as 'pajti' for a logout racing this refresh.
  redis.call('HSET', KEYS[1], 'prjti', ARGV[1], 'pajti', s[4], 'rot', ARGV[4], 'ajti', ARGV[2],
    'rjti', ARGV[3], 'iat', iat, 'aexp', aexp, 'rexp', rexp)
  redis.call('PEXPIREAT', KEYS[1], rexp * 1000)
  return {'rotated', s[9], ARGV[2], ARGV[3], tostring(iat), tostring(aexp), tostring(rexp)}
end
if s[2] == ARGV[1] and now_ms - tonumber(s[3]) <= tonumber(ARGV[5]) then
  return {'grace', s[9], s[4], s[1], s[5], s[6], s[7]}
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[8])
return {'reused', s[9]}

-- A user's live sessions, in one round trip. KEYS[1]: the user's index.
-- ARGV: now (s), the prefix of the user's session keys.
-- Returns, per session still stored: id, uid, created, iat, cap, ua, ip, mfa, how.
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')) do
  local f = redis.call('HMGET', ARGV[2] .. id, 'uid', 'created', 'iat', 'cap', 'ua', 'ip', 'mfa', 'how')
  if f[1] then
    table.insert(out, id)
    for i = 1, 8 do
      table.insert(out, f[i] or '')
    end
  end
end
return out

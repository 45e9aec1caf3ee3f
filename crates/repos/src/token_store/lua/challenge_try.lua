-- One try at a sign-in's second factor. KEYS[1]: the challenge; ARGV[1]: the most tries.
-- Replies {} when the challenge is gone or its tries are spent, {'busy'} while another
-- try is being checked, else {user id, proof, generation, tries so far}, and marks the
-- challenge busy until that try is released or takes the challenge. Counted before the code is checked,
-- and one at a time, so that codes sent at once neither get more tries nor spend each
-- other. A spent challenge stays until it expires: it only refuses.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {}
end
local f = redis.call('HMGET', KEYS[1], 'uid', 'proof', 'tries', 'busy', 'gen')
if f[4] == '1' then
  return {'busy'}
end
if (tonumber(f[3]) or 0) >= tonumber(ARGV[1]) then
  return {}
end
local tries = redis.call('HINCRBY', KEYS[1], 'tries', 1)
redis.call('HSET', KEYS[1], 'busy', '1')
return {f[1], f[2], f[5] or '0', tostring(tries)}

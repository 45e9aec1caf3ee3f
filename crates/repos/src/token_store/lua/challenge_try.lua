-- One try at a sign-in's second factor. KEYS[1]: the challenge; ARGV[1]: the most tries.
-- Returns {} when the challenge is gone or its tries are spent (then it is deleted), else
-- {user id, proof, tries so far}. Counted before the code is checked, so tries sent at
-- once are counted at once.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {}
end
local tries = redis.call('HINCRBY', KEYS[1], 'tries', 1)
if tries > tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return {}
end
local f = redis.call('HMGET', KEYS[1], 'uid', 'proof')
return {f[1], f[2], tostring(tries)}

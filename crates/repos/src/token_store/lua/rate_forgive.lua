-- Takes one hit back from a failure counter if it is still in the window the hit was
-- counted in (its absolute expiry, ARGV[1], names the window), keeping its expiry (DECR
-- keeps the TTL). A counter brought back to zero is deleted; one that is gone stays gone.
-- KEYS[1] counter.
if redis.call('PEXPIRETIME', KEYS[1]) ~= tonumber(ARGV[1]) then
  return 0
end
local n = tonumber(redis.call('GET', KEYS[1])) or 0
if n > 1 then
  return redis.call('DECR', KEYS[1])
end
redis.call('DEL', KEYS[1])
return 0

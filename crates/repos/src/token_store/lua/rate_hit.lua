-- Counts one hit on a failure counter, starting its window at the first, and returns the
-- count, the window's remaining time and its end (which names it), all from one instant.
-- KEYS[1] counter; ARGV[1] window (ms).
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1], 'NX')
return {n, redis.call('PTTL', KEYS[1]), redis.call('PEXPIRETIME', KEYS[1])}

-- Lets the next try at a challenge in, if the challenge is still there (an HSET on a key
-- that expired meanwhile would bring it back without an expiry).
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'busy', '0') end

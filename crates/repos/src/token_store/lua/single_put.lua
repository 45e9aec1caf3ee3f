-- Stores a single-use record unless its kind holds its cap of live records.
-- KEYS[1]: the record; KEYS[2]: the kind's index (member: the record key, score: when it
-- lapses, in ms). ARGV: value, ttl in ms, cap. Returns 1 when stored, 0 when full.
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now_ms)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], now_ms + tonumber(ARGV[2]), KEYS[1])
-- The index lives as long as its longest record.
redis.call('PEXPIRE', KEYS[2], ARGV[2], 'NX')
redis.call('PEXPIRE', KEYS[2], ARGV[2], 'GT')
return 1

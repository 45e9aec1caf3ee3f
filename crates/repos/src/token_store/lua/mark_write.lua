-- Keeps the higher of the held and the new write position (both 20-digit decimals, so
-- text order is number order) and holds it for ARGV[2] ms.
local held = redis.call('GET', KEYS[1])
if not held or ARGV[1] > held then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end

-- Deletes a session only if it belongs to the user, and drops it from the user's index.
-- KEYS: session, the user's index; ARGV[1] user id, ARGV[2] session id.
if redis.call('HGET', KEYS[1], 'uid') == ARGV[1] then
  redis.call('ZREM', KEYS[2], ARGV[2])
  return redis.call('DEL', KEYS[1])
end
return 0

-- Deletes a session only if it belongs to the user. KEYS[1] session; ARGV[1] user id.
if redis.call('HGET', KEYS[1], 'uid') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0

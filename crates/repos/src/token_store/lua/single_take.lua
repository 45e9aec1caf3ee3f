-- Takes a single-use record: returns it and deletes it, with its index entry, in one step.
-- KEYS[1]: the record; KEYS[2]: its kind's index.
local value = redis.call('GETDEL', KEYS[1])
if value then
  redis.call('ZREM', KEYS[2], KEYS[1])
end
return value

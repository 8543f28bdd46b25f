-- Expire a booking whose hold ran out unclaimed: only one still booked (a claim or a cancellation
-- that got there first stands). Its places stopped being held when its hold ended (checkin.lua
-- reads only the slot under way); the venue's slots whose hold ended are forgotten here.
-- KEYS: the booking, places held, slots with held places
-- ARGV: now (epoch seconds)
-- Returns the booking's state before: 'booked' (now expired), another state, or '' if unknown
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'booked' then
  redis.call('HSET', KEYS[1], 'state', 'expired')
end
for _, ended in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[1])) do
  redis.call('HDEL', KEYS[2], ended, ended .. ':s')
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[1])
return state or ''

-- Give a claim back to its booking when the visit's SQL row could not be written: only the claim
-- of this visit id, and only while claimed. Its places are held again (the visit's are released
-- after this, by the visits' undo: in between both count, so no walk-in can take them).
-- KEYS: the booking, places held
-- ARGV: visit id, slot (<day>-<HHMM>)
-- Returns 1 if given back, else 0
local b = redis.call('HMGET', KEYS[1], 'state', 'visit', 'party')
if b[1] ~= 'claimed' or b[2] ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'booked')
redis.call('HDEL', KEYS[1], 'visit')
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then  -- its hold has not run out yet
  redis.call('HINCRBY', KEYS[2], ARGV[2], tonumber(b[3]))
end
return 1

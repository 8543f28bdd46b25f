-- Take back a booking whose SQL row could not be written: only the attempt with this booking id,
-- and only while it is booked (a retry's or another attempt's booking is left alone).
-- KEYS: the venue's day of bookings, the booking, the phone's bookings that day, pending bookings,
--       places held
-- ARGV: booking id, booking hash, day (YYYYMMDD)
-- Returns 1 if it was taken back, else 0
local b = redis.call('HMGET', KEYS[2], 'id', 'slot', 'party', 'state')
if b[1] ~= ARGV[1] or b[4] ~= 'booked' then
  return 0
end
redis.call('ZREM', KEYS[4], ARGV[2])
redis.call('HINCRBY', KEYS[1], b[2], -tonumber(b[3]))
if redis.call('HEXISTS', KEYS[5], ARGV[3] .. '-' .. b[2]) == 1 then  -- its hold has not run out yet
  redis.call('HINCRBY', KEYS[5], ARGV[3] .. '-' .. b[2], -tonumber(b[3]))
end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[2])
return 1

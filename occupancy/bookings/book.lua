-- Book a party's places in a slot if they fit, atomically: the slot's places bookable in advance,
-- the phone's bookings that day at the venue, the booking itself (for idempotent retries).
-- The booking stays pending (in the venue's pending bookings, with its time) until its SQL row is
-- confirmed; one left pending past its lease is an orphan (bookings.leases).
-- KEYS: the venue's day of bookings, the booking, the phone's bookings that day, pending bookings
-- ARGV: slot start (HHMM), booking id, party, places bookable in the slot, bookings allowed per
--       phone, now (epoch seconds), ttl (s), booking hash, day (YYYYMMDD), phone's blind index
-- Returns {status, booked in the slot, booking id, party, booked at, state}
local b = redis.call('HMGET', KEYS[2], 'id', 'party', 'at', 'state')
local booked = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if b[1] then
  -- A retry of an earlier booking (same idempotency key): answer as before, book once.
  return {'replay', booked, b[1], tonumber(b[2]), b[3], b[4]}
end
if redis.call('HGET', KEYS[1], 'loaded') ~= '1' then
  return {'not_loaded', 0}
end
if redis.call('SCARD', KEYS[3]) >= tonumber(ARGV[5]) then
  return {'phone_limit', booked}
end
local party = tonumber(ARGV[3])
if booked + party > tonumber(ARGV[4]) then
  return {'full', booked}
end
booked = redis.call('HINCRBY', KEYS[1], ARGV[1], party)
redis.call('HSET', KEYS[2], 'id', ARGV[2], 'slot', ARGV[1], 'party', party, 'at', ARGV[6],
  'state', 'booked', 'day', ARGV[9], 'phone', ARGV[10])
redis.call('SADD', KEYS[3], ARGV[8])
redis.call('ZADD', KEYS[4], ARGV[6], ARGV[8])
for i = 1, 3 do
  redis.call('EXPIRE', KEYS[i], tonumber(ARGV[7]))
end
return {'ok', booked, ARGV[2], party, ARGV[6], 'booked'}

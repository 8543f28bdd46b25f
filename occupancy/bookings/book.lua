-- Book a party's places in a slot if they fit, atomically: the slot's places bookable in advance,
-- the phone's bookings that day at the venue, the booking itself (for idempotent retries).
-- The booking stays pending (in the venue's pending bookings, with its time) until its SQL row is
-- confirmed; one left pending past its lease is an orphan (bookings.leases).
-- Its places are held for it while the slot's hold runs (held, holds: check-ins leave them free).
-- The plan (places, per phone, hold) is the caller's cached copy: it is used only if it is still
-- the plan's current version (else 'stale_plan': the caller reads the plan again and retries).
-- KEYS: the venue's day of bookings, the booking, the phone's bookings that day, pending bookings,
--       places held, slots with held places, the plan's version
-- ARGV: slot start (HHMM), booking id, party, places bookable in the slot, bookings allowed per
--       phone, now (epoch seconds), ttl (s), booking hash, day (YYYYMMDD), phone's blind index,
--       slot start and end of its hold (epoch seconds), the plan's version ('' for none)
-- Returns {status, booked in the slot, booking id, party, booked at, state}; 'full' adds the day's
-- hash (HHMM -> places booked, and 'loaded')
local b = redis.call('HMGET', KEYS[2], 'id', 'party', 'at', 'state')
local booked = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if b[1] then
  -- A retry of an earlier booking (same idempotency key): answer as before, book once.
  return {'replay', booked, b[1], tonumber(b[2]), b[3], b[4]}
end
if (redis.call('GET', KEYS[7]) or '') ~= ARGV[13] then
  return {'stale_plan', booked}
end
if redis.call('HGET', KEYS[1], 'loaded') ~= '1' then
  return {'not_loaded', 0}
end
if redis.call('SCARD', KEYS[3]) >= tonumber(ARGV[5]) then
  return {'phone_limit', booked}
end
local party = tonumber(ARGV[3])
if booked + party > tonumber(ARGV[4]) then
  -- With the day's places booked per slot, for the later slots with room (no second round trip).
  return {'full', booked, '', '', '', '', redis.call('HGETALL', KEYS[1])}
end
booked = redis.call('HINCRBY', KEYS[1], ARGV[1], party)
redis.call('HSET', KEYS[2], 'id', ARGV[2], 'slot', ARGV[1], 'party', party, 'at', ARGV[6],
  'state', 'booked', 'day', ARGV[9], 'phone', ARGV[10])
redis.call('SADD', KEYS[3], ARGV[8])
redis.call('ZADD', KEYS[4], ARGV[6], ARGV[8])
local slot = ARGV[9] .. '-' .. ARGV[1]
redis.call('HINCRBY', KEYS[5], slot, party)
redis.call('HSET', KEYS[5], slot .. ':s', ARGV[11])
redis.call('ZADD', KEYS[6], ARGV[12], slot)
-- Slots whose hold has run out hold nothing any more.
for _, ended in ipairs(redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', ARGV[6])) do
  redis.call('HDEL', KEYS[5], ended, ended .. ':s')
end
redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', ARGV[6])
for i = 1, 3 do
  redis.call('EXPIRE', KEYS[i], tonumber(ARGV[7]))
end
return {'ok', booked, ARGV[2], party, ARGV[6], 'booked'}

-- Load a venue's day of bookings into Redis from an SQL snapshot, unless it is loaded already.
-- Until it is loaded, booking and cancelling there refuse ('not_loaded'), so no booking can be
-- made after the snapshot and before this load: nothing here overwrites one.
-- KEYS: the venue's day of bookings, then per booking: the booking, the phone's bookings that day
-- ARGV: ttl (s), then per booking: booking hash, id, slot start (HHMM), party, booked at, state
-- Returns {'loaded'} if it was loaded before, else {'ok'}
if redis.call('HGET', KEYS[1], 'loaded') == '1' then
  return {'loaded'}
end
local ttl = tonumber(ARGV[1])
for i = 0, (#KEYS - 1) / 2 - 1 do
  local key, phone, a = KEYS[2 + 2 * i], KEYS[3 + 2 * i], 2 + 6 * i
  local party, state = tonumber(ARGV[a + 3]), ARGV[a + 5]
  redis.call('HSET', key, 'id', ARGV[a + 1], 'slot', ARGV[a + 2], 'party', party,
    'at', ARGV[a + 4], 'state', state)
  redis.call('EXPIRE', key, ttl)
  if state == 'booked' then
    redis.call('HINCRBY', KEYS[1], ARGV[a + 2], party)
    redis.call('SADD', phone, ARGV[a])
    redis.call('EXPIRE', phone, ttl)
  end
end
redis.call('HSET', KEYS[1], 'loaded', '1')
redis.call('EXPIRE', KEYS[1], ttl)
return {'ok'}

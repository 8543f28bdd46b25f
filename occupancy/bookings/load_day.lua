-- Load a venue's day of bookings into Redis from an SQL snapshot, unless it is loaded already.
-- Until it is loaded, booking and cancelling there refuse ('not_loaded'), so no booking can be
-- made after the snapshot and before this load: nothing here overwrites one. The places of the
-- unclaimed bookings of a slot whose hold has not run out are held again (set, not added to).
-- KEYS: the venue's day of bookings, places held, slots with held places, then per booking: the
--       booking, the phone's bookings that day
-- ARGV: ttl (s), now (epoch seconds), day (YYYYMMDD), then per booking: booking hash, id, slot
--       start (HHMM), party, booked at, state, slot start and end of its hold (epoch seconds)
-- Returns {'loaded'} if it was loaded before, else {'ok'}
if redis.call('HGET', KEYS[1], 'loaded') == '1' then
  return {'loaded'}
end
local ttl, now = tonumber(ARGV[1]), tonumber(ARGV[2])
local held, starts, ends = {}, {}, {}
for i = 0, (#KEYS - 3) / 2 - 1 do
  local key, phone, a = KEYS[4 + 2 * i], KEYS[5 + 2 * i], 4 + 8 * i
  local party, state = tonumber(ARGV[a + 3]), ARGV[a + 5]
  redis.call('HSET', key, 'id', ARGV[a + 1], 'slot', ARGV[a + 2], 'party', party,
    'at', ARGV[a + 4], 'state', state)
  redis.call('EXPIRE', key, ttl)
  if state ~= 'cancelled' then
    redis.call('HINCRBY', KEYS[1], ARGV[a + 2], party)
    redis.call('SADD', phone, ARGV[a])
    redis.call('EXPIRE', phone, ttl)
  end
  local slot = ARGV[3] .. '-' .. ARGV[a + 2]
  if state == 'booked' and tonumber(ARGV[a + 7]) > now then
    held[slot] = (held[slot] or 0) + party
    starts[slot], ends[slot] = ARGV[a + 6], ARGV[a + 7]
  end
end
for slot, places in pairs(held) do
  redis.call('HSET', KEYS[2], slot, places, slot .. ':s', starts[slot])
  redis.call('ZADD', KEYS[3], ends[slot], slot)
end
redis.call('HSET', KEYS[1], 'loaded', '1')
redis.call('EXPIRE', KEYS[1], ttl)
return {'ok'}

-- Cancel a booking in two steps around its SQL write, as a check-out is done: 'begin' marks it
-- cancelling (its places stay taken, so nothing is overbooked if SQL fails), 'release' gives the
-- places back once SQL holds the cancellation (once), 'reopen' undoes 'begin' when SQL failed.
-- A claimed booking is a visit, an expired one is over: neither is cancelled (status 'claimed'
-- or 'expired').
-- KEYS: the venue's day of bookings, the booking, the phone's bookings that day, places held
-- ARGV: mode ('begin', 'release' or 'reopen'), booking hash, day (YYYYMMDD)
-- Returns {status, booked in the slot, state}: status ok, replay (cancelled before), claimed,
-- expired, unknown or not_loaded
if redis.call('HGET', KEYS[1], 'loaded') ~= '1' then
  return {'not_loaded', 0, ''}
end
local b = redis.call('HMGET', KEYS[2], 'slot', 'party', 'state')
if not b[1] then
  return {'unknown', 0, ''}
end
local booked = tonumber(redis.call('HGET', KEYS[1], b[1]) or '0')
if b[3] == 'cancelled' then
  return {'replay', booked, 'cancelled'}
end
if b[3] == 'claimed' or b[3] == 'expired' then
  return {b[3], booked, b[3]}
end
local mode = ARGV[1]
if mode == 'begin' then
  redis.call('HSET', KEYS[2], 'state', 'cancelling')
  return {'ok', booked, 'cancelling'}
elseif mode == 'reopen' then
  if b[3] == 'cancelling' then
    redis.call('HSET', KEYS[2], 'state', 'booked')
  end
  return {'ok', booked, 'booked'}
end
booked = redis.call('HINCRBY', KEYS[1], b[1], -tonumber(b[2]))
redis.call('HSET', KEYS[2], 'state', 'cancelled')
if redis.call('HEXISTS', KEYS[4], ARGV[3] .. '-' .. b[1]) == 1 then  -- its hold has not run out yet
  redis.call('HINCRBY', KEYS[4], ARGV[3] .. '-' .. b[1], -tonumber(b[2]))
end
redis.call('SREM', KEYS[3], ARGV[2])
return {'ok', booked, 'cancelled'}

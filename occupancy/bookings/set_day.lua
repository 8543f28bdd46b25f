-- Set a loaded day's booked places per slot, and the places held in its slot under way, to what
-- SQL holds (occupancy reconcile, at the operator's word: no booking write is in flight).
-- KEYS: the venue's day of bookings, places held, slots with held places
-- ARGV: the slot under way (<day>-<HHMM>, or ''), its held places, its start and end of hold
--       (epoch seconds), then per slot: HHMM, places booked
-- Returns 1 if the day is loaded (and was set), else 0
if redis.call('HGET', KEYS[1], 'loaded') ~= '1' then
  return 0
end
for i = 5, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
if ARGV[1] ~= '' then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2], ARGV[1] .. ':s', ARGV[3])
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
end
return 1

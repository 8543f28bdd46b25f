-- PUBLISH: set by the loader (kit/scripts.py), SPUBLISH to the shard channel on a cluster.
-- Undo the Redis half of an operation whose SQL write failed, so nothing unacknowledged counts.
-- mode 'checkin': drop the ticket and release its places (only if it is still this visit, open,
-- and pending: a reservation confirmed since has its SQL row, and stays),
-- and its entry leaves today's totals, its minute and the recent events, so the statistics agree
-- with SQL; the count at the end of this minute becomes the count after the undo (later quiet
-- minutes carry it). The undone minute's peak and full flag stay: the live count did show them.
-- mode 'checkout': a visit that was closing opens again. Its places were never released
-- (release.lua runs only after SQL), so this changes no count and cannot exceed capacity.
-- KEYS: count, config, ticket, open tickets, pending, day stats, minute stats, recent events (the
--       undone event's day), minute counts (today)
-- ARGV: mode, visit_id, channel, venue_id, now, minute of the undone event (epoch of its start),
--       this minute, stats ttl (s), kind of the undone check-in ('visitor' or 'walkin'), ticket hash
local t = redis.call('HMGET', KEYS[3], 'visit', 'party', 'state', 'at')
if ARGV[1] == 'checkout' then
  if t[1] ~= ARGV[2] or t[3] ~= 'closing' then
    return {'noop', 0}
  end
  redis.call('HSET', KEYS[3], 'state', 'open')
  redis.call('HDEL', KEYS[3], 'reason', 'out')
  redis.call('ZREM', KEYS[5], 'out:' .. ARGV[10])
  redis.call('HINCRBY', KEYS[2], 'seq', 1)
  return {'ok', tonumber(redis.call('GET', KEYS[1]) or '0')}
end
if t[1] ~= ARGV[2] then
  return {'gone', 0}
end
if t[3] ~= 'open' then
  return {'noop', 0}
end
if not redis.call('ZSCORE', KEYS[5], 'in:' .. ARGV[10]) then
  -- No longer pending: a confirmation came, so SQL holds this visit (a retry of the same check-in
  -- wrote its row and was answered). Dropping it would free places that people inside hold.
  return {'confirmed', tonumber(redis.call('GET', KEYS[1]) or '0')}
end
local party = tonumber(t[2])
local m = ARGV[6]
redis.call('DEL', KEYS[3])
redis.call('SREM', KEYS[4], ARGV[10])
redis.call('ZREM', KEYS[5], 'in:' .. ARGV[10])
redis.call('HINCRBY', KEYS[2], 'seq', 1)
local count = redis.call('DECRBY', KEYS[1], party)
redis.call('HINCRBY', KEYS[6], 'entries', -1)
redis.call('HINCRBY', KEYS[6], 'visitors_in', -party)
redis.call('HINCRBY', KEYS[7], m .. ':e', -1)
redis.call('HINCRBY', KEYS[7], m .. ':vi', -party)
-- the undone event in the recent list (cjson keeps 14 digits of t: a tenth of a millisecond)
local kind = ARGV[9] ~= 'visitor' and ARGV[9] or nil
local at = tonumber(t[4]) or tonumber(ARGV[5])
for _, item in ipairs(redis.call('LRANGE', KEYS[8], 0, -1)) do
  local ok, event = pcall(cjson.decode, item)
  if ok and event.n == party and event.e == 'in' and event.k == kind and math.abs(event.t - at) < 0.001 then
    redis.call('LREM', KEYS[8], 1, item)
    break
  end
end
redis.call('HSET', KEYS[9], ARGV[7], count)
redis.call('EXPIRE', KEYS[9], tonumber(ARGV[8]))
local capacity = tonumber(redis.call('HGET', KEYS[2], 'capacity') or '0')
redis.call(PUBLISH, ARGV[3], cjson.encode({v = tonumber(ARGV[4]), e = 'undo', n = party,
  c = count, cap = capacity, t = tonumber(ARGV[5])}))
return {'ok', count}

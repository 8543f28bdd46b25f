-- Undo the Redis half of an operation whose SQL write failed, so nothing unacknowledged counts.
-- mode 'checkin': drop the ticket and release its places (only if it is still this visit, open).
-- mode 'checkout': reopen the ticket and take its places back.
-- With the stats keys of the undone event's day, its entry (or exit) also leaves today's totals,
-- its minute and the recent events, so the statistics agree with SQL; the count at the end of
-- this minute becomes the count after the undo (later quiet minutes carry it). The undone
-- minute's peak and full flag stay: the live count did show them.
-- KEYS: count, config, ticket[, day stats, minute stats, minute counts, recent events (the
--       undone event's day), minute counts (today)]
-- ARGV: mode, visit_id, channel, venue_id, now[, minute of the undone event (epoch of its start),
--       this minute, stats ttl (s), kind of the undone check-in ('visitor' or 'walkin')]
local t = redis.call('HMGET', KEYS[3], 'visit', 'party', 'state', 'at', 'out', 'reason')
if t[1] ~= ARGV[2] then
  return {'gone', 0}
end
local party = tonumber(t[2])
local stats = KEYS[4] ~= nil
local m = ARGV[6]

local function forget(event_of)
  -- the undone event in the recent list (cjson keeps 14 digits of t: a tenth of a millisecond)
  for _, item in ipairs(redis.call('LRANGE', KEYS[7], 0, -1)) do
    local ok, event = pcall(cjson.decode, item)
    if ok and event.n == party and event_of(event) then
      redis.call('LREM', KEYS[7], 1, item)
      return
    end
  end
end

local function at(value)
  return tonumber(value) or tonumber(ARGV[5])
end

local count
if ARGV[1] == 'checkin' and t[3] == 'open' then
  redis.call('DEL', KEYS[3])
  count = redis.call('DECRBY', KEYS[1], party)
  if stats then
    redis.call('HINCRBY', KEYS[4], 'entries', -1)
    redis.call('HINCRBY', KEYS[4], 'visitors_in', -party)
    redis.call('HINCRBY', KEYS[5], m .. ':e', -1)
    redis.call('HINCRBY', KEYS[5], m .. ':vi', -party)
    local kind = ARGV[9] ~= 'visitor' and ARGV[9] or nil
    forget(function(e)
      return e.e == 'in' and e.k == kind and math.abs(e.t - at(t[4])) < 0.001
    end)
  end
elseif ARGV[1] == 'checkout' and t[3] == 'closed' then
  redis.call('HSET', KEYS[3], 'state', 'open')
  redis.call('HDEL', KEYS[3], 'reason', 'out')
  count = redis.call('INCRBY', KEYS[1], party)
  if stats then
    -- the same stay the check-out script added
    local stay = math.max(0, math.floor(at(t[5]) - at(t[4]) + 0.5))
    redis.call('HINCRBY', KEYS[4], 'exits', -1)
    redis.call('HINCRBY', KEYS[4], 'visitors_out', -party)
    redis.call('HINCRBY', KEYS[4], 'stay_s', -stay)
    redis.call('HINCRBY', KEYS[4], 'stays', -1)
    redis.call('HINCRBY', KEYS[5], m .. ':x', -1)
    redis.call('HINCRBY', KEYS[5], m .. ':vo', -party)
    redis.call('HINCRBY', KEYS[5], m .. ':s', -stay)
    if t[6] == 'fever' then
      redis.call('HINCRBY', KEYS[4], 'refused_fever', -1)
      redis.call('HINCRBY', KEYS[5], m .. ':rv', -1)
    end
    forget(function(e)
      return e.e == 'out' and e.r == t[6] and math.abs(e.t - at(t[5])) < 0.001
    end)
  end
else
  return {'noop', 0}
end
if stats then
  redis.call('HSET', KEYS[8], ARGV[7], count)
  redis.call('EXPIRE', KEYS[8], tonumber(ARGV[8]))
end
local capacity = tonumber(redis.call('HGET', KEYS[2], 'capacity') or '0')
redis.call('PUBLISH', ARGV[3], cjson.encode({v = tonumber(ARGV[4]), e = 'undo', n = party,
  c = count, cap = capacity, t = tonumber(ARGV[5])}))
return {'ok', count}

-- PUBLISH: set by the loader (kit/scripts.py), SPUBLISH to the shard channel on a cluster.
-- Admit a party if it fits, atomically: check capacity, reserve, record the ticket, count today's
-- statistics, publish. The reservation stays pending (in the venue's pending set, with its time)
-- until its SQL row is confirmed (confirm.lua); one left pending past its lease is an orphan.
-- KEYS: count, config, ticket, open tickets, pending, day stats, minute stats, minute counts,
--       recent events, this rate window's check-ins at the venue, and from this client address,
--       slots with held places, places held (bookings.claims), the waiting line, its offers,
--       its entries, its meta and its phones (occupancy.line), and for a booking's claim the
--       booking
-- ARGV: party, visit_id, now (epoch seconds), ticket ttl (s), channel, venue_id, minute (epoch of
--       its start), stats ttl (s), kind ('visitor', 'walkin' or 'booking': a booking claimed),
--       ticket hash, check-ins allowed per window from one address, and at the venue (0: no
--       limit), window (s), for a booking's claim its slot (<day>-<HHMM>, '' otherwise), for
--       a claim of places offered to a party of the waiting line its entry hash, and for a
--       booking's claim the booking's hash
-- Returns {status, count, capacity, visit_id, party, checked_in_at, state}
-- A venue without a capacity in Redis is not loaded (Redis lost it): 'no_config', nothing changes.
local t = redis.call('HMGET', KEYS[3], 'visit', 'party', 'at', 'state')
local cfg = redis.call('HMGET', KEYS[2], 'capacity', 'paused')
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if t[1] then
  -- A retry of an earlier check-in (same idempotency key): answer as before, count once.
  return {'replay', count, tonumber(cfg[1] or '0'), t[1], tonumber(t[2]), t[3], t[4]}
end
if not cfg[1] then
  return {'no_config', count, 0}
end
local capacity = tonumber(cfg[1])
if cfg[2] == '1' then
  return {'paused', count, capacity}
end
local party = tonumber(ARGV[1])
local m = ARGV[7]

-- Rate limits, for visitors (door staff counting walk-ins are trusted): one address first, so
-- that a flood from one address is refused before it uses up the venue's allowance.
local function over(key, limit)
  if limit == 0 then
    return false
  end
  local n = redis.call('INCR', key)
  if n == 1 then
    redis.call('EXPIRE', key, 2 * tonumber(ARGV[13]))
  end
  return n > limit
end
if ARGV[9] == 'visitor' and (over(KEYS[11], tonumber(ARGV[11]))
    or over(KEYS[10], tonumber(ARGV[12]))) then
  return {'rate_limited', count, capacity}
end

local function remember(event)
  -- the last 20 events for dashboards (party sizes and times only), and the keys' expiry
  redis.call('LPUSH', KEYS[9], event)
  redis.call('LTRIM', KEYS[9], 0, 19)
  for i = 6, 9 do
    redis.call('EXPIRE', KEYS[i], tonumber(ARGV[8]))
  end
end

-- The places held for the unclaimed bookings of the slot under way stay free: walk-ins and
-- visitors are admitted while count + held + party <= capacity. A claim turns its own held places
-- into taken ones (count + held is unchanged), so it only needs count + party <= capacity.
local held, claim = 0, ARGV[9] == 'booking'
local line_claim = (ARGV[15] or '') ~= ''
local under_way = redis.call('ZRANGEBYSCORE', KEYS[12], '(' .. ARGV[3], '+inf', 'LIMIT', 0, 1)[1]
local held_fields = under_way and redis.call('HMGET', KEYS[13], under_way, under_way .. ':s')
if held_fields and tonumber(held_fields[2] or ARGV[3]) <= tonumber(ARGV[3]) then
  held = tonumber(held_fields[1] or '0')
else
  under_way = nil
end
if claim then
  local b = redis.call('HMGET', KEYS[19], 'state', 'party')
  if b[1] ~= 'booked' then
    return {'booking_' .. (b[1] or 'unknown'), count, capacity}
  end
  if under_way ~= ARGV[14] then
    return {'outside_slot', count, capacity}
  end
  party, held = tonumber(b[2]), 0
end
-- The waiting line (occupancy.line): places offered to its parties count as taken, and while
-- anyone waits, the places that free up are theirs: a walk-in or visitor never jumps the line.
-- A party claiming its offer takes its own offered places. A booked party is not in the line.
local offered = tonumber(redis.call('HGET', KEYS[17], 'offered') or '0')
local entry
if line_claim then
  entry = cjson.decode(redis.call('HGET', KEYS[16], ARGV[15]) or '{"s":"unknown"}')
  if entry.s ~= 'offered' or entry.u <= tonumber(ARGV[3]) then
    return {'line_' .. (entry.s == 'offered' and 'passed' or entry.s), count, capacity}
  end
  party, held = entry.p, held + offered - entry.p
elseif not claim then
  if redis.call('ZCARD', KEYS[14]) > 0 then
    return {'line_waiting', count + held + offered, capacity}
  end
  held = held + offered
end
if count + held + party > capacity then
  local event = cjson.encode({v = tonumber(ARGV[6]), e = 'full', n = party, c = count,
    cap = capacity, t = tonumber(ARGV[3])})
  redis.call(PUBLISH, ARGV[5], event)
  redis.call('HINCRBY', KEYS[6], 'refused_full', 1)
  redis.call('HINCRBY', KEYS[7], m .. ':rf', 1)
  redis.call('HSET', KEYS[7], m .. ':f', 1)
  remember(event)
  return {'full', count + held, capacity}  -- the places taken or held: none is free
end
count = redis.call('INCRBY', KEYS[1], party)
redis.call('HSET', KEYS[3], 'visit', ARGV[2], 'party', party, 'at', ARGV[3], 'state', 'open')
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[4]))
redis.call('SADD', KEYS[4], ARGV[10])
redis.call('ZADD', KEYS[5], ARGV[3], 'in:' .. ARGV[10])
redis.call('HINCRBY', KEYS[2], 'seq', 1)
if claim then
  redis.call('HINCRBY', KEYS[13], ARGV[14], -party)
  redis.call('HSET', KEYS[19], 'state', 'claimed', 'visit', ARGV[2])
  -- The lease check gives an orphaned claim back to its booking (visits.repair).
  redis.call('HSET', KEYS[3], 'booking', ARGV[16], 'slot', ARGV[14])
end
if line_claim then
  -- The entry is finished: out of the line's entries (a retry is answered by the ticket, or by
  -- SQL once the ticket is gone). The ticket keeps it as offered, for unclaim.lua to put it back
  -- if the visit's SQL write fails.
  redis.call('ZREM', KEYS[15], ARGV[15])
  redis.call('HINCRBY', KEYS[17], 'offered', -party)
  redis.call('HDEL', KEYS[16], ARGV[15])
  -- The lease check gives an orphaned claim back to its line by the entry (visits.repair).
  redis.call('HSET', KEYS[3], 'line', cjson.encode(entry), 'entry', ARGV[15])
  if entry.n and redis.call('HGET', KEYS[18], entry.n) == ARGV[15] then  -- may join again
    redis.call('HDEL', KEYS[18], entry.n)
  end
end
local kind = ARGV[9]
if kind == 'visitor' then
  kind = nil
end
local event = cjson.encode({v = tonumber(ARGV[6]), e = 'in', n = party, c = count,
  cap = capacity, k = kind, t = tonumber(ARGV[3])})
redis.call(PUBLISH, ARGV[5], event)
redis.call('HINCRBY', KEYS[6], 'entries', 1)
redis.call('HINCRBY', KEYS[6], 'visitors_in', party)
redis.call('HINCRBY', KEYS[7], m .. ':e', 1)
redis.call('HINCRBY', KEYS[7], m .. ':vi', party)
if count > tonumber(redis.call('HGET', KEYS[7], m .. ':p') or '0') then
  redis.call('HSET', KEYS[7], m .. ':p', count)
end
if count >= capacity then
  redis.call('HSET', KEYS[7], m .. ':f', 1)
end
redis.call('HSET', KEYS[8], m, count)
remember(event)
return {'ok', count, capacity, ARGV[2], party, ARGV[3], 'open'}

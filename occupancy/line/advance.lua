-- Move the line on, atomically: offers that ran out pass (their places return to the pool the
-- line draws from), then the head of the line is offered places while they are free:
-- count + held (bookings of the slot under way) + offered + its party <= capacity. Strictly
-- first come, first served: a party that does not fit stops the line, no one behind it skips it.
-- Offered places count as taken for every admission (checkin.lua), so they are never offered
-- twice nor taken by a walk-in.
-- KEYS: line, offers, entries, meta, offer times, phones, pending joins, count, config, holds,
--       held
-- ARGV: now (epoch s), offer seconds (the default; the meta's offer_seconds wins), mode ('auto': not while paused; 'one': the manager offers
--       the next party by hand, paused or not), channel, venue id
-- PUBLISH: set by the loader (kit/scripts.py); the venue's frames are sent again (live/hub.py)
-- when an offer was made or passed.
-- Returns {status, {passed entry hashes}, {offered entry hash, its deadline, ...}}
if redis.call('HGET', KEYS[4], 'loaded') ~= '1' then
  return {'not_loaded', {}, {}}
end
local now = tonumber(ARGV[1])
local passed, offered = {}, {}
local reserved = tonumber(redis.call('HGET', KEYS[4], 'offered') or '0')
for _, h in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do
  local e = cjson.decode(redis.call('HGET', KEYS[3], h))
  redis.call('ZREM', KEYS[2], h)
  reserved = reserved - e.p
  redis.call('HDEL', KEYS[3], h)  -- finished: SQL answers for it from now on
  if e.n and redis.call('HGET', KEYS[6], e.n) == h then  -- the phone may join again
    redis.call('HDEL', KEYS[6], e.n)
  end
  passed[#passed + 1] = h
end
redis.call('HSET', KEYS[4], 'offered', reserved)
local capacity = tonumber(redis.call('HGET', KEYS[9], 'capacity') or '-1')
local function changed()
  if #passed > 0 or #offered > 0 then
    redis.call(PUBLISH, ARGV[4], cjson.encode({v = tonumber(ARGV[5]), e = 'line',
      w = redis.call('ZCARD', KEYS[1]), t = now}))
  end
end
if capacity < 0 then
  changed()
  return {'no_config', passed, offered}
end
if ARGV[3] == 'auto' and redis.call('HGET', KEYS[4], 'paused') == '1' then
  changed()
  return {'paused', passed, offered}
end
local count = tonumber(redis.call('GET', KEYS[8]) or '0')
-- The places held for the slot under way, read as checkin.lua reads them.
local held = 0
local under_way = redis.call('ZRANGEBYSCORE', KEYS[10], '(' .. ARGV[1], '+inf', 'LIMIT', 0, 1)[1]
if under_way then
  local f = redis.call('HMGET', KEYS[11], under_way, under_way .. ':s')
  if tonumber(f[2] or ARGV[1]) <= now then
    held = tonumber(f[1] or '0')
  end
end
-- The venue's own offer time where its manager set one, else the service's default.
local deadline = now + tonumber(redis.call('HGET', KEYS[4], 'offer_seconds') or ARGV[2])
while true do
  local h = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
  if not h then
    break
  end
  local e = cjson.decode(redis.call('HGET', KEYS[3], h))
  if count + held + reserved + e.p > capacity then
    break
  end
  redis.call('ZREM', KEYS[1], h)
  redis.call('ZADD', KEYS[2], deadline, h)
  e.s, e.u = 'offered', deadline
  redis.call('HSET', KEYS[3], h, cjson.encode(e))
  reserved = reserved + e.p
  redis.call('LPUSH', KEYS[5], ARGV[1])
  offered[#offered + 1] = h
  offered[#offered + 1] = tostring(deadline)
  if ARGV[3] == 'one' then
    break
  end
end
redis.call('HSET', KEYS[4], 'offered', reserved)
redis.call('LTRIM', KEYS[5], 0, 9)
changed()
return {'ok', passed, offered}

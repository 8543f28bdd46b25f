-- Leave the line: a waiting party gives up its turn, an offered one gives its places back (the
-- next run of advance.lua offers them on; walk-ins cannot take them while anyone waits).
-- KEYS: line, offers, entries, meta, offer times, phones, pending joins
-- ARGV: entry hash, channel, venue id, now (epoch s)
-- PUBLISH: set by the loader (kit/scripts.py); the venue's frames are sent again (live/hub.py).
-- Returns {status, entry (JSON)}: ok | replay (left before) | claimed | passed | unknown |
-- not_loaded
if redis.call('HGET', KEYS[4], 'loaded') ~= '1' then
  return {'not_loaded', ''}
end
local found = redis.call('HGET', KEYS[3], ARGV[1])
if not found then
  return {'unknown', ''}
end
local e = cjson.decode(found)
if e.s == 'left' then
  return {'replay', found}
end
if e.s == 'offered' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('HINCRBY', KEYS[4], 'offered', -e.p)
elseif e.s == 'waiting' then
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  return {e.s, found}
end
e.s = 'left'
if e.n and redis.call('HGET', KEYS[6], e.n) == ARGV[1] then  -- the phone may join again
  redis.call('HDEL', KEYS[6], e.n)
end
found = cjson.encode(e)
redis.call('HSET', KEYS[3], ARGV[1], found)
redis.call(PUBLISH, ARGV[2], cjson.encode({v = tonumber(ARGV[3]), e = 'line',
  w = redis.call('ZCARD', KEYS[1]), t = tonumber(ARGV[4])}))
return {'ok', found}

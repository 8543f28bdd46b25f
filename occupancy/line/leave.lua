-- Leave the line: a waiting party gives up its turn, an offered one gives its places back (the
-- next run of advance.lua offers them on; walk-ins cannot take them while anyone waits).
-- KEYS: line, offers, entries, meta, offer times, phones, pending joins
-- ARGV: entry hash, channel, venue id, now (epoch s)
-- PUBLISH: set by the loader (kit/scripts.py); the venue's frames are sent again (live/hub.py).
-- A finished entry is removed from the entries hash at once (O(1)): a retry, or a leave of an
-- entry claimed or passed, finds it 'unknown' and is answered from SQL (line/service.py).
-- Returns {status, entry (JSON, as it left)}: ok | unknown | not_loaded
if redis.call('HGET', KEYS[4], 'loaded') ~= '1' then
  return {'not_loaded', ''}
end
local found = redis.call('HGET', KEYS[3], ARGV[1])
if not found then
  return {'unknown', ''}
end
local e = cjson.decode(found)
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
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call(PUBLISH, ARGV[2], cjson.encode({v = tonumber(ARGV[3]), e = 'line',
  w = redis.call('ZCARD', KEYS[1]), t = tonumber(ARGV[4])}))
return {'ok', cjson.encode(e)}

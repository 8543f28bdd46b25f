-- Join a venue's waiting line, once per entry: a retry (same idempotency key, so same entry hash)
-- answers the entry as it is now. The turn is the next of the venue's counter: first come, first
-- served, and the position is the entry's rank in the sorted set (O(log n)).
-- KEYS: line, offers, entries, meta, offer times (redis_keys.line_keys)
-- ARGV: entry hash, entry id, party, now (epoch s), channel, venue id
-- PUBLISH: set by the loader (kit/scripts.py); the venue's frames are sent again (live/hub.py).
-- Returns {status, entry (JSON), position (0 once no longer waiting)}
if redis.call('HGET', KEYS[4], 'loaded') ~= '1' then
  return {'not_loaded', '', 0}
end
local found = redis.call('HGET', KEYS[3], ARGV[1])
if found then
  local rank = redis.call('ZRANK', KEYS[1], ARGV[1])
  return {'replay', found, rank and rank + 1 or 0}
end
local seq = redis.call('HINCRBY', KEYS[4], 'seq', 1)
local entry = cjson.encode({i = ARGV[2], p = tonumber(ARGV[3]), j = tonumber(ARGV[4]),
  s = 'waiting', q = seq})
redis.call('ZADD', KEYS[1], seq, ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], entry)
redis.call(PUBLISH, ARGV[5], cjson.encode({v = tonumber(ARGV[6]), e = 'line',
  w = redis.call('ZCARD', KEYS[1]), t = tonumber(ARGV[4])}))
return {'ok', entry, redis.call('ZRANK', KEYS[1], ARGV[1]) + 1}

-- Join a venue's waiting line, once per entry: a retry (same idempotency key, so same entry hash)
-- answers the entry as it is now. The turn is the next of the venue's counter: first come, first
-- served, and the position is the entry's rank in the sorted set (O(log n)).
-- One place per phone: the phone's keyed hash (never the number) names the entry it holds while
-- that entry waits or is offered; another join from it is refused 'in_line', changing nothing.
-- The join stays pending (its time in the pending joins) until its SQL row is confirmed
-- (confirm.lua); a retry refreshes that time, so the lease check never drops a join whose retry
-- is writing it (line/leases.py).
-- KEYS: line, offers, entries, meta, offer times, phones, pending joins (redis_keys.line_keys)
-- ARGV: entry hash, entry id, party, now (epoch s), channel, venue id, phone index
-- PUBLISH: set by the loader (kit/scripts.py); the venue's frames are sent again (live/hub.py).
-- Returns {status, entry (JSON), position (0 once no longer waiting)}
if redis.call('HGET', KEYS[4], 'loaded') ~= '1' then
  return {'not_loaded', '', 0}
end
local found = redis.call('HGET', KEYS[3], ARGV[1])
if found then
  if redis.call('ZSCORE', KEYS[7], ARGV[1]) then
    redis.call('ZADD', KEYS[7], ARGV[4], ARGV[1])
  end
  local rank = redis.call('ZRANK', KEYS[1], ARGV[1])
  return {'replay', found, rank and rank + 1 or 0}
end
local holder = redis.call('HGET', KEYS[6], ARGV[7])
if holder then
  local held = redis.call('HGET', KEYS[3], holder)
  local state = held and cjson.decode(held).s
  if state == 'waiting' or state == 'offered' then
    return {'in_line', '', 0}
  end
end
local seq = redis.call('HINCRBY', KEYS[4], 'seq', 1)
local entry = cjson.encode({i = ARGV[2], p = tonumber(ARGV[3]), j = tonumber(ARGV[4]),
  s = 'waiting', q = seq, n = ARGV[7]})
redis.call('ZADD', KEYS[1], seq, ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], entry)
redis.call('HSET', KEYS[6], ARGV[7], ARGV[1])
redis.call('ZADD', KEYS[7], ARGV[4], ARGV[1])
redis.call(PUBLISH, ARGV[5], cjson.encode({v = tonumber(ARGV[6]), e = 'line',
  w = redis.call('ZCARD', KEYS[1]), t = tonumber(ARGV[4])}))
return {'ok', entry, redis.call('ZRANK', KEYS[1], ARGV[1]) + 1}

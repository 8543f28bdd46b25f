-- Take back a join SQL does not have: this attempt's, whose SQL write failed (entry id given), or
-- an orphan whose process died between Redis and SQL (entry id '', only while still pending
-- since before the lease's cut-off: a retry writing it meanwhile refreshed its time). Waiting,
-- it leaves the line; offered, its places go back to the pool the next offers draw from.
-- KEYS: line, offers, entries, meta, offer times, phones, pending joins
-- ARGV: entry hash, entry id (or ''), pending since at most (epoch s; only with id ''),
--       channel, venue id, now (epoch s)
-- PUBLISH: set by the loader (kit/scripts.py); the venue's frames are sent again (live/hub.py).
-- Returns 1 if taken back, else 0
local found = redis.call('HGET', KEYS[3], ARGV[1])
if not found then
  redis.call('ZREM', KEYS[7], ARGV[1])
  return 0
end
local e = cjson.decode(found)
if ARGV[2] ~= '' then
  if e.i ~= ARGV[2] then
    return 0
  end
else
  local since = redis.call('ZSCORE', KEYS[7], ARGV[1])
  if not since or tonumber(since) > tonumber(ARGV[3]) then
    return 0
  end
end
if e.s == 'waiting' then
  redis.call('ZREM', KEYS[1], ARGV[1])
elseif e.s == 'offered' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('HINCRBY', KEYS[4], 'offered', -e.p)
else  -- finished meanwhile (its offer passed): nothing to give back
  redis.call('ZREM', KEYS[7], ARGV[1])
  return 0
end
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[7], ARGV[1])
if e.n and redis.call('HGET', KEYS[6], e.n) == ARGV[1] then
  redis.call('HDEL', KEYS[6], e.n)
end
redis.call(PUBLISH, ARGV[4], cjson.encode({v = tonumber(ARGV[5]), e = 'line',
  w = redis.call('ZCARD', KEYS[1]), t = tonumber(ARGV[6])}))
return 1

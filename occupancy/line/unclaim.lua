-- A claim whose visit SQL did not record: the entry is offered again (only if this visit claimed
-- it: the claim's ticket kept the entry as it was offered), before the visit's places are
-- released, so that no walk-in takes them in between.
-- KEYS: line, offers, entries, meta, offer times, phones, pending joins, the claim's ticket
-- ARGV: entry hash, visit id
local t = redis.call('HMGET', KEYS[8], 'visit', 'line')
if t[1] ~= ARGV[2] or not t[2] or redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then
  return 0
end
local e = cjson.decode(t[2])
redis.call('ZADD', KEYS[2], e.u, ARGV[1])
redis.call('HINCRBY', KEYS[4], 'offered', e.p)
redis.call('HSET', KEYS[3], ARGV[1], t[2])
redis.call('HDEL', KEYS[8], 'line')
if e.n then  -- its phone holds this place again
  redis.call('HSET', KEYS[6], e.n, ARGV[1])
end
return 1

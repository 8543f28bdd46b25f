-- A claim whose visit SQL did not record: the entry is offered again (only if this visit claimed
-- it), before the visit's places are released, so that no walk-in takes them in between.
-- KEYS: line, offers, entries, meta, offer times, phones, pending joins
-- ARGV: entry hash, visit id
local found = redis.call('HGET', KEYS[3], ARGV[1])
if not found then
  return 0
end
local e = cjson.decode(found)
if e.s ~= 'claimed' or e.v ~= ARGV[2] then
  return 0
end
e.s, e.v = 'offered', nil
redis.call('ZADD', KEYS[2], e.u, ARGV[1])
redis.call('HINCRBY', KEYS[4], 'offered', e.p)
redis.call('HSET', KEYS[3], ARGV[1], cjson.encode(e))
if e.n then  -- its phone holds this place again
  redis.call('HSET', KEYS[6], e.n, ARGV[1])
end
return 1

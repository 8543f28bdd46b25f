-- Take back a join whose SQL row could not be written (only this attempt's, still waiting).
-- KEYS: line, offers, entries, meta, offer times, phones
-- ARGV: entry hash, entry id
local found = redis.call('HGET', KEYS[3], ARGV[1])
if not found then
  return 0
end
local e = cjson.decode(found)
if e.i ~= ARGV[2] or e.s ~= 'waiting' then
  return 0
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
if e.n and redis.call('HGET', KEYS[6], e.n) == ARGV[1] then
  redis.call('HDEL', KEYS[6], e.n)
end
return 1

-- PUBLISH: set by the loader (kit/scripts.py), SPUBLISH to the shard channel on a cluster.
-- Make a loaded venue at rest agree with SQL: its open tickets are SQL's open visits and its count
-- their sum. Only if nothing changed since the caller read the venue's sequence number and no
-- write is in flight (nothing pending): then SQL, read in between, saw every write Redis has.
-- KEYS: count, config, open tickets, pending, then the ticket keys of SQL's open visits, then the
--       ticket keys open in Redis that SQL does not have open
-- ARGV: sequence number read before SQL, ticket ttl (s), channel, venue_id, now (epoch seconds),
--       number of SQL's open visits, then per SQL open visit: ticket hash, visit id, party,
--       checked in at
-- Returns {'busy'} | {'not_loaded'} | {'ok', count before, count after}
local cfg = redis.call('HMGET', KEYS[2], 'capacity', 'seq')
if not cfg[1] then
  return {'not_loaded'}
end
if (cfg[2] or '0') ~= ARGV[1] or redis.call('ZCARD', KEYS[4]) > 0 then
  return {'busy'}
end
local n = tonumber(ARGV[6])
local before = tonumber(redis.call('GET', KEYS[1]) or '0')
redis.call('DEL', KEYS[3])
local count = 0
for i = 1, n do
  local a = 7 + (i - 1) * 4
  local key = KEYS[4 + i]
  local t = redis.call('HMGET', key, 'visit', 'state')
  if t[1] ~= ARGV[a + 1] or t[2] ~= 'open' then
    redis.call('HSET', key, 'visit', ARGV[a + 1], 'party', ARGV[a + 2], 'at', ARGV[a + 3],
      'state', 'open')
    redis.call('HDEL', key, 'reason', 'out')
    redis.call('EXPIRE', key, tonumber(ARGV[2]))
  end
  redis.call('SADD', KEYS[3], ARGV[a])
  count = count + tonumber(ARGV[a + 2])
end
for i = 5 + n, #KEYS do
  -- open here, not in SQL: a check-out whose release was lost; a retry of it answers from SQL
  redis.call('DEL', KEYS[i])
end
redis.call('SET', KEYS[1], count)
redis.call('HINCRBY', KEYS[2], 'seq', 1)
if count ~= before then
  -- a correction of the count, as an undo is: not an entry of today's statistics
  redis.call(PUBLISH, ARGV[3], cjson.encode({v = tonumber(ARGV[4]), e = 'undo', n = 0,
    c = count, cap = tonumber(cfg[1]), t = tonumber(ARGV[5])}))
end
return {'ok', before, count}

-- PUBLISH: set by the loader (kit/scripts.py), SPUBLISH to the shard channel on a cluster.
-- Load one venue into Redis from an SQL snapshot of its open visits, unless it is loaded already.
-- While a venue is not loaded (no capacity in its config) every script refuses to change it, so
-- no reservation can be made after the snapshot and before this load: nothing here overwrites one.
-- Running twice (two processes rebuilding at once) loads once.
-- KEYS: count, config, open tickets, then one ticket key per open visit
-- ARGV: capacity, paused ('1' or '0'), ticket ttl (s), channel, venue_id, now (epoch seconds),
--       then per open visit: ticket hash, visit id, party, checked in at (epoch seconds)
-- Returns {'loaded', count} if it was loaded before, else {'ok', count}
if redis.call('HEXISTS', KEYS[2], 'capacity') == 1 then
  return {'loaded', tonumber(redis.call('GET', KEYS[1]) or '0')}
end
redis.call('DEL', KEYS[3])
local count = 0
for i = 4, #KEYS do
  local a = 7 + (i - 4) * 4
  redis.call('HSET', KEYS[i], 'visit', ARGV[a + 1], 'party', ARGV[a + 2], 'at', ARGV[a + 3],
    'state', 'open')
  redis.call('HDEL', KEYS[i], 'reason', 'out')
  redis.call('EXPIRE', KEYS[i], tonumber(ARGV[3]))
  redis.call('SADD', KEYS[3], ARGV[a])
  count = count + tonumber(ARGV[a + 2])
end
redis.call('SET', KEYS[1], count)
redis.call('HSET', KEYS[2], 'capacity', ARGV[1], 'paused', ARGV[2])
redis.call('HINCRBY', KEYS[2], 'seq', 1)
-- dashboards and the city view showed 0 meanwhile: a correction of the count, as an undo is
redis.call(PUBLISH, ARGV[4], cjson.encode({v = tonumber(ARGV[5]), e = 'undo', n = 0, c = count,
  cap = tonumber(ARGV[1]), t = tonumber(ARGV[6])}))
return {'ok', count}

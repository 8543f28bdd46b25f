-- PUBLISH: set by the loader (kit/scripts.py), SPUBLISH to the shard channel on a cluster.
-- A new visit's SQL row is committed: its reservation is no longer pending. If Redis lost the
-- ticket meanwhile (a rebuild read SQL before this row was there, or the lease ran out while SQL
-- was slow), the visit is put back: the visitor was told they are in.
-- KEYS: count, config, ticket, open tickets, pending
-- ARGV: ticket hash, visit id, party, checked in at (epoch seconds), ticket ttl (s), channel,
--       venue_id, now (epoch seconds)
local removed = redis.call('ZREM', KEYS[5], 'in:' .. ARGV[1])
if redis.call('EXISTS', KEYS[3]) == 1 then
  return {'ok', removed}
end
local capacity = redis.call('HGET', KEYS[2], 'capacity')
if not capacity then
  return {'not_loaded', removed}  -- the rebuild to come reads the row from SQL
end
redis.call('HSET', KEYS[3], 'visit', ARGV[2], 'party', ARGV[3], 'at', ARGV[4], 'state', 'open')
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[5]))
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('HINCRBY', KEYS[2], 'seq', 1)
local count = redis.call('INCRBY', KEYS[1], tonumber(ARGV[3]))
-- a correction of the count, as an undo is: not an entry of today's statistics
redis.call(PUBLISH, ARGV[6], cjson.encode({v = tonumber(ARGV[7]), e = 'undo', n = 0, c = count,
  cap = tonumber(capacity), t = tonumber(ARGV[8])}))
return {'restored', removed}

-- PUBLISH: set by the loader (kit/scripts.py), SPUBLISH to the shard channel on a cluster.
-- Finish a check-out that SQL has recorded: release the party's places, mark the ticket closed,
-- count today's statistics, publish. Safe to call twice (the second finds the ticket closed).
-- KEYS: count, config, ticket, open tickets, pending, day stats, minute stats, minute counts,
--       recent events
-- ARGV: reason, now (epoch seconds), closed-ticket ttl (s), channel, venue_id, minute (epoch of
--       its start), stats ttl (s), ticket hash
-- The reason and time recorded when the check-out began win over ARGV's (a retry keeps them).
-- Returns {status, count, capacity, visit_id, party, checked_in_at, reason, checked_out_at}
local t = redis.call('HMGET', KEYS[3], 'visit', 'party', 'at', 'state', 'reason', 'out')
local capacity = tonumber(redis.call('HGET', KEYS[2], 'capacity') or '0')
redis.call('ZREM', KEYS[5], 'out:' .. ARGV[8])
if not t[1] then
  return {'unknown', tonumber(redis.call('GET', KEYS[1]) or '0'), capacity}
end
if t[4] == 'closed' then
  return {'replay', tonumber(redis.call('GET', KEYS[1]) or '0'), capacity, t[1], tonumber(t[2]),
    t[3], t[5], t[6]}
end
local reason, out = ARGV[1], ARGV[2]
if t[4] == 'closing' then
  reason, out = t[5], t[6]
end
local party = tonumber(t[2])
local count = redis.call('DECRBY', KEYS[1], party)
if count < 0 then
  redis.call('SET', KEYS[1], 0)
  count = 0
end
redis.call('HSET', KEYS[3], 'state', 'closed', 'reason', reason, 'out', out)
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[3]))
redis.call('SREM', KEYS[4], ARGV[8])
redis.call('HINCRBY', KEYS[2], 'seq', 1)
-- The visit id lets the visitor's own page see its ticket end (a number, nothing personal).
local event = cjson.encode({v = tonumber(ARGV[5]), e = 'out', n = party, c = count,
  cap = capacity, r = reason, t = tonumber(out), id = t[1]})
redis.call(PUBLISH, ARGV[4], event)
local m = ARGV[6]
local stay = math.max(0, math.floor(tonumber(out) - tonumber(t[3]) + 0.5))
redis.call('HINCRBY', KEYS[6], 'exits', 1)
redis.call('HINCRBY', KEYS[6], 'visitors_out', party)
redis.call('HINCRBY', KEYS[6], 'stay_s', stay)
redis.call('HINCRBY', KEYS[6], 'stays', 1)
redis.call('HINCRBY', KEYS[7], m .. ':x', 1)
redis.call('HINCRBY', KEYS[7], m .. ':vo', party)
redis.call('HINCRBY', KEYS[7], m .. ':s', stay)
if reason == 'fever' then
  redis.call('HINCRBY', KEYS[6], 'refused_fever', 1)
  redis.call('HINCRBY', KEYS[7], m .. ':rv', 1)
end
redis.call('HSET', KEYS[8], m, count)
redis.call('LPUSH', KEYS[9], event)
redis.call('LTRIM', KEYS[9], 0, 19)
for i = 6, 9 do
  redis.call('EXPIRE', KEYS[i], tonumber(ARGV[7]))
end
return {'ok', count, capacity, t[1], party, t[3], reason, out}

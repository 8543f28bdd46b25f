-- End an open visit, atomically: release its places, mark the ticket closed, count today's
-- statistics, publish.
-- KEYS: count, config, ticket[, day stats, minute stats, minute counts, recent events]
-- ARGV: reason, now (epoch seconds), closed-ticket ttl (s), channel, venue_id[, minute (epoch of
--       its start), stats ttl (s)]
-- Returns {status, count, capacity, visit_id, party, checked_in_at, reason, checked_out_at}
local t = redis.call('HMGET', KEYS[3], 'visit', 'party', 'at', 'state', 'reason', 'out')
local capacity = tonumber(redis.call('HGET', KEYS[2], 'capacity') or '0')
if not t[1] then
  return {'unknown', tonumber(redis.call('GET', KEYS[1]) or '0'), capacity}
end
if t[4] ~= 'open' then
  -- Already checked out: idempotent, release nothing.
  return {'replay', tonumber(redis.call('GET', KEYS[1]) or '0'), capacity, t[1], tonumber(t[2]),
    t[3], t[5], t[6]}
end
local party = tonumber(t[2])
local count = redis.call('DECRBY', KEYS[1], party)
if count < 0 then
  redis.call('SET', KEYS[1], 0)
  count = 0
end
redis.call('HSET', KEYS[3], 'state', 'closed', 'reason', ARGV[1], 'out', ARGV[2])
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[3]))
local event = cjson.encode({v = tonumber(ARGV[5]), e = 'out', n = party, c = count,
  cap = capacity, r = ARGV[1], t = tonumber(ARGV[2])})
redis.call('PUBLISH', ARGV[4], event)
if KEYS[4] ~= nil then
  local m = ARGV[6]
  local stay = math.max(0, math.floor(tonumber(ARGV[2]) - tonumber(t[3]) + 0.5))
  redis.call('HINCRBY', KEYS[4], 'exits', 1)
  redis.call('HINCRBY', KEYS[4], 'visitors_out', party)
  redis.call('HINCRBY', KEYS[4], 'stay_s', stay)
  redis.call('HINCRBY', KEYS[4], 'stays', 1)
  redis.call('HINCRBY', KEYS[5], m .. ':x', 1)
  redis.call('HINCRBY', KEYS[5], m .. ':vo', party)
  redis.call('HINCRBY', KEYS[5], m .. ':s', stay)
  if ARGV[1] == 'fever' then
    redis.call('HINCRBY', KEYS[4], 'refused_fever', 1)
    redis.call('HINCRBY', KEYS[5], m .. ':rv', 1)
  end
  redis.call('HSET', KEYS[6], m, count)
  redis.call('LPUSH', KEYS[7], event)
  redis.call('LTRIM', KEYS[7], 0, 19)
  for i = 4, 7 do
    redis.call('EXPIRE', KEYS[i], tonumber(ARGV[7]))
  end
end
return {'ok', count, capacity, t[1], party, t[3], ARGV[1], ARGV[2]}

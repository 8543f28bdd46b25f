-- Undo the Redis half of an operation whose SQL write failed, so nothing unacknowledged counts.
-- mode 'checkin': drop the ticket and release its places (only if it is still this visit, open).
-- mode 'checkout': reopen the ticket and take its places back.
-- KEYS: count, config, ticket
-- ARGV: mode, visit_id, channel, venue_id, now
local t = redis.call('HMGET', KEYS[3], 'visit', 'party', 'state')
if t[1] ~= ARGV[2] then
  return {'gone', 0}
end
local party = tonumber(t[2])
local count
if ARGV[1] == 'checkin' and t[3] == 'open' then
  redis.call('DEL', KEYS[3])
  count = redis.call('DECRBY', KEYS[1], party)
elseif ARGV[1] == 'checkout' and t[3] == 'closed' then
  redis.call('HSET', KEYS[3], 'state', 'open')
  redis.call('HDEL', KEYS[3], 'reason', 'out')
  count = redis.call('INCRBY', KEYS[1], party)
else
  return {'noop', 0}
end
local capacity = tonumber(redis.call('HGET', KEYS[2], 'capacity') or '0')
redis.call('PUBLISH', ARGV[3], cjson.encode({v = tonumber(ARGV[4]), e = 'undo', n = party,
  c = count, cap = capacity, t = tonumber(ARGV[5])}))
return {'ok', count}

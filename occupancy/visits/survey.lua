-- A venue as the periodic repair sees it (visits/repair.py), in one call instead of five commands.
-- KEYS: config, pending, count, open tickets
-- ARGV: expired_before (epoch seconds: writes pending since before then are past their lease)
-- Returns {capacity or nil, seq or nil, pending writes, count or nil, open tickets,
--          {member, score, member, score, ...} of the pending writes past their lease}
local cfg = redis.call('HMGET', KEYS[1], 'capacity', 'seq')
return {cfg[1], cfg[2], redis.call('ZCARD', KEYS[2]), redis.call('GET', KEYS[3]),
        redis.call('SCARD', KEYS[4]),
        redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'WITHSCORES')}

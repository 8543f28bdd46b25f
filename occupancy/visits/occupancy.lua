-- Read a venue's live state in one round trip.
-- KEYS: count, config
-- Returns {count, capacity or false, paused}
local cfg = redis.call('HMGET', KEYS[2], 'capacity', 'paused')
return {tonumber(redis.call('GET', KEYS[1]) or '0'), cfg[1], cfg[2]}

-- Read a venue's live state in one round trip, with its waiting line (places offered to the
-- line are taken for everyone else; while parties wait, no walk-in is let in).
-- KEYS: count, config, the waiting line, its meta (occupancy.line)
-- Returns {count, capacity or false, paused, parties waiting, places offered}
local cfg = redis.call('HMGET', KEYS[2], 'capacity', 'paused')
return {tonumber(redis.call('GET', KEYS[1]) or '0'), cfg[1], cfg[2], redis.call('ZCARD', KEYS[3]),
  tonumber(redis.call('HGET', KEYS[4], 'offered') or '0')}

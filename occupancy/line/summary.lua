-- The line as a manager sees it: parties waiting, offers out and their places, paused, and the
-- head's entry (its joining time is the longest wait).
-- KEYS: line, offers, entries, meta, offer times, phones, pending joins
-- Returns {status, waiting, offers out, places offered, paused ('1' or '0'), head entry (JSON),
--          the venue's offer seconds ('' for the service's default)}
if redis.call('HGET', KEYS[4], 'loaded') ~= '1' then
  return {'not_loaded', 0, 0, 0, '0', '', ''}
end
local head = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
local meta = redis.call('HMGET', KEYS[4], 'offered', 'paused', 'offer_seconds')
return {'ok', redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[2]),
  tonumber(meta[1] or '0'), meta[2] or '0', head and redis.call('HGET', KEYS[3], head) or '',
  meta[3] or ''}

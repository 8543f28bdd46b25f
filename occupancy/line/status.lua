-- One entry as it is now, with what its page shows: its position while waiting, and the times
-- of the last offers (the estimated wait).
-- KEYS: line, offers, entries, meta, offer times, phones, pending joins
-- ARGV: entry hash
-- Returns {status, entry (JSON), position (0 once no longer waiting), {offer times}}
if redis.call('HGET', KEYS[4], 'loaded') ~= '1' then
  return {'not_loaded', '', 0, {}}
end
local found = redis.call('HGET', KEYS[3], ARGV[1])
if not found then
  return {'unknown', '', 0, {}}
end
local rank = redis.call('ZRANK', KEYS[1], ARGV[1])
return {'ok', found, rank and rank + 1 or 0, redis.call('LRANGE', KEYS[5], 0, 9)}

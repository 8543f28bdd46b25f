-- Pause or resume the line's offers (SQL holds the setting; this is its live copy).
-- KEYS: line, offers, entries, meta, offer times, phones, pending joins
-- ARGV: '1' paused, '0' resumed
-- Returns 0 if the line is not loaded (the load reads the setting from SQL).
if redis.call('HGET', KEYS[4], 'loaded') ~= '1' then
  return 0
end
redis.call('HSET', KEYS[4], 'paused', ARGV[1])
return 1

-- Set a venue's own offer time (SQL holds the setting; this is its live copy): the offers made
-- from now on last this long; those already out keep their deadline.
-- KEYS: line, offers, entries, meta, offer times, phones, pending joins
-- ARGV: offer seconds ('' for the service's default)
-- Returns 0 if the line is not loaded (the load reads the setting from SQL).
if redis.call('HGET', KEYS[4], 'loaded') ~= '1' then
  return 0
end
if ARGV[1] == '' then
  redis.call('HDEL', KEYS[4], 'offer_seconds')
else
  redis.call('HSET', KEYS[4], 'offer_seconds', ARGV[1])
end
return 1

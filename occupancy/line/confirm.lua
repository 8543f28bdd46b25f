-- A join's SQL row is committed: it is no longer pending (nor an orphan for the lease check).
-- KEYS: line, offers, entries, meta, offer times, phones, pending joins
-- ARGV: entry hash
return redis.call('ZREM', KEYS[7], ARGV[1])

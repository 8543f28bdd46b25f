-- A booking's SQL row is committed: it is no longer pending.
-- KEYS: pending bookings
-- ARGV: booking hash
return redis.call('ZREM', KEYS[1], ARGV[1])

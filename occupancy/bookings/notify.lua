-- PUBLISH: set by the loader (kit/scripts.py), SPUBLISH to the shard channel on a cluster.
-- Tell the venue's dashboards that its bookings changed (booked, cancelled, claimed, expired):
-- they read the day's figures again. KEYS[1]: a key of the venue (its hash tag routes the call
-- to the venue's node on a cluster). ARGV: the venue's channel, the event (JSON, nothing personal).
redis.call(PUBLISH, ARGV[1], ARGV[2])
return 1
